#include "common/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace mp {

UnixUser lookup_user(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) throw std::runtime_error("unknown user '" + name + "'");
  return UnixUser{name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
}

bool running_as_root() {
  return geteuid() == 0;
}

bool become_owner_of(const std::filesystem::path& dir, std::string& why) {
  if (!running_as_root()) return true;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;  // nothing to read: the caller says so its own way
    why = dir.string() + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_uid == 0) return true;
  if (::setgroups(0, nullptr) != 0 || ::setgid(st.st_gid) != 0 || ::setuid(st.st_uid) != 0) {
    why = "cannot become the owner of " + dir.string() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void drop_privileges(const UnixUser& user) {
  if (user.uid == 0)
    throw std::runtime_error("refusing to run as root: user '" + user.name + "' has uid 0");
  if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot switch to user " + user.name);
  if (::setuid(0) == 0)
    throw std::runtime_error("privileges could be regained after dropping them");
}

}  // namespace mp
