#include "queue/layout.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "common/atomic_file.hpp"

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

}  // namespace

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
  std::error_code ec;
  fs::directory_iterator it(tmp(), ec);
  if (ec == std::errc::no_such_file_or_directory) return 0;
  if (ec) throw std::system_error(ec, "opendir " + tmp().string());
  std::vector<fs::path> leftovers;  // collected first: no removal while reading the directory
  for (const fs::directory_entry& entry : it) leftovers.push_back(entry.path());
  for (const fs::path& p : leftovers) fs::remove_all(p);  // throws fs::filesystem_error
  return leftovers.size();
}

}  // namespace mp::queue
