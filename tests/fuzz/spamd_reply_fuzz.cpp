// libFuzzer target for the spamd reply parser (transports/spam_protocol.hpp), the one
// piece of the spam stage that reads what a spamd/Rspamd server sends. Aborts when a
// result breaks the parser's contract:
//   complete:  the body is at most the input; a SPAMD/1.x status line (major 1); the
//              result is the same when the server closes right after (at_eof); header
//              names are never empty; spamd_verdict() of it either is ok with a finite
//              score, or names an error;
//   need_more: only while the server has not closed, and only for inputs within
//              kMaxSpamdReply (a longer reply is malformed, never buffered further);
//   malformed: a non-empty error; before EOF, more bytes never make it complete.
// The first byte says whether the server has closed (odd) and the rest is the reply.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transports/spam_protocol.hpp"

namespace {

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "spamd_reply_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

using namespace mp::transports;
using Status = SpamdParse::Status;

void check(std::string_view in, bool at_eof) {
  SpamdParse p = parse_spamd_reply(in, at_eof);
  switch (p.status) {
    case Status::complete: {
      CHECK(p.reply.body.size() <= in.size());
      CHECK(p.reply.major == 1);
      for (const auto& [name, value] : p.reply.headers) CHECK(!name.empty());
      if (!at_eof) {
        SpamdParse closed = parse_spamd_reply(in, true);
        CHECK(closed.status == Status::complete && closed.reply.body == p.reply.body &&
              closed.reply.code == p.reply.code);
      }
      SpamCheck v = spamd_verdict(p.reply);
      if (v.ok) {
        CHECK(std::isfinite(v.verdict.score) && std::isfinite(v.verdict.threshold));
      } else {
        CHECK(!v.error.empty());
      }
      (void)p.reply.symbols();
      break;
    }
    case Status::need_more:
      CHECK(!at_eof);
      CHECK(in.size() <= kMaxSpamdReply);
      break;
    case Status::malformed: {
      CHECK(!p.error.empty());
      if (at_eof) break;  // a truncated body may have been complete with more bytes
      std::string more(in);
      more += "\r\n\r\nSpam: True ; 1.0 / 5.0\r\n\r\n";
      SpamdParse longer = parse_spamd_reply(more, at_eof);
      CHECK(longer.status == Status::malformed);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  check(in, data[0] & 1);
  return 0;
}
