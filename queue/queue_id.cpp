#include "queue/queue_id.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>

namespace mp::queue {
namespace {

// 32 symbols in ASCII order, so string order equals numeric order.
constexpr char kDigits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
constexpr std::size_t kTimeChars = 11;  // 55 bits of microseconds: good until year 3111
constexpr std::size_t kTagChars = 5;    // 25 random bits per process
static_assert(kTimeChars + kTagChars == queue_id_length);

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'V') return c - 'A' + 10;
  return -1;
}

void encode(std::uint64_t value, std::size_t chars, std::string& out) {
  for (std::size_t i = chars; i-- > 0;) out.push_back(kDigits[(value >> (5 * i)) & 31]);
}

struct Generator {
  std::mutex mu;
  std::int64_t last = 0;  // last time used, microseconds
  std::uint32_t tag = 0;
  pid_t pid = 0;  // the process `tag` was drawn for
};

Generator& generator() {
  static Generator g;
  return g;
}

std::int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string new_queue_id() {
  Generator& g = generator();
  std::int64_t t;
  std::uint32_t tag;
  {
    std::lock_guard lock(g.mu);
    pid_t pid = ::getpid();
    if (pid != g.pid) {  // first use, or a child after fork(): a tag of our own
      std::random_device rd;
      g.tag = rd() & ((1u << (5 * kTagChars)) - 1);
      g.pid = pid;
    }
    // Strictly increasing inside the process, even if the clock steps back.
    t = std::max(now_micros(), g.last + 1);
    g.last = t;
    tag = g.tag;
  }
  std::string id;
  id.reserve(queue_id_length);
  encode(static_cast<std::uint64_t>(t), kTimeChars, id);
  encode(tag, kTagChars, id);
  return id;
}

bool is_valid_queue_id(std::string_view id) {
  if (id.size() != queue_id_length) return false;
  for (char c : id)
    if (digit_value(c) < 0) return false;
  return true;
}

std::int64_t queue_id_micros(std::string_view id) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kTimeChars && i < id.size(); ++i) {
    int d = digit_value(id[i]);
    v = (v << 5) | static_cast<std::uint64_t>(d < 0 ? 0 : d);
  }
  return static_cast<std::int64_t>(v);
}

}  // namespace mp::queue
