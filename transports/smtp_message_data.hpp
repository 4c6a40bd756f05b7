// The message as an SMTP/LMTP client sends it: the DATA payload (dot-stuffed, every
// line CRLF-ended, smuggling-safe) and whether it needs SMTPUTF8 at the next hop.
//
// Called by SmtpClientProtocol (transports/smtp_client_protocol.hpp) and its tests and
// fuzzer. Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"

namespace mp::transports {

// The DATA payload: every line CRLF-terminated (a bare LF ends a line too), a final CRLF
// added when the content lacks one, a '.' doubled at the start of a line, then ".\r\n".
// A bare CR (one not before LF) becomes a space, as Postfix 3.9's cleanup does with
// stray CRs: so "A\r.\r\nMAIL FROM:..." can never end the data early at a next hop that
// ends lines at a bare CR (SMTP smuggling). Long lines are kept as they are.
std::string dot_stuff(std::string_view message);

// True when delivery needs the next hop to offer SMTPUTF8: a non-ASCII envelope address, or
// a client that asked for SMTPUTF8 and a non-ASCII octet in the header section.
bool needs_smtputf8(const Address& sender, const std::vector<Address>& recipients,
                    std::string_view message, bool requested);

}  // namespace mp::transports
