// The `users` file: `virtual-user unix-user` lines mapping recipient local parts
// to the unix user a local delivery (MDA, pipe, maildir) runs as.
//
// Loaded by rewrite::Router; consulted by Router::resolve for local routes.
// A left side in `/…/`, or containing one of `* + ? [ ( | ^ $`, is a regex
// (PCRE2, anchored at both ends, case-insensitive); otherwise it is a local part
// compared case-insensitively. Lookups use the unquoted local part and take the
// first matching line in file order; `postmaster` and `mailer-daemon` with no
// line of their own fall back to the `root` entry. Invariants after a parse
// without errors: every unix user exists and none has uid 0; an entry for
// `root` exists. Immutable; find() is thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_file.hpp"
#include "rewrite/regex.hpp"

namespace mp::rewrite {

struct UserEntry {
  std::string left;            // as written
  std::optional<Regex> regex;  // set for regex entries
  std::string unix_user;
  std::string where;  // "FILE:LINE"

  bool matches(std::string_view local_unquoted) const;
};

class Users {
 public:
  // Checks every unix user against the passwd database (getpwnam_r).
  static Users parse(const std::vector<ConfigLine>& lines, const std::filesystem::path& file,
                     std::vector<std::string>& errors);
  static Users load(const std::filesystem::path& file, std::vector<std::string>& errors);

  // The entry for a recipient's unquoted local part; nullptr when there is none.
  const UserEntry* find(std::string_view local_unquoted) const;
  const std::vector<UserEntry>& entries() const { return entries_; }

 private:
  const UserEntry* find_exact(std::string_view local) const;
  std::vector<UserEntry> entries_;
};

}  // namespace mp::rewrite
