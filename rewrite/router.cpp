// The routing decision: rewrite, transport policy, users map.
#include "rewrite/router.hpp"

#include "rewrite/header_rewrite.hpp"
#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

Reply reject(const Address& recipient, const char* status, const char* why) {
  Reply r;
  r.code = 550;
  r.status = status;
  r.text = recipient.bracketed() + ": Recipient address rejected: " + why;
  return r;
}

}  // namespace

bool safe_local_part(std::string_view local) {
  // A leading '-' would read as an option to a pipe or MDA given %l or %r.
  return !local.empty() && local.front() != '.' && local.front() != '-' &&
         local.find('/') == std::string_view::npos && !has_control(local);
}

Router::Router(const Config& config)
    : myhostname_(config.myhostname.empty() ? "localhost" : config.myhostname),
      relayhost_(config.relayhost),
      rewrite_headers_(config.rewrite_headers) {
  std::vector<std::string> errors;
  if (!config.variables.empty()) variables_ = Variables::load(config.variables, errors);
  if (!config.rewrite.empty()) rules_ = RewriteRules::load(config.rewrite, errors);
  if (!config.transport.empty())
    table_ = TransportTable::load(config.transport, variables_, errors);
  if (!config.users.empty()) users_ = Users::load(config.users, errors);
  if (!users_) {
    for (const auto& rule : table_.rules()) {
      if (rule.hop.is_local())
        errors.push_back(rule.where + ": next hop '" + rule.hop.text +
                         "' delivers locally and needs a users file (set 'users' in " +
                         config.file.string() + ")");
    }
  }
  if (!errors.empty()) throw ConfigError(std::move(errors));
}

Address Router::qualify(const Address& a) const {
  if (a.is_null() || !a.domain.empty()) return a;
  Address out = a;
  out.domain = myhostname_;
  return out;
}

Address Router::rewrite_sender(const Address& sender, std::string* rule) const {
  const RewriteRule* applied = nullptr;
  Address out = rules_.apply(qualify(sender), Direction::from, &applied);
  if (rule) *rule = applied ? applied->where : std::string();
  return out;
}

std::string Router::rewrite_headers(std::string_view headers) const {
  if (!rewrite_headers_) return std::string(headers);
  return rewrite_header_addresses(headers, rules_);
}

Route Router::resolve(const Address& /*sender*/, const Address& recipient) const {
  Route route;
  route.original = recipient;
  const RewriteRule* applied = nullptr;
  route.rewritten = rules_.apply(qualify(recipient), Direction::to, &applied);
  if (applied) route.rewrite_rule = applied->where;

  if (const TransportRule* rule = table_.find(route.rewritten)) {
    route.hop = rule->hop;
    route.rule = rule->where;
  } else if (!relayhost_.empty()) {
    route.hop = relay_hop(relayhost_);
    route.rule = "default: relayhost";
  } else {
    route.hop = mx_hop();
    route.rule = "default: mx";
  }
  if (!route.hop.is_local()) return route;

  const std::string local = route.rewritten.local_unquoted();
  if (!safe_local_part(local) || !safe_local_part(route.rewritten.domain)) {
    route.reject = reject(recipient, "5.1.3", "Bad destination mailbox address syntax");
    return route;
  }
  const UserEntry* entry = users_ ? users_->find(local) : nullptr;
  if (entry) {
    route.unix_user = entry->unix_user;
    route.user_rule = entry->where;
  } else if (route.hop.final_hop().kind == HopKind::pipe) {
    route.unix_user = "nobody";
    route.user_rule = "default: nobody";
  } else {
    route.reject = reject(recipient, "5.1.1", "User unknown");
  }
  return route;
}

}  // namespace mp::rewrite
