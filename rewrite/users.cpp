// Recipient local part → unix user map.
#include "rewrite/users.hpp"

#include "common/config_file.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

bool looks_like_regex(std::string_view left) {
  return is_regex_field(left) || left.find_first_of("*+?[(|^$") != std::string_view::npos;
}

// The uid of `name`, nullopt when there is no such user; `error` set when the lookup failed.
std::optional<uid_t> lookup_uid(const std::string& name, std::string& error) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  for (;;) {
    struct passwd pw;
    struct passwd* result = nullptr;
    int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH) error = std::strerror(rc);
    if (!result) return std::nullopt;
    return pw.pw_uid;
  }
}

}  // namespace

bool UserEntry::matches(std::string_view local) const {
  if (regex) return regex->matches(local);
  return iequals(local, left);
}

Users Users::parse(const std::vector<ConfigLine>& lines, const std::filesystem::path& file,
                   std::vector<std::string>& errors) {
  Users out;
  std::map<std::string, int> literal_at;  // lowercased literal → line
  bool root_line = false;                 // a `root` line, even a rejected one
  for (const auto& line : lines) {
    auto error = [&](const std::string& what) {
      errors.push_back(where(file, line.number) + ": " + what);
    };
    std::string_view rest = line.text;
    std::string why;
    auto left = next_field(rest, true, why);
    if (!why.empty()) {
      error(why);
      continue;
    }
    auto user = next_field(rest, false, why);
    if (!left || !user) {
      error("expected 'VIRTUAL-USER UNIX-USER'");
      continue;
    }
    if (!trim(rest).empty()) {
      error("unexpected text after the unix user: " + quote_excerpt(trim(rest)));
      continue;
    }
    if (iequals(*left, "root")) root_line = true;
    UserEntry entry;
    entry.left = *left;
    entry.unix_user = *user;
    entry.where = where(file, line.number);
    if (looks_like_regex(*left)) {
      std::string_view pattern = is_regex_field(*left) ? regex_body(*left) : *left;
      if (left->front() == '/' && !is_regex_field(*left)) {
        error("empty regex " + quote_excerpt(*left));
        continue;
      }
      auto re = Regex::compile(pattern, why);
      if (!re) {
        error("bad regex '" + *left + "': " + why);
        continue;
      }
      entry.regex = std::move(re);
    } else {
      if (left->find('@') != std::string::npos) {
        error(quote_excerpt(*left) + " is not a local part (write the user without '@domain')");
        continue;
      }
      std::string key = ascii_lower(*left);
      if (auto it = literal_at.find(key); it != literal_at.end()) {
        error("duplicate entry for '" + *left + "' (first at line " + std::to_string(it->second) +
              ")");
        continue;
      }
      literal_at.emplace(key, line.number);
    }
    std::string lookup_error;
    auto uid = lookup_uid(*user, lookup_error);
    if (!lookup_error.empty()) {
      error("cannot look up unix user '" + *user + "': " + lookup_error);
      continue;
    }
    if (!uid) {
      error("unix user '" + *user + "' does not exist");
      continue;
    }
    if (*uid == 0) {
      error("unix user '" + *user + "' is root (uid 0): nothing is ever delivered as root");
      continue;
    }
    out.entries_.push_back(std::move(entry));
  }
  // A rejected `root` line has its own error already.
  if (!root_line && !out.find_exact("root"))
    errors.push_back(file.string() +
                     ": no entry for 'root' (mail to root must go to an unprivileged user, "
                     "e.g. 'root admin')");
  return out;
}

Users Users::load(const std::filesystem::path& file, std::vector<std::string>& errors) {
  auto lines = read_map_lines(file, errors);
  if (!lines) return {};
  return parse(*lines, file, errors);
}

const UserEntry* Users::find_exact(std::string_view local) const {
  for (const auto& e : entries_) {
    if (e.matches(local)) return &e;
  }
  return nullptr;
}

const UserEntry* Users::find(std::string_view local) const {
  if (const UserEntry* e = find_exact(local)) return e;
  if (iequals(local, "postmaster") || iequals(local, "mailer-daemon")) return find_exact("root");
  return nullptr;
}

}  // namespace mp::rewrite
