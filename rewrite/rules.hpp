// The `rewrite` file: `direction old new` lines that replace an address's domain.
//
// direction: `from` (senders), `to` (recipients) or `both`; old: a domain
// (exactly that one), `*.domain` (its subdomains only) or `/regex/` (PCRE2,
// anchored, case-insensitive, matched against the domain); new: the domain that
// replaces the whole old domain. Loaded by rewrite::Router; used for the envelope
// (Router::rewrite_sender / resolve) and for header addresses
// (rewrite/header_rewrite). Invariants: rules keep file order and the first rule
// matching the direction wins; only the domain changes; the null address and
// an address without a domain are never rewritten. Immutable after parsing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/config_file.hpp"
#include "rewrite/regex.hpp"

namespace mp::rewrite {

enum class Direction { from, to };  // from: a sender address; to: a recipient address

struct RewriteRule {
  enum class Match { domain, subdomains, regex };
  bool from = false, to = false;  // directions it applies to
  Match match = Match::domain;
  std::string old_text;  // as written: "example.org", "*.example.org", "/.*\.example/"
  std::string domain;    // domain, subdomains: lowercased, without "*."
  std::optional<Regex> regex;
  std::string replacement;  // the new domain, as written
  std::string where;        // "FILE:LINE"

  bool applies(Direction d) const { return d == Direction::from ? from : to; }
  bool matches(std::string_view domain) const;  // ignores the direction
};

class RewriteRules {
 public:
  static RewriteRules parse(const std::vector<ConfigLine>& lines, const std::filesystem::path& file,
                            std::vector<std::string>& errors);
  static RewriteRules load(const std::filesystem::path& file, std::vector<std::string>& errors);

  // The first rule for `direction` matching `domain`; nullptr when none.
  const RewriteRule* find(std::string_view domain, Direction direction) const;
  // The address with its domain replaced by the first matching rule (unchanged when none);
  // `applied` (if given) receives that rule or nullptr.
  Address apply(const Address& address, Direction direction,
                const RewriteRule** applied = nullptr) const;

  bool empty() const { return rules_.empty(); }
  const std::vector<RewriteRule>& rules() const { return rules_; }

 private:
  std::vector<RewriteRule> rules_;
};

}  // namespace mp::rewrite
