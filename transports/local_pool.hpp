// A small fixed pool of worker threads for blocking local deliveries.
//
// Owned by LocalTransport, whose deliver() must not block its caller: each
// request becomes one task here. Thread safe.
// Invariants: every posted task gets exactly one of its two callbacks — `run` on
// a worker thread, or `cancel` (on the destroying or posting thread) when the
// pool stops before the task started. The destructor cancels the tasks still
// queued and joins after the running ones finish.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mp::transports {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> run, std::function<void()> cancel);

 private:
  struct Task {
    std::function<void()> run, cancel;
  };
  void work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mp::transports
