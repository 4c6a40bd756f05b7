// libFuzzer target for the control protocol (tools/control_protocol.hpp): the request
// line mailprocd's control server parses, and the answer mpqueue's client parses.
// The first byte picks the side (even: request, odd: response); the rest is the input.
//   request:  a parsed request holds only valid, distinct queue IDs, never ALL with IDs,
//             IDs or ALL unless reload (no arguments), wake never ALL; the line had no
//             control character but tabs (and a final CR); format_request() of it is one
//             line that parses back to the same request. A refusal names a non-empty error.
//   response: a parsed answer, formatted again, is a fixed point: it parses, and
//             formatting that gives the same text; errors are non-empty.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "queue/queue_id.hpp"
#include "tools/control_protocol.hpp"

namespace {

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "control_protocol_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

using namespace mp::control;

void check_request(std::string_view line) {
  std::string error;
  auto r = parse_request(line, error);
  if (!r) {
    CHECK(!error.empty());
    return;
  }
  std::string_view body = line;
  if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
  for (unsigned char c : body) CHECK(!((c < 0x20 && c != '\t') || c == 0x7f));
  std::set<std::string> seen;
  for (const auto& id : r->ids) {
    CHECK(mp::queue::is_valid_queue_id(id));
    CHECK(seen.insert(id).second);
  }
  CHECK(!(r->all && !r->ids.empty()));
  if (r->command == Command::reload) {
    CHECK(!r->all && r->ids.empty());
  } else {
    CHECK(r->all || !r->ids.empty());
  }
  if (r->command == Command::wake) CHECK(!r->all);
  const std::string wire = format_request(*r);
  CHECK(wire.ends_with('\n') && wire.find('\n') == wire.size() - 1);
  std::string again_error;
  auto again = parse_request(std::string_view(wire).substr(0, wire.size() - 1), again_error);
  CHECK(again && again->command == r->command && again->all == r->all && again->ids == r->ids);
}

void check_response(std::string_view text) {
  std::string error;
  auto r = parse_response(text, error);
  if (!r) {
    CHECK(!error.empty());
    return;
  }
  const std::string once = format_response(*r);
  std::string e2;
  auto back = parse_response(once, e2);
  CHECK(back.has_value());
  CHECK(back->ok == r->ok && back->done.size() == r->done.size() &&
        back->missing.size() == r->missing.size() && back->messages.size() == r->messages.size());
  if (!back->ok) CHECK(!back->error.empty());
  CHECK(format_response(*back) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1)
    check_response(in);
  else
    check_request(in);
  return 0;
}
