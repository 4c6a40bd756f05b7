// rewrite::Router — DESIGN seam 2: rewriting addresses and choosing each
// recipient's route (transport, next hop, unix user) or a reject reply.
//
// Built from a Config by smtpd (RCPT checks), the queue manager and
// `mailprocd check` / `mailprocd route`; rebuilt on SIGHUP. The constructor
// loads the four map files the Config names (variables, rewrite, transport,
// users) and throws ONE ConfigError holding every error of every file as
// "FILE:LINE: ..." lines. Invariants: immutable after construction, so
// resolve() and the other const members may run concurrently from any number
// of threads; resolve() is pure (no I/O, no clock) — the same input gives the
// same Route.
//
// Order in resolve(): a domainless recipient (`<Postmaster>`) gets myhostname;
// then the `to`/`both` rewrite rules; then the transport file (first match),
// else `relayhost`, else MX; then, for local routes, the local-part safety check
// (550 5.1.3) and the users map (550 5.1.1; a pipe with no entry runs as nobody).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/config.hpp"
#include "common/reply.hpp"
#include "rewrite/next_hop.hpp"
#include "rewrite/rules.hpp"
#include "rewrite/transport_table.hpp"
#include "rewrite/users.hpp"
#include "rewrite/variables.hpp"

namespace mp::rewrite {

struct Route {
  Address original;             // the recipient as given to resolve()
  Address rewritten;            // qualified and rewritten: what transports and `users` see
  std::string rewrite_rule;     // "FILE:LINE" of the rewrite rule applied; empty when none
  NextHop hop;                  // typed next hop; hop.text is the next-hop text
  std::string rule;             // "FILE:LINE" of the transport line, "default: relayhost" or
                                // "default: mx"
  std::string unix_user;        // local routes: the user to run as; empty otherwise
  std::string user_rule;        // "FILE:LINE" of the users entry, "default: nobody" for a pipe
                                // without one; empty when not local
  std::optional<Reply> reject;  // set: refuse the recipient (smtpd: at RCPT; qmgr: bounce)

  const std::string& next_hop() const { return hop.text; }
  std::string_view transport() const { return kind_name(hop.kind); }
  bool local() const { return hop.is_local(); }
};

// True when a local part may reach a path or argv: not empty, no '/', no leading '.' or '-',
// no control character (checked on the unquoted form).
bool safe_local_part(std::string_view local_unquoted);

class Router {
 public:
  explicit Router(const Config& config);  // throws ConfigError
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The route of one recipient. `sender` is the envelope sender (unused by today's policy,
  // kept for sender-dependent rules). Never throws for a parsed Address.
  Route resolve(const Address& sender, const Address& recipient) const;

  // The sender after the `from`/`both` rewrite rules (a domainless one gets myhostname
  // first; <> is returned unchanged). `rule` (if given) receives "FILE:LINE" or "".
  Address rewrite_sender(const Address& sender, std::string* rule = nullptr) const;

  // With `rewrite_headers = yes`: the header block with From:/Reply-To: rewritten by the
  // sender rules and To:/Cc: by the recipient rules; otherwise `headers` unchanged.
  std::string rewrite_headers(std::string_view headers) const;
  bool rewrites_headers() const { return rewrite_headers_; }

  const RewriteRules& rewrite_rules() const { return rules_; }
  const TransportTable& transport_table() const { return table_; }
  const std::optional<Users>& users() const { return users_; }

 private:
  Address qualify(const Address& a) const;

  std::string myhostname_;
  std::vector<HostPort> relayhost_;
  bool rewrite_headers_ = false;
  Variables variables_;
  RewriteRules rules_;
  TransportTable table_;
  std::optional<Users> users_;  // nullopt: no `users` file configured
};

}  // namespace mp::rewrite
