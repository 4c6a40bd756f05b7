// Rewriting the domains of addresses inside message header fields, for
// `rewrite_headers = yes`.
//
// Called through Router::rewrite_headers by the queue manager before handing a
// message to a transport. From: and Reply-To: use the rules for senders
// (`from`/`both`), To: and Cc: those for recipients (`to`/`both`); no other
// field is touched. Invariants: only the domain octets of an address change —
// display names, comments, quoting, folding and line endings are kept byte for
// byte; text in quoted strings and comments is never taken for an address;
// input after the end of the header block (the first empty line) is copied
// unchanged; malformed input is copied, never rejected.
#pragma once

#include <string>
#include <string_view>

#include "rewrite/rules.hpp"

namespace mp::rewrite {

// `headers`: the header block ("Name: value" lines, CRLF or LF, folded lines allowed),
// optionally followed by the empty line and the body. Returns the rewritten text.
std::string rewrite_header_addresses(std::string_view headers, const RewriteRules& rules);

// The address list of one field's value (after "Name:"), rewritten for `direction`.
std::string rewrite_address_list(std::string_view value, const RewriteRules& rules,
                                 Direction direction);

}  // namespace mp::rewrite
