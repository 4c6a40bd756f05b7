// libFuzzer target for smtpd::parse_command: any line, with and without the
// transaction's SMTPUTF8. Aborts when a result breaks the parser's contract:
// exactly one of command / error; errors are 500/501/553/555 with an enhanced
// status and a one-line text; a line with a control character is always 500;
// accepted paths hold no control characters and re-parse to themselves;
// parameter keywords are non-empty and uppercase.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/address.hpp"
#include "smtpd/command.hpp"

namespace {

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "command_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

bool has_ctl(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

void check(std::string_view line, bool smtputf8) {
  using namespace mp::smtpd;
  ParseOptions opts;
  opts.smtputf8 = smtputf8;
  const ParseResult r = parse_command(line, opts);
  if (!r.command) {
    const int c = r.error.code;
    CHECK(c == 500 || c == 501 || c == 553 || c == 555);
    CHECK(r.error.status.size() == 5 && r.error.status[0] == '5' && r.error.status[1] == '.');
    CHECK(!r.error.text.empty());
    CHECK(!has_ctl(r.error.text));  // one line, safe to send back
    return;
  }
  CHECK(!has_ctl(line));
  const Command& cmd = *r.command;
  CHECK(cmd.verb != Verb::unknown);
  CHECK(cmd.arg.size() <= line.size());
  CHECK(!has_ctl(cmd.path.local) && !has_ctl(cmd.path.domain));
  for (const auto& [key, value] : cmd.params) {
    CHECK(!key.empty());
    for (char k : key) CHECK(!(k >= 'a' && k <= 'z'));
    CHECK(cmd.param(key) == &value);
  }
  if (cmd.verb == Verb::mail || cmd.verb == Verb::rcpt) {
    // The stored path is what a client sent: parsing its bracketed form gives it back.
    mp::PathOptions p;
    p.allow_null = cmd.verb == Verb::mail;
    p.allow_postmaster = cmd.verb == Verb::rcpt;
    p.allow_utf8 = true;
    std::string error;
    const std::string wire = cmd.path.bracketed();
    const auto again = mp::parse_path(wire, p, error);
    CHECK(again.has_value());
    CHECK(*again == cmd.path);
    if (cmd.verb == Verb::rcpt) CHECK(!cmd.path.is_null());
    if (cmd.path.needs_smtputf8()) {
      CHECK(cmd.verb == Verb::mail ? cmd.param("SMTPUTF8") != nullptr : smtputf8);
    }
  } else {
    CHECK(cmd.path.is_null() && cmd.params.empty());
  }
  if (cmd.verb != Verb::bdat) CHECK(cmd.chunk_size == 0 && !cmd.last);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  check(line, false);
  check(line, true);
  return 0;
}
