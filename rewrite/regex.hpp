// A compiled PCRE2 pattern as the map files use it: anchored at both ends and
// case-insensitive, UTF mode when the pattern is valid UTF-8.
//
// Used by rewrite/rules, rewrite/transport_table and rewrite/users for `/regex/`
// keys. Invariants: immutable once compiled; copies share the compiled code;
// matches() allocates its own match data per call, so one Regex may be used by
// many threads at once. A subject that is not valid UTF-8 is matched by a
// byte-mode compilation of the same pattern (never passed unchecked to UTF code).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mp::rewrite {

class Regex {
 public:
  // nullopt on a bad pattern, with `error` set to PCRE2's message and the offset,
  // e.g. "missing closing parenthesis at offset 3".
  static std::optional<Regex> compile(std::string_view pattern, std::string& error);

  // True when the whole subject matches.
  bool matches(std::string_view subject) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<const Code> utf_;    // PCRE2_UTF compilation; null if the pattern is not UTF-8
  std::shared_ptr<const Code> bytes_;  // byte-mode compilation; null if it failed
};

}  // namespace mp::rewrite
