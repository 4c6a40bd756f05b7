// SpamWorkers: per-user queues served by a fixed set of scan threads.
#include "transports/spam_workers.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace mp::transports {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

SpamWorkers::SpamWorkers(SpamWorkerLimits limits, Events events)
    : limits_(limits), events_(std::move(events)) {
  limits_.per_user = std::max(1u, limits_.per_user);
  limits_.total = std::max(1u, limits_.total);
}

SpamWorkers::~SpamWorkers() {
  std::vector<Job> cancelled;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [user, w] : workers_) {
      for (Job& j : w.queue) cancelled.push_back(std::move(j));
      w.queue.clear();
    }
  }
  wake_.notify_all();
  for (Job& j : cancelled) {
    if (j.cancel) j.cancel();
  }
  for (std::thread& t : threads_) t.join();
}

void SpamWorkers::submit(const std::string& user, Run run, Cancel cancel) {
  std::vector<std::string> lines;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      if (cancel) cancel();
      return;
    }
    auto [it, created] = workers_.try_emplace(user);
    if (created) lines.push_back("worker for user " + user + " started");
    it->second.queue.push_back(Job{std::move(run), std::move(cancel)});
    if (threads_.empty()) {
      threads_.reserve(limits_.total);
      for (unsigned i = 0; i < limits_.total; ++i) threads_.emplace_back([this] { work(); });
    }
  }
  wake_.notify_one();
  emit(lines);
}

void SpamWorkers::cancel_queued() {
  std::vector<Job> cancelled;
  {
    std::lock_guard lock(mutex_);
    for (auto& [user, w] : workers_) {
      for (Job& j : w.queue) cancelled.push_back(std::move(j));
      w.queue.clear();
      if (w.running == 0) w.idle_since = Clock::now();
    }
  }
  wake_.notify_all();  // idle workers now have an expiry to wait for
  for (Job& j : cancelled) {
    if (j.cancel) j.cancel();
  }
}

std::vector<SpamWorkerStats> SpamWorkers::stats() const {
  std::lock_guard lock(mutex_);
  std::vector<SpamWorkerStats> out;
  for (const auto& [user, w] : workers_)
    out.push_back(SpamWorkerStats{user, w.running, w.queue.size(), w.peak, w.scans});
  return out;
}

void SpamWorkers::work() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // The eligible worker served longest ago (never served: first).
    auto best = workers_.end();
    for (auto it = workers_.begin(); it != workers_.end(); ++it) {
      const Worker& w = it->second;
      if (w.queue.empty() || w.running >= limits_.per_user) continue;
      if (best == workers_.end() || w.served < best->second.served) best = it;
    }
    if (best != workers_.end()) {
      Worker& w = best->second;  // stays: a worker with scans running never expires
      Job job = std::move(w.queue.front());
      w.queue.pop_front();
      ++w.running;
      w.peak = std::max(w.peak, w.running);
      w.served = ++serve_counter_;
      SpamTicket ticket{best->first, w.running, w.queue.size()};
      lock.unlock();
      try {
        job.run(ticket);
      } catch (const std::exception&) {
        // Run must not throw; a job that does has answered nothing we could fix here.
      }
      job = Job{};  // its captures go now, outside the lock
      lock.lock();
      --w.running;
      ++w.scans;
      if (w.running == 0 && w.queue.empty()) w.idle_since = Clock::now();
      if (!w.queue.empty()) wake_.notify_one();
      continue;
    }
    std::vector<std::string> lines;
    Clock::time_point next = sweep(lines);
    if (!lines.empty()) {
      lock.unlock();
      emit(lines);
      lock.lock();
      continue;
    }
    if (next == Clock::time_point::max()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, next);
    }
  }
}

Clock::time_point SpamWorkers::sweep(std::vector<std::string>& lines) {
  Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (auto it = workers_.begin(); it != workers_.end();) {
    const Worker& w = it->second;
    if (w.running > 0 || !w.queue.empty()) {
      ++it;
      continue;
    }
    Clock::time_point expiry = w.idle_since + limits_.idle;
    if (now >= expiry) {
      lines.push_back("worker for user " + it->first + " expired after " +
                      seconds_text(limits_.idle) + " idle (" + std::to_string(w.scans) +
                      " scans, at most " + std::to_string(w.peak) + " at once)");
      it = workers_.erase(it);
    } else {
      next = std::min(next, expiry);
      ++it;
    }
  }
  return next;
}

void SpamWorkers::emit(const std::vector<std::string>& lines) const {
  if (!events_) return;
  for (const std::string& l : lines) events_(l);
}

}  // namespace mp::transports
