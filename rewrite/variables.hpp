// The `variables` file: `name value` lines, and `$name` / `${name}` expansion.
//
// Loaded by rewrite::Router before the transport file, whose keys and next hops
// are expanded with expand(). Invariants: names are [A-Za-z_][A-Za-z0-9_]*,
// case-sensitive, each defined once; a value is the rest of its line (it may
// hold blanks) and may use variables defined on earlier lines, which are
// expanded when the file is read (so there are no cycles). In expanded text
// `$$` is a literal '$', and a '$' not followed by a name start or '{' stays as
// it is (so `/^a$|b$/` needs no escaping). Values are inserted verbatim, also
// into regex keys (not regex-quoted).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_file.hpp"

namespace mp::rewrite {

bool valid_variable_name(std::string_view name);

class Variables {
 public:
  // Parses the lines of `file`; each problem is appended to `errors` as "FILE:LINE: ...".
  static Variables parse(const std::vector<ConfigLine>& lines, const std::filesystem::path& file,
                         std::vector<std::string>& errors);
  // Reads and parses `file`; an unreadable file adds "FILE: cannot read: ...".
  static Variables load(const std::filesystem::path& file, std::vector<std::string>& errors);

  // Defines (or redefines) a variable; false when the name is not valid. For tests and tools.
  bool define(std::string_view name, std::string_view value);
  const std::string* find(std::string_view name) const;  // nullptr when undefined
  std::size_t size() const { return vars_.size(); }

  // Expands every `$name`, `${name}` and `$$` in `text`. On an undefined variable or bad
  // syntax returns nullopt with `error` set, e.g. "undefined variable '$relay'".
  std::optional<std::string> expand(std::string_view text, std::string& error) const;

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

}  // namespace mp::rewrite
