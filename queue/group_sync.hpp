// GroupSync — one directory fsync shared by every rename finished before it.
//
// Used by queue::Writer for incoming/: a thread renames its file into the
// directory, then calls sync(). sync() returns once an fsync of the directory
// that STARTED AFTER the call began has returned successfully, so the caller's
// rename is durable. Threads arriving while an fsync runs wait and form the
// next round, whose single fsync (run by one of them, the leader) covers them
// all: under load there is one directory fsync per round, not per message.
// If the round's fsync fails, every member gets the error (std::system_error).
#pragma once

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>

namespace mp::queue {

class GroupSync {
 public:
  explicit GroupSync(std::filesystem::path dir) : dir_(std::move(dir)) {}
  GroupSync(const GroupSync&) = delete;
  GroupSync& operator=(const GroupSync&) = delete;

  // Blocks until a directory fsync covering every rename done before this call
  // has succeeded; throws std::system_error if that fsync failed.
  void sync();

  // How many fsyncs were run (for tests and statistics).
  unsigned long rounds() const;

 private:
  struct Round;
  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Round> next_;  // the round new arrivals join; not started yet
  bool running_ = false;         // a round's fsync is in progress
  unsigned long rounds_ = 0;
};

}  // namespace mp::queue
