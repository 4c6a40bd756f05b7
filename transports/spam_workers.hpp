// transports::SpamWorkers — the per-user workers of the spam stage: one worker
// per user, created on demand, running at most `per_user` scans of that user at
// once with the rest of that user's scans queued behind it; at most `total`
// scans at once over all users (what spamd serves: its --max-children); workers
// idle for `idle` expire.
//
// Owned by transports::SpamStage, which submits one job per (message, user);
// unit tested with blocking fake jobs (tests/unit/transports/spam_workers_test.cpp).
// Scheduling: a free scan slot goes to the eligible worker (work queued, below
// its cap) served longest ago — a user new to the stage goes first — so one
// user's backlog cannot delay another user by more than the scans already
// running. Each user's own jobs run in submission order.
// Invariants: every submitted job gets exactly one of its two callbacks — `run`
// on one of the `total` scan threads (started at the first submit), or `cancel`
// when the workers are destroyed before it started (on the destroying thread);
// the destructor waits for running jobs. A worker's `peak` never exceeds
// per_user; the sum of running scans never exceeds total. `events` receives one
// line when a worker starts and one when it expires (outside the lock).
// Thread safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mp::transports {

struct SpamWorkerLimits {
  unsigned per_user = 1;                  // spam_workers_per_user
  unsigned total = 5;                     // all users together (spamd's children)
  std::chrono::milliseconds idle{60000};  // spam_worker_idle
};

// A worker's counters.
struct SpamWorkerStats {
  std::string user;
  unsigned running = 0;     // scans running now
  std::size_t queued = 0;   // scans waiting
  unsigned peak = 0;        // most scans ever running at once
  std::uint64_t scans = 0;  // scans finished
};

// What a job sees when it starts: its user's worker, counting this scan.
struct SpamTicket {
  std::string user;
  unsigned running = 0;    // including this one
  std::size_t queued = 0;  // still waiting behind it
};

class SpamWorkers {
 public:
  using Run = std::function<void(const SpamTicket&)>;
  using Cancel = std::function<void()>;
  using Events = std::function<void(std::string_view line)>;

  explicit SpamWorkers(SpamWorkerLimits limits, Events events = {});
  ~SpamWorkers();
  SpamWorkers(const SpamWorkers&) = delete;
  SpamWorkers& operator=(const SpamWorkers&) = delete;

  void submit(const std::string& user, Run run, Cancel cancel);
  // Cancels every job not started yet (shutdown: they are requeued); running ones go on.
  void cancel_queued();

  std::vector<SpamWorkerStats> stats() const;  // live workers, by user name
  const SpamWorkerLimits& limits() const { return limits_; }

 private:
  struct Job {
    Run run;
    Cancel cancel;
  };
  struct Worker {
    std::deque<Job> queue;
    unsigned running = 0;
    unsigned peak = 0;
    std::uint64_t scans = 0;
    std::uint64_t served = 0;  // order of the last slot given (0: never)
    std::chrono::steady_clock::time_point idle_since;
  };
  void work();
  // Expires idle workers (lines into `lines`); returns the next expiry, or max().
  std::chrono::steady_clock::time_point sweep(std::vector<std::string>& lines);
  void emit(const std::vector<std::string>& lines) const;

  SpamWorkerLimits limits_;
  Events events_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Worker> workers_;
  std::uint64_t serve_counter_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mp::transports
