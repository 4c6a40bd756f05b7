#include "queue/group_sync.hpp"

#include <new>
#include <system_error>

#include "common/atomic_file.hpp"

namespace mp::queue {

struct GroupSync::Round {
  bool started = false;  // its fsync began: nobody may join it any more
  bool done = false;
  std::error_code error;  // set when its fsync failed
};

void GroupSync::sync() {
  std::unique_lock lock(mu_);
  // Join the round that has not started yet: its fsync will begin after now.
  if (!next_) next_ = std::make_shared<Round>();
  std::shared_ptr<Round> mine = next_;
  while (!mine->done) {
    if (!running_ && !mine->started) {
      // Lead: close the round to new members, run its one fsync unlocked.
      mine->started = true;
      next_.reset();
      running_ = true;
      ++rounds_;
      lock.unlock();
      std::error_code error;
      try {
        fsync_dir(dir_);
      } catch (const std::system_error& e) {
        error = e.code();
      } catch (const std::bad_alloc&) {
        error = std::make_error_code(std::errc::not_enough_memory);
      }
      lock.lock();
      mine->error = error;
      mine->done = true;
      running_ = false;
      cv_.notify_all();
    } else {
      cv_.wait(lock);
    }
  }
  // Each member throws its own exception object (none is shared across threads).
  if (mine->error) throw std::system_error(mine->error, "fsync " + dir_.string());
}

unsigned long GroupSync::rounds() const {
  std::lock_guard lock(mu_);
  return rounds_;
}

}  // namespace mp::queue
