// Placeholder expansion for local deliveries: %u unix user, %r recipient,
// %s sender, %l local part, %d domain, %i queue ID, %% a literal '%'.
//
// Called by the pipe, MDA and maildir transports just before a job is built;
// nothing runs when an expansion is refused.
// Invariants (SPEC "transport", "users"): a placeholder stands for a WHOLE
// program argument or a WHOLE '/'-separated path segment — the router already
// refused other templates, and expansion refuses them again (template_error).
// An expanded value is used as one argv element or one path segment, never
// re-split or interpreted. A value is refused (unsafe value: the delivery bounces
// with 5.1.3, or 5.1.7 for the sender) when it holds a control character, when
// as a path segment it is empty, holds a '/' or starts with '.', and when as a
// whole argument it starts with '-' (it would be read as an option). '%s' may
// only be a whole argument. Unknown %-sequences are kept as they are.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/reply.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

struct PlaceholderValues {
  std::string unix_user;  // %u
  std::string recipient;  // %r  local@domain, wire form of the local part
  std::string sender;     // %s  "MAILER-DAEMON" for the null sender
  std::string local;      // %l  the local part, unquoted
  std::string domain;     // %d  lowercased
  std::string queue_id;   // %i
};

// Values for one recipient (its rewritten address) of a request.
PlaceholderValues placeholder_values(const DeliveryRequest& request, const RecipientRef& rcpt,
                                     std::string unix_user);

struct ExpandError {
  bool template_error = false;  // the template itself is wrong (operator's problem)
  char placeholder = 0;         // 'u', 'r', ...: whose value was refused
  std::string detail;           // for the reply text
};

// One program argument (argv[1..]).
std::optional<std::string> expand_argument(std::string_view tmpl, const PlaceholderValues& values,
                                           ExpandError& error);
// An absolute path (maildir): placeholders may only be whole segments.
std::optional<std::string> expand_path(std::string_view tmpl, const PlaceholderValues& values,
                                       ExpandError& error);
// argv[0] is kept as is (placeholders there are a template error); the rest are arguments.
std::optional<std::vector<std::string>> expand_argv(const std::vector<std::string>& tmpl,
                                                    const PlaceholderValues& values,
                                                    ExpandError& error);

// The result of a refused expansion: a template error defers (4.3.5, the operator
// fixes the transport file); an unsafe value bounces (5.1.3; 5.1.7 for %s).
RecipientResult expansion_refused(const ExpandError& error, std::string relay);

}  // namespace mp::transports
