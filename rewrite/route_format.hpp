// The output lines of `mailprocd route` (documented in doc/mailprocd.8.md):
//
//   ADDRESS -> rewritten=ADDR [rewrite=FILE:LINE] rule=RULE transport=KIND nexthop=HOP
//              [user=UNIX_USER user_rule=RULE] [reject=REPLY]
//   from SENDER -> rewritten=ADDR [rewrite=FILE:LINE]
//
// (each on one line). KIND is relay, mx, lmtp, mda, pipe, maildir, spam, discard or
// error; `user` only for local routes, `reject` only when the recipient is refused.
// A value that is empty or holds a blank, '"' or '\' is written in double quotes
// with '"' and '\' escaped by '\': rule="default: relayhost",
// nexthop="/usr/bin/procmail -d %u". The null address is written <>. Called by
// tools/ (`mailprocd route`) and the golden tests; pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/address.hpp"
#include "rewrite/router.hpp"

namespace mp::rewrite {

// `value` quoted as described above when needed.
std::string format_value(std::string_view value);

// One line (no newline) for a recipient as typed and its Route.
std::string format_route(std::string_view input, const Route& route);

// One line (no newline) for the sender.
std::string format_sender(const Address& sender, const Address& rewritten,
                          const std::string& rewrite_rule);

}  // namespace mp::rewrite
