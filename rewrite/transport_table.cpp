// Ordered transport policy: destination keys and their next hops.
#include "rewrite/transport_table.hpp"

#include "common/config_file.hpp"

#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

bool ends_with_subdomain_of(std::string_view d, std::string_view parent) {
  return d.size() > parent.size() + 1 && d[d.size() - parent.size() - 1] == '.' &&
         iequals(d.substr(d.size() - parent.size()), parent);
}

// Fills the key fields of `rule` from `key`; returns an error text or "".
std::string parse_key(const std::string& key, TransportRule& rule) {
  rule.key_text = key;
  if (key == "*") {
    rule.key = TransportRule::Key::any;
    return "";
  }
  if (key.front() == '/') {
    if (!is_regex_field(key)) return "bad destination '" + key + "' (empty regex)";
    std::string why;
    auto re = Regex::compile(regex_body(key), why);
    if (!re) return "bad regex '" + key + "': " + why;
    rule.key = TransportRule::Key::regex;
    rule.regex = std::move(re);
    return "";
  }
  std::size_t at = key.rfind('@');
  if (at != std::string::npos) {
    std::string why;
    PathOptions opts;
    opts.allow_utf8 = true;
    auto addr = parse_address(key, opts, why);
    if (!addr) return "bad destination address '" + key + "': " + why;
    rule.key = TransportRule::Key::address;
    rule.local = ascii_lower(addr->local_unquoted());
    rule.domain = addr->domain_lower();
    return "";
  }
  if (key.size() > 2 && key.compare(0, 2, "*.") == 0 && key[2] != '[' &&
      valid_domain(std::string_view(key).substr(2))) {
    rule.key = TransportRule::Key::subdomains;
    rule.domain = ascii_lower(std::string_view(key).substr(2));
    return "";
  }
  if (valid_domain(key)) {
    rule.key = TransportRule::Key::domain;
    rule.domain = ascii_lower(key);
    return "";
  }
  return "bad destination '" + key + "' (expected user@domain, domain, *.domain, * or /regex/)";
}

}  // namespace

bool TransportRule::matches(const Address& r) const {
  switch (key) {
    case Key::any:
      return true;
    case Key::domain:
      return iequals(r.domain, domain);
    case Key::subdomains:
      return ends_with_subdomain_of(r.domain, domain);
    case Key::address:
      return iequals(r.domain, domain) && iequals(r.local_unquoted(), local);
    case Key::regex:
      return regex && regex->matches(r.str());
  }
  return false;
}

TransportTable TransportTable::parse(const std::vector<ConfigLine>& lines,
                                     const std::filesystem::path& file, const Variables& variables,
                                     std::vector<std::string>& errors) {
  TransportTable out;
  for (const auto& line : lines) {
    auto error = [&](const std::string& what) {
      errors.push_back(where(file, line.number) + ": " + what);
    };
    std::string_view rest = line.text;
    std::string why;
    auto raw_key = next_field(rest, true, why);
    if (!raw_key) {
      error(why.empty() ? "missing destination" : why);
      continue;
    }
    std::string_view raw_hop = trim(rest);
    if (raw_hop.empty()) {
      error("missing next hop after " + quote_excerpt(*raw_key));
      continue;
    }
    auto key = variables.expand(*raw_key, why);
    if (!key) {
      error(why);
      continue;
    }
    auto hop_text = variables.expand(raw_hop, why);
    if (!hop_text) {
      error(why);
      continue;
    }
    TransportRule rule;
    rule.where = where(file, line.number);
    if (key->empty()) {
      error("destination '" + *raw_key + "' is empty after variable expansion");
      continue;
    }
    if (std::string e = parse_key(*key, rule); !e.empty()) {
      error(e);
      continue;
    }
    auto hop = parse_next_hop(*hop_text, why);
    if (!hop) {
      error("bad next hop '" + *hop_text + "': " + why);
      continue;
    }
    rule.hop = std::move(*hop);
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

TransportTable TransportTable::load(const std::filesystem::path& file, const Variables& variables,
                                    std::vector<std::string>& errors) {
  auto lines = read_map_lines(file, errors);
  if (!lines) return {};
  return parse(*lines, file, variables, errors);
}

const TransportRule* TransportTable::find(const Address& recipient) const {
  for (const auto& rule : rules_) {
    if (rule.matches(recipient)) return &rule;
  }
  return nullptr;
}

}  // namespace mp::rewrite
