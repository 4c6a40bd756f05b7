#include "queue/layout.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "common/atomic_file.hpp"
#include "common/unique_fd.hpp"

namespace mp::queue {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(int err, const char* what, const fs::path& p) {
  throw std::system_error(err, std::generic_category(), std::string(what) + " " + p.string());
}

fs::path parent_or_dot(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Makes `p` a directory. Returns true when it was created here (its parent
// then needs an fsync), false when it already existed.
bool make_dir(const fs::path& p, mode_t mode) {
  if (::mkdir(p.c_str(), mode) == 0) return true;
  int err = errno;
  struct stat st;
  if (err == EEXIST) {
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return false;
    fail(ENOTDIR, "mkdir", p);
  }
  fail(err, "mkdir", p);
}

// Like make_dir, creating missing ancestors (mode 0755) first; every entry
// created is made durable by an fsync of its parent.
void make_dir_recursive(const fs::path& p, mode_t mode) {
  struct stat st;
  if (::stat(p.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, "mkdir", p);
    return;
  }
  fs::path parent = p.parent_path();
  if (!parent.empty() && parent != p) make_dir_recursive(parent, 0755);
  if (make_dir(p, mode)) fsync_dir(parent_or_dot(p));
}

// Removes every entry below the directory `dir_fd` (path `p`, for messages),
// never following a link: a link is removed, not its target.
void remove_below(int dir_fd, const fs::path& p, int depth);

void remove_entry(int dir_fd, const std::string& entry, const fs::path& p, int depth) {
  if (::unlinkat(dir_fd, entry.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR) fail(errno, "unlink", p);
  int fd = ::openat(dir_fd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {  // swapped for a link or file meanwhile
    if (::unlinkat(dir_fd, entry.c_str(), 0) == 0 || errno == ENOENT) return;
  }
  if (fd < 0) fail(errno, "open", p);
  UniqueFd sub(fd);
  remove_below(sub.get(), p, depth + 1);
  if (::unlinkat(dir_fd, entry.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return;
  // Swapped for a link or a file meanwhile: remove that name (never what it points at).
  if (errno == ENOTDIR && (::unlinkat(dir_fd, entry.c_str(), 0) == 0 || errno == ENOENT)) return;
  fail(errno, "rmdir", p);
}

std::vector<std::string> entries_of(int dir_fd, const fs::path& p) {
  int fd = ::dup(dir_fd);
  if (fd < 0) fail(errno, "dup", p);
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    fail(err, "opendir", p);
  }
  ::rewinddir(dir);
  std::vector<std::string> names;  // collected first: no removal while reading the directory
  while (dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(dir);
  return names;
}

void remove_below(int dir_fd, const fs::path& p, int depth) {
  if (depth > 64) fail(ELOOP, "remove", p);  // bounded: tmp/ only ever holds files
  for (const std::string& n : entries_of(dir_fd, p)) remove_entry(dir_fd, n, p / n, depth);
}

}  // namespace

void create_directories_durably(const fs::path& dir, unsigned mode) {
  make_dir_recursive(dir, static_cast<mode_t>(mode));
}

std::string_view name(SubQueue q) {
  switch (q) {
    case SubQueue::incoming:
      return "incoming";
    case SubQueue::active:
      return "active";
    case SubQueue::deferred:
      return "deferred";
    case SubQueue::hold:
      return "hold";
    case SubQueue::archive:
      return "archive";
    case SubQueue::corrupt:
      return "corrupt";
  }
  return "unknown";
}

std::optional<SubQueue> parse_sub_queue(std::string_view text) {
  for (SubQueue q : all_sub_queues)
    if (name(q) == text) return q;
  return std::nullopt;
}

fs::path Layout::dir(SubQueue q) const {
  return root_ / std::string(name(q));
}

void Layout::create() const {
  // Strip a trailing separator ("spool/") so parent_path() names the real parent.
  fs::path root = root_.has_filename() ? root_ : root_.parent_path();
  make_dir_recursive(root, 0700);
  bool created = make_dir(tmp(), 0700);
  for (SubQueue q : all_sub_queues) created = make_dir(dir(q), 0700) || created;
  if (created) fsync_dir(root);
}

std::size_t Layout::purge_tmp() const {
  int fd = ::open(tmp().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0 && errno == ELOOP)
    throw std::runtime_error(tmp().string() + " is a symbolic link: refusing to purge it");
  if (fd < 0) fail(errno, "open", tmp());
  UniqueFd tmp_fd(fd);
  std::vector<std::string> leftovers = entries_of(tmp_fd.get(), tmp());
  for (const std::string& n : leftovers) remove_entry(tmp_fd.get(), n, tmp() / n, 0);
  return leftovers.size();
}

}  // namespace mp::queue
