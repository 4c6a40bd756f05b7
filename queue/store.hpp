// queue::Store — moving queue files between sub-queues and updating them, with
// exactly the durability each step needs (doc/queue-format.md, "Moves").
//
// Called by the queue manager (on its file worker threads: every function
// blocks on disk I/O) and by mpqueue. Invariants:
// - incoming/, active/ and deferred/ mean the same thing to recovery (the file
//   is delivered to its pending recipients), so moves among them need no
//   directory fsync: a move lost in a crash only changes when mail is retried.
// - What must survive a crash is made durable before the caller goes on:
//   recipient records (append + fdatasync), removal of a finished message
//   (unlink + a directory fsync shared by concurrent removals), and moves to
//   hold/, archive/ and corrupt/ (rename + fsync of both directories).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "queue/layout.hpp"

namespace mp::queue {

class GroupSync;

class Store {
 public:
  explicit Store(const Layout& layout);
  ~Store();

  const Layout& layout() const { return layout_; }

  // rename among incoming/active/deferred; false when the file is not there (ENOENT).
  bool move(std::string_view id, SubQueue from, SubQueue to);
  // rename + fsync of both directories (hold, archive, release from hold).
  bool move_durable(std::string_view id, SubQueue from, SubQueue to);
  // Appends record lines and fdatasyncs them.
  void append(SubQueue q, std::string_view id, std::string_view records);
  // unlink + shared directory fsync; false when already gone.
  bool remove(SubQueue q, std::string_view id);
  // The next attempt time is kept as the file's mtime (as Postfix does).
  void set_next_attempt(SubQueue q, std::string_view id, std::int64_t epoch);
  std::int64_t next_attempt(SubQueue q, std::string_view id) const;  // mtime; -1 when gone
  // Queue IDs in a sub-queue. Names that are not queue IDs are skipped (left
  // where they are) and, when `strangers` is given, added to it as full paths.
  std::vector<std::string> list(SubQueue q, std::vector<std::string>* strangers = nullptr) const;
  // Moves an unreadable file to corrupt/ (never deletes it); returns the new path.
  std::filesystem::path quarantine(SubQueue q, std::string_view id);

 private:
  Layout layout_;
  std::map<SubQueue, std::unique_ptr<GroupSync>> syncs_;
};

}  // namespace mp::queue
