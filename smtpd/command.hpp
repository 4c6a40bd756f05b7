// Parsing one SMTP/LMTP command line (without its CRLF) into a Command.
//
// Called by the protocol state machine for every line outside DATA/BDAT.
// Pure, no I/O, fuzzed (tests/fuzz/command_fuzz.cpp). Knows RFC 5321 syntax
// and the ESMTP parameters mailproc supports (SIZE, BODY, SMTPUTF8); it does
// not know session state (that is protocol.hpp's job).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/reply.hpp"

namespace mp::smtpd {

enum class Verb {
  helo,
  ehlo,
  lhlo,
  mail,
  rcpt,
  data,
  bdat,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  starttls,
  auth,
  unknown
};

struct Command {
  Verb verb = Verb::unknown;
  std::string arg;  // text after the verb and one space (HELO domain, VRFY arg, NOOP arg)
  Address path;     // MAIL FROM / RCPT TO path (source route dropped)
  // ESMTP parameters after the path, keyword uppercased, value as given ("" when none).
  std::vector<std::pair<std::string, std::string>> params;
  std::uint64_t chunk_size = 0;  // BDAT
  bool last = false;             // BDAT ... LAST

  const std::string* param(std::string_view keyword) const;  // nullptr when absent
};

struct ParseOptions {
  bool smtputf8 = false;  // the transaction's MAIL had SMTPUTF8: RCPT paths may be UTF-8
};

// A parsed command, or the reply that refuses the line (500/501/504 with
// enhanced status: 500 5.5.2 unknown command, 501 5.5.4 bad arguments,
// 501 5.1.7 bad sender address, 501 5.1.3 bad recipient address,
// 555 5.5.4 unsupported MAIL/RCPT parameter).
struct ParseResult {
  std::optional<Command> command;
  Reply error;
  Verb verb = Verb::unknown;  // the line's verb, also when its arguments are refused
};

ParseResult parse_command(std::string_view line, const ParseOptions& opts = {});

// "MAIL", "STARTTLS"...; "UNKNOWN" for Verb::unknown (for logs).
std::string_view verb_name(Verb verb);

}  // namespace mp::smtpd
