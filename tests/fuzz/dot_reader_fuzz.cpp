// libFuzzer target for smtpd::DotReader: the input is the byte stream after
// the 354 reply. For both bare-newline modes it checks, aborting on failure:
// consumed never exceeds the input; the result (content, consumed, done,
// rejected) is the same fed in one piece, byte by byte, and in pseudo-random
// chunks (derived from the input, so runs are reproducible); nothing is
// consumed or stored after done(); normalize-mode content never holds a bare
// CR or LF; and everything agrees with the reference model in dot_reader_oracle.hpp.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtpd/dot_reader.hpp"
#include "tests/fuzz/dot_reader_oracle.hpp"

namespace {

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "dot_reader_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

using mp::BareNewline;
using mp::smtpd::DotReader;

struct Outcome {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool rejected = false;
  bool operator==(const Outcome&) const = default;
};

// Feeds `in` in chunks whose sizes come from `next_size` (0 allowed: an empty feed).
template <typename NextSize>
Outcome run(BareNewline mode, std::string_view in, NextSize next_size) {
  DotReader r(mode);
  Outcome o;
  std::size_t pos = 0;
  while (pos < in.size() && !r.done()) {
    const std::size_t len = std::min(next_size(), in.size() - pos);
    const std::string_view chunk = in.substr(pos, len);
    const std::size_t n = r.feed(chunk, o.out);
    CHECK(n <= chunk.size());
    if (!r.done()) CHECK(n == chunk.size());  // only the end stops consumption
    o.consumed += n;
    pos += len;
  }
  o.done = r.done();
  o.rejected = r.rejected();
  CHECK(r.rejected() == r.saw_bare_newline());
  if (o.done) {
    const std::string before = o.out;
    CHECK(r.feed(in, o.out) == 0);
    CHECK(r.feed("\r\n.\r\n", o.out) == 0);
    CHECK(o.out == before);
  }
  return o;
}

std::uint64_t seed_of(std::string_view in) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : in) h = (h ^ c) * 1099511628211ull;
  return h | 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const mp::test::DotExpect want = mp::test::dot_oracle(in);

  Outcome by_mode[2];
  for (BareNewline mode : {BareNewline::reject, BareNewline::normalize}) {
    const Outcome once = run(mode, in, [&] { return in.size(); });
    const Outcome bytewise = run(mode, in, [] { return std::size_t{1}; });
    std::uint64_t x = seed_of(in);
    const Outcome chunked = run(mode, in, [&] {
      x ^= x << 13;  // xorshift64
      x ^= x >> 7;
      x ^= x << 17;
      return static_cast<std::size_t>(x % 9);  // 0..8, including empty feeds
    });
    CHECK(once == bytewise);
    CHECK(once == chunked);

    CHECK(once.consumed <= in.size());
    CHECK(once.done == want.done);
    CHECK(once.consumed == want.consumed);
    CHECK(once.rejected == want.bare);
    if (mode == BareNewline::normalize) {
      CHECK(mp::test::only_crlf(once.out));
      if (want.done) CHECK(once.out == want.content);
    } else if (want.done) {
      // Reject mode: the stored content is the normalized content, or a prefix of it once refused.
      if (!want.bare) CHECK(once.out == want.content);
      CHECK(want.content.compare(0, once.out.size(), once.out) == 0);
    }
    by_mode[mode == BareNewline::normalize] = once;
  }
  CHECK(by_mode[0].consumed == by_mode[1].consumed);
  CHECK(by_mode[0].done == by_mode[1].done);
  return 0;
}
