// The `transport` file: the ordered transport policy, `destination next-hop`
// per line, first match wins.
//
// Loaded by rewrite::Router (with the `variables` file), consulted by
// Router::resolve for each rewritten recipient. Destination forms, compared
// case-insensitively: `user@example.org` (that address; the local part is
// compared unquoted), `example.org` (exactly that domain, never a pattern),
// `*.example.org` (subdomains only, not example.org itself), `*` (everything),
// `/regex/` (PCRE2, whole address "local@domain", anchored at both ends). The
// next hop is the rest of the line. `$name` expands in both, before parsing.
// Invariants: rules keep file order; immutable after parsing; find() is
// thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "common/config_file.hpp"
#include "rewrite/next_hop.hpp"
#include "rewrite/regex.hpp"
#include "rewrite/variables.hpp"

namespace mp::rewrite {

struct TransportRule {
  enum class Key { address, domain, subdomains, any, regex };
  Key key = Key::any;
  std::string key_text;  // after $expansion, as written
  std::string local;     // address: the local part, unquoted and lowercased
  std::string domain;    // address, domain, subdomains: lowercased (without "*.")
  std::optional<Regex> regex;
  NextHop hop;
  std::string where;  // "FILE:LINE"

  bool matches(const Address& recipient) const;
};

class TransportTable {
 public:
  static TransportTable parse(const std::vector<ConfigLine>& lines,
                              const std::filesystem::path& file, const Variables& variables,
                              std::vector<std::string>& errors);
  static TransportTable load(const std::filesystem::path& file, const Variables& variables,
                             std::vector<std::string>& errors);

  // The first rule matching `recipient`; nullptr when none does.
  const TransportRule* find(const Address& recipient) const;
  const std::vector<TransportRule>& rules() const { return rules_; }

 private:
  std::vector<TransportRule> rules_;
};

}  // namespace mp::rewrite
