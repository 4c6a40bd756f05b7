#include "queue/spool_owner.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "common/atomic_file.hpp"

namespace mp::queue {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(int err, const std::string& what, const fs::path& p) {
  throw std::system_error(err, std::generic_category(), what + " " + p.string());
}

std::string owner_text(const SpoolOwner& owner) {
  return owner.name + " (uid " + std::to_string(owner.uid) + ")";
}

struct stat stat_of(int fd, const fs::path& p) {
  struct stat st;
  if (::fstat(fd, &st) != 0) fail(errno, "fstat", p);
  return st;
}

void give_to(int fd, const fs::path& p, const SpoolOwner& owner) {
  if (::fchown(fd, owner.uid, owner.gid) != 0) fail(errno, "fchown", p);
}

// Opens a directory entry of `dir_fd` without following a link in its place.
UniqueFd open_subdir(int dir_fd, const std::string& name, const fs::path& p) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return UniqueFd(fd);
  int err = errno;
  struct stat st;
  if (err == ELOOP ||
      (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
    throw std::runtime_error(p.string() + " is a symbolic link: refusing to start");
  if (err == ENOTDIR)
    throw std::runtime_error(p.string() + " is not a directory: refusing to start");
  fail(err, "open", p);
}

}  // namespace

UniqueFd prepare_spool_root(const Layout& layout, const SpoolOwner& owner) {
  fs::path root = layout.root().has_filename() ? layout.root() : layout.root().parent_path();
  fs::path parent = root.parent_path();
  bool created = false;
  if (!parent.empty()) create_directories_durably(parent, 0755);  // root's, outside the spool
  if (::mkdir(root.c_str(), 0700) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    fail(errno, "mkdir", root);
  }
  // The configured path itself may be the operator's link (followed); below it, never.
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOTDIR)
    throw std::runtime_error(root.string() + " is not a directory: refusing to start");
  if (fd < 0) fail(errno, "open", root);
  UniqueFd root_fd(fd);
  struct stat st = stat_of(root_fd.get(), root);
  if (st.st_uid != owner.uid) {
    if (!created && st.st_uid != 0)
      throw std::runtime_error(root.string() + " belongs to uid " + std::to_string(st.st_uid) +
                               ", not to " + owner_text(owner) + ": refusing to start");
    give_to(root_fd.get(), root, owner);
  }
  if (created) fsync_dir(parent.empty() ? fs::path(".") : parent);
  return root_fd;
}

void prepare_sub_queues(int root_fd, const Layout& layout, const SpoolOwner& owner) {
  std::vector<std::string> names{"tmp"};
  for (SubQueue q : all_sub_queues) names.emplace_back(name(q));
  bool created_any = false;
  for (const std::string& n : names) {
    fs::path p = layout.root() / n;
    bool created = ::mkdirat(root_fd, n.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) fail(errno, "mkdir", p);
    UniqueFd fd = open_subdir(root_fd, n, p);
    struct stat st = stat_of(fd.get(), p);
    if (created) {
      give_to(fd.get(), p, owner);
      created_any = true;
    } else if (st.st_uid != owner.uid) {
      throw std::runtime_error(p.string() + " belongs to uid " + std::to_string(st.st_uid) +
                               ", not to " + owner_text(owner) +
                               ": mailprocd never changes owners inside the spool; chown -R " +
                               owner.name + " " + p.string());
    }
  }
  if (created_any && ::fsync(root_fd) != 0) fail(errno, "fsync", layout.root());
}

}  // namespace mp::queue
