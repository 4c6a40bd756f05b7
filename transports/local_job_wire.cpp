// Encoding, decoding and validation of delivery jobs and their results.
#include "transports/local_job_wire.hpp"

#include <cstdint>

namespace mp::transports {
namespace {

constexpr std::string_view kJobMagic = "MPJ1";
constexpr std::string_view kResultMagic = "MPR1";
constexpr std::size_t kMaxString = 64 * 1024;
constexpr std::size_t kMaxText = 4096;
constexpr std::uint64_t kMaxTimeoutMs = 7ull * 24 * 3600 * 1000;

void put_u8(std::string& out, std::uint8_t v) {
  out += static_cast<char>(v);
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool magic(std::string_view m) {
    if (in_.substr(pos_, m.size()) != m) return fail("bad magic");
    pos_ += m.size();
    return true;
  }
  bool u8(std::uint8_t& v) {
    if (left() < 1) return fail("truncated");
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (left() < 4) return fail("truncated");
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= std::uint32_t{static_cast<std::uint8_t>(in_[pos_++])} << (8 * i);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (left() < 8) return fail("truncated");
    v = 0;
    for (int i = 0; i < 8; ++i)
      v |= std::uint64_t{static_cast<std::uint8_t>(in_[pos_++])} << (8 * i);
    return true;
  }
  bool str(std::string& s, std::size_t max) {
    std::uint32_t n = 0;
    if (!u32(n)) return false;
    if (n > max) return fail("string too long");
    if (left() < n) return fail("truncated");
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool blob(std::string& s, std::size_t max) {
    std::uint64_t n = 0;
    if (!u64(n)) return false;
    if (n > max) return fail("data too large");
    if (left() < n) return fail("truncated");
    s.assign(in_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }
  bool end() {
    if (left() != 0) return fail("trailing bytes");
    return true;
  }
  const std::string& why() const { return why_; }

 private:
  std::size_t left() const { return in_.size() - pos_; }
  bool fail(const char* why) {
    if (why_.empty()) why_ = why;
    return false;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string why_;
};

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

bool valid_user_name(std::string_view u) {
  if (u.empty() || u.size() > 64 || u.front() == '-') return false;
  for (char c : u) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f || c == '/' || c == ':') return false;
  }
  return true;
}

bool valid_env(std::string_view e) {
  std::size_t eq = e.find('=');
  if (eq == 0 || eq == std::string_view::npos || has_nul(e)) return false;
  for (std::size_t i = 0; i < eq; ++i) {
    char c = e[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// An absolute path without "." or ".." segments, NUL or control characters.
bool clean_absolute_path(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.size() > 4096 || has_control(p)) return false;
  std::size_t pos = 1;
  while (pos <= p.size()) {
    std::size_t end = p.find('/', pos);
    if (end == std::string_view::npos) end = p.size();
    std::string_view seg = p.substr(pos, end - pos);
    if (seg == "." || seg == "..") return false;
    pos = end + 1;
  }
  return true;
}

}  // namespace

std::string validate_job(const Job& job) {
  if (!valid_user_name(job.user)) return "bad user name";
  if (job.data.size() > kMaxJobData) return "data too large";
  switch (job.kind) {
    case Job::Kind::exec: {
      if (job.argv.empty() || job.argv.size() > kMaxJobArgs) return "bad argument count";
      if (job.argv[0].empty() || job.argv[0].front() != '/')
        return "program is not an absolute path";
      for (const auto& a : job.argv)
        if (has_nul(a) || a.size() > kMaxString) return "bad argument";
      if (job.env.size() > kMaxJobEnv) return "too many environment variables";
      for (const auto& e : job.env)
        if (!valid_env(e) || e.size() > kMaxString) return "bad environment variable";
      auto ms = job.timeout.count();
      if (ms <= 0 || static_cast<std::uint64_t>(ms) > kMaxTimeoutMs) return "bad timeout";
      if (!job.maildir.empty() || !job.folder.empty()) return "maildir fields in a program job";
      return "";
    }
    case Job::Kind::maildir: {
      if (!clean_absolute_path(job.maildir)) return "maildir is not a clean absolute path";
      if (!job.folder.empty()) {
        if (job.folder.size() > 255 || job.folder.front() != '.' || job.folder == "." ||
            job.folder == ".." || job.folder.find('/') != std::string::npos ||
            has_control(job.folder))
          return "bad maildir folder";
      }
      if (!job.argv.empty() || !job.env.empty()) return "program fields in a maildir job";
      return "";
    }
  }
  return "bad job kind";
}

std::string encode_job(const Job& job) {
  std::string out;
  out.reserve(job.data.size() + 256);
  out += kJobMagic;
  put_u8(out, static_cast<std::uint8_t>(job.kind));
  put_str(out, job.user);
  put_u64(out, static_cast<std::uint64_t>(job.timeout.count() > 0 ? job.timeout.count() : 0));
  put_u32(out, static_cast<std::uint32_t>(job.argv.size()));
  for (const auto& a : job.argv) put_str(out, a);
  put_u32(out, static_cast<std::uint32_t>(job.env.size()));
  for (const auto& e : job.env) put_str(out, e);
  put_str(out, job.maildir);
  put_str(out, job.folder);
  put_u64(out, job.data.size());
  out += job.data;
  return out;
}

std::optional<Job> decode_job(std::string_view wire, std::string& why) {
  Reader r(wire);
  Job job;
  std::uint8_t kind = 0;
  std::uint64_t timeout = 0;
  std::uint32_t count = 0;
  bool ok = r.magic(kJobMagic) && r.u8(kind) && r.str(job.user, 64) && r.u64(timeout);
  if (ok && (kind < 1 || kind > 2)) {
    why = "bad job kind";
    return std::nullopt;
  }
  ok = ok && r.u32(count);
  if (ok && count > kMaxJobArgs) {
    why = "bad argument count";
    return std::nullopt;
  }
  for (std::uint32_t i = 0; ok && i < count; ++i) ok = r.str(job.argv.emplace_back(), kMaxString);
  ok = ok && r.u32(count);
  if (ok && count > kMaxJobEnv) {
    why = "too many environment variables";
    return std::nullopt;
  }
  for (std::uint32_t i = 0; ok && i < count; ++i) ok = r.str(job.env.emplace_back(), kMaxString);
  ok = ok && r.str(job.maildir, 4096) && r.str(job.folder, 255) && r.blob(job.data, kMaxJobData) &&
       r.end();
  if (!ok) {
    why = r.why();
    return std::nullopt;
  }
  if (timeout > kMaxTimeoutMs) {
    why = "bad timeout";
    return std::nullopt;
  }
  job.kind = static_cast<Job::Kind>(kind);
  job.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout));
  why = validate_job(job);
  if (!why.empty()) return std::nullopt;
  return job;
}

std::string encode_result(const JobResult& result) {
  std::string out(kResultMagic);
  put_u8(out, static_cast<std::uint8_t>(result.status));
  put_u32(out, static_cast<std::uint32_t>(result.code));
  put_u8(out, result.temporary ? 1 : 0);
  put_str(out, std::string_view(result.text).substr(0, kMaxText));
  return out;
}

std::optional<JobResult> decode_result(std::string_view wire, std::string& why) {
  Reader r(wire);
  JobResult result;
  std::uint8_t status = 0, temporary = 0;
  std::uint32_t code = 0;
  if (!(r.magic(kResultMagic) && r.u8(status) && r.u32(code) && r.u8(temporary) &&
        r.str(result.text, kMaxText) && r.end())) {
    why = r.why();
    return std::nullopt;
  }
  if (status < static_cast<std::uint8_t>(JobResult::Status::exited) ||
      status > static_cast<std::uint8_t>(JobResult::Status::spawner_failed) || temporary > 1) {
    why = "bad result status";
    return std::nullopt;
  }
  result.status = static_cast<JobResult::Status>(status);
  result.code = static_cast<std::int32_t>(code);
  result.temporary = temporary == 1;
  return result;
}

}  // namespace mp::transports
