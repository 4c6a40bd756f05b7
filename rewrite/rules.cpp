// `direction old new` domain rewriting.
#include "rewrite/rules.hpp"

#include "common/config_file.hpp"

#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {

bool RewriteRule::matches(std::string_view d) const {
  switch (match) {
    case Match::domain:
      return iequals(d, domain);
    case Match::subdomains:
      return d.size() > domain.size() + 1 && d[d.size() - domain.size() - 1] == '.' &&
             iequals(d.substr(d.size() - domain.size()), domain);
    case Match::regex:
      return regex && regex->matches(d);
  }
  return false;
}

RewriteRules RewriteRules::parse(const std::vector<ConfigLine>& lines,
                                 const std::filesystem::path& file,
                                 std::vector<std::string>& errors) {
  RewriteRules out;
  for (const auto& line : lines) {
    auto error = [&](const std::string& what) {
      errors.push_back(where(file, line.number) + ": " + what);
    };
    std::string_view rest = line.text;
    std::string why;
    auto direction = next_field(rest, false, why);
    auto old_field = next_field(rest, true, why);
    if (!why.empty()) {
      error(why);
      continue;
    }
    auto replacement = next_field(rest, false, why);
    if (!direction || !old_field || !replacement) {
      error("expected 'DIRECTION OLD NEW' (e.g. 'from *.servers.example.org example.org')");
      continue;
    }
    if (!trim(rest).empty()) {
      error("unexpected text after the new domain: " + quote_excerpt(trim(rest)));
      continue;
    }
    RewriteRule rule;
    rule.where = where(file, line.number);
    std::string dir = ascii_lower(*direction);
    if (dir == "from" || dir == "both") rule.from = true;
    if (dir == "to" || dir == "both") rule.to = true;
    if (!rule.from && !rule.to) {
      error("bad direction '" + *direction + "' (expected from, to or both)");
      continue;
    }
    rule.old_text = *old_field;
    const std::string& old = *old_field;
    if (old.front() == '/') {
      if (!is_regex_field(old)) {
        error("empty regex " + quote_excerpt(old));
        continue;
      }
      auto re = Regex::compile(regex_body(old), why);
      if (!re) {
        error("bad regex '" + old + "': " + why);
        continue;
      }
      rule.match = RewriteRule::Match::regex;
      rule.regex = std::move(re);
    } else if (old.size() > 2 && old.compare(0, 2, "*.") == 0 && valid_domain(old.substr(2)) &&
               old[2] != '[') {
      rule.match = RewriteRule::Match::subdomains;
      rule.domain = ascii_lower(old.substr(2));
    } else if (valid_domain(old)) {
      rule.match = RewriteRule::Match::domain;
      rule.domain = ascii_lower(old);
    } else {
      error("bad domain '" + old + "' (expected a domain, *.domain or /regex/)");
      continue;
    }
    if (!valid_domain(*replacement)) {
      error("bad new domain " + quote_excerpt(*replacement));
      continue;
    }
    rule.replacement = *replacement;
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

RewriteRules RewriteRules::load(const std::filesystem::path& file,
                                std::vector<std::string>& errors) {
  auto lines = read_map_lines(file, errors);
  if (!lines) return {};
  return parse(*lines, file, errors);
}

const RewriteRule* RewriteRules::find(std::string_view domain, Direction direction) const {
  if (domain.empty()) return nullptr;
  for (const auto& rule : rules_) {
    if (rule.applies(direction) && rule.matches(domain)) return &rule;
  }
  return nullptr;
}

Address RewriteRules::apply(const Address& address, Direction direction,
                            const RewriteRule** applied) const {
  const RewriteRule* rule = address.is_null() ? nullptr : find(address.domain, direction);
  if (applied) *applied = rule;
  if (!rule) return address;
  Address out = address;
  out.domain = rule->replacement;
  return out;
}

}  // namespace mp::rewrite
