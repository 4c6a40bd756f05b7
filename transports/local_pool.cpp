// Fixed worker pool: queue, condition variable, cancel on stop.
#include "transports/local_pool.hpp"

namespace mp::transports {

WorkerPool::WorkerPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  std::deque<Task> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(queue_);
  }
  wake_.notify_all();
  for (auto& task : left)
    if (task.cancel) task.cancel();
  for (auto& t : threads_) t.join();
}

void WorkerPool::post(std::function<void()> run, std::function<void()> cancel) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(Task{std::move(run), std::move(cancel)});
      wake_.notify_one();
      return;
    }
  }
  if (cancel) cancel();
}

void WorkerPool::work() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task.run();
  }
}

}  // namespace mp::transports
