// `mailprocd route` output lines.
#include "rewrite/route_format.hpp"

namespace mp::rewrite {
namespace {

std::string addr(const Address& a) {
  return a.is_null() ? "<>" : a.str();
}

void field(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += '=';
  out += format_value(value);
}

}  // namespace

std::string format_value(std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" \t\"\\") != std::string_view::npos;
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string format_route(std::string_view input, const Route& route) {
  std::string out(input);
  out += " ->";
  field(out, "rewritten", addr(route.rewritten));
  if (!route.rewrite_rule.empty()) field(out, "rewrite", route.rewrite_rule);
  field(out, "rule", route.rule);
  field(out, "transport", route.transport());
  field(out, "nexthop", route.next_hop());
  if (!route.unix_user.empty()) {
    field(out, "user", route.unix_user);
    field(out, "user_rule", route.user_rule);
  }
  if (route.reject) {
    std::string reply = std::to_string(route.reject->code);
    if (!route.reject->status.empty()) reply += " " + route.reject->status;
    reply += " " + route.reject->text;
    field(out, "reject", reply);
  }
  return out;
}

std::string format_sender(const Address& sender, const Address& rewritten,
                          const std::string& rewrite_rule) {
  std::string out = "from " + addr(sender) + " ->";
  field(out, "rewritten", addr(rewritten));
  if (!rewrite_rule.empty()) field(out, "rewrite", rewrite_rule);
  return out;
}

}  // namespace mp::rewrite
