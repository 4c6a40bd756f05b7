#include "queue/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "common/atomic_file.hpp"
#include "queue/group_sync.hpp"
#include "queue/queue_id.hpp"

namespace mp::queue {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

bool rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  fail("rename " + from.string() + " to " + to.string());
}

}  // namespace

Store::Store(const Layout& layout) : layout_(layout) {
  for (SubQueue q : {SubQueue::incoming, SubQueue::active, SubQueue::deferred, SubQueue::hold,
                     SubQueue::archive, SubQueue::corrupt})
    syncs_[q] = std::make_unique<GroupSync>(layout_.dir(q));
}

Store::~Store() = default;

bool Store::move(std::string_view id, SubQueue from, SubQueue to) {
  return rename_file(layout_.file(from, id), layout_.file(to, id));
}

bool Store::move_durable(std::string_view id, SubQueue from, SubQueue to) {
  if (!move(id, from, to)) return false;
  syncs_.at(to)->sync();
  syncs_.at(from)->sync();
  return true;
}

void Store::append(SubQueue q, std::string_view id, std::string_view records) {
  append_synced(layout_.file(q, id), records);
}

bool Store::remove(SubQueue q, std::string_view id) {
  std::filesystem::path p = layout_.file(q, id);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return false;
    fail("unlink " + p.string());
  }
  syncs_.at(q)->sync();
  return true;
}

void Store::set_next_attempt(SubQueue q, std::string_view id, std::int64_t epoch) {
  std::filesystem::path p = layout_.file(q, id);
  timespec times[2];
  times[0].tv_sec = epoch;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, p.c_str(), times, 0) != 0) fail("utimensat " + p.string());
}

std::int64_t Store::next_attempt(SubQueue q, std::string_view id) const {
  struct stat st {};
  if (::stat(layout_.file(q, id).c_str(), &st) != 0) return -1;
  return st.st_mtim.tv_sec;
}

std::vector<std::string> Store::list(SubQueue q, std::vector<std::string>* strangers) const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(layout_.dir(q), ec)) {
    std::string name = entry.path().filename().string();
    if (is_valid_queue_id(name)) {
      ids.push_back(std::move(name));
    } else if (strangers) {
      strangers->push_back(entry.path().string());
    }
  }
  if (ec) throw std::system_error(ec, "list " + layout_.dir(q).string());
  return ids;
}

std::filesystem::path Store::quarantine(SubQueue q, std::string_view id) {
  std::filesystem::path to = layout_.file(SubQueue::corrupt, id);
  if (std::filesystem::exists(to)) to += "." + std::to_string(::time(nullptr));  // never overwrite
  if (::rename(layout_.file(q, id).c_str(), to.c_str()) != 0)
    fail("rename " + layout_.file(q, id).string() + " to " + to.string());
  fsync_dir(to.parent_path());
  syncs_.at(q)->sync();
  return to;
}

}  // namespace mp::queue
