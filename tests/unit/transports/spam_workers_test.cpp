// SpamWorkers with blocking fake scans held at a gate: the per-user cap, the global
// cap, a second user served before a first user's backlog, per-user order, idle
// expiry, and shutdown (queued jobs cancelled, running ones waited for).
#include "transports/spam_workers.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

// Records what the fake scans do; scans block until released.
class Lab {
 public:
  SpamWorkers::Run job(const std::string& user, int n) {
    return [this, user, n](const SpamTicket& t) {
      std::unique_lock lock(mutex_);
      EXPECT_EQ(t.user, user);
      ++running_[user];
      ++total_running_;
      peak_[user] = std::max(peak_[user], running_[user]);
      peak_total_ = std::max(peak_total_, total_running_);
      max_ticket_[user] = std::max(max_ticket_[user], t.running);
      started_.push_back(user + std::to_string(n));
      changed_.notify_all();
      changed_.wait(lock, [&] { return releases_ > 0 || open_; });
      if (!open_) --releases_;
      --running_[user];
      --total_running_;
      ++finished_;
      changed_.notify_all();
    };
  }
  SpamWorkers::Cancel cancel() {
    return [this] {
      std::lock_guard lock(mutex_);
      ++cancelled_;
      changed_.notify_all();
    };
  }
  void release(int n = 1) {
    std::lock_guard lock(mutex_);
    releases_ += n;
    changed_.notify_all();
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Waits (bounded) for a condition on the lab's state.
  template <typename Pred>
  bool wait(Pred pred) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return pred(*this); });
  }

  std::map<std::string, int> running_, peak_;
  std::map<std::string, unsigned> max_ticket_;
  int total_running_ = 0, peak_total_ = 0, finished_ = 0, cancelled_ = 0;
  std::vector<std::string> started_;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int releases_ = 0;
  bool open_ = false;
};

TEST(SpamWorkers, PerUserCapAndGlobalCapWithASecondUserNotStarved) {
  Lab lab;
  SpamWorkers w({2, 3, 60s});
  for (int i = 0; i < 50; ++i) w.submit("alice", lab.job("alice", i), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 2; }));
  w.submit("bob", lab.job("bob", 0), lab.cancel());
  // bob gets the third slot although alice has 48 scans waiting.
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 3; }));
  EXPECT_EQ(lab.started_.back(), "bob0");
  auto stats = w.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].user, "alice");
  EXPECT_EQ(stats[0].running, 2u);
  EXPECT_EQ(stats[0].queued, 48u);
  EXPECT_EQ(stats[1].running, 1u);
  lab.open();
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 51; }));
  EXPECT_EQ(lab.peak_["alice"], 2);
  EXPECT_EQ(lab.max_ticket_["alice"], 2u);
  EXPECT_LE(lab.peak_total_, 3);
  // Every one of alice's scans ran, once (two at a time: their order is the threads').
  std::set<std::string> alice;
  for (const auto& s : lab.started_) {
    if (s.rfind("alice", 0) == 0) {
      EXPECT_TRUE(alice.insert(s).second) << s;
    }
  }
  EXPECT_EQ(alice.size(), 50u);
}

TEST(SpamWorkers, ANewUserGoesBeforeTheBacklog) {
  Lab lab;
  SpamWorkers w({1, 1, 60s});
  for (int i = 0; i < 10; ++i) w.submit("a", lab.job("a", i), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 1; }));
  w.submit("b", lab.job("b", 0), lab.cancel());
  w.submit("c", lab.job("c", 0), lab.cancel());
  lab.open();
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 12; }));
  // One slot: a0 was running; then the users not served yet; then a's backlog.
  ASSERT_GE(lab.started_.size(), 4u);
  EXPECT_EQ(lab.started_[0], "a0");
  EXPECT_EQ(lab.started_[1], "b0");
  EXPECT_EQ(lab.started_[2], "c0");
  EXPECT_EQ(lab.started_[3], "a1");
}

TEST(SpamWorkers, UsersTakeTurns) {
  Lab lab;
  SpamWorkers w({1, 1, 60s});
  w.submit("a", lab.job("a", 0), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 1; }));
  for (int i = 1; i < 4; ++i) w.submit("a", lab.job("a", i), lab.cancel());
  for (int i = 0; i < 3; ++i) w.submit("b", lab.job("b", i), lab.cancel());
  lab.open();
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 7; }));
  EXPECT_EQ(lab.started_, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2", "a3"}));
}

TEST(SpamWorkers, IdleWorkersExpire) {
  Lab lab;
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> events;
  SpamWorkers w({1, 2, 100ms}, [&](std::string_view line) {
    std::lock_guard lock(m);
    events.emplace_back(line);
    cv.notify_all();
  });
  w.submit("alice", lab.job("alice", 0), lab.cancel());
  w.submit("bob", lab.job("bob", 0), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 2; }));
  lab.release(1);  // one of them finishes; the other stays busy and must not expire
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 1; }));
  std::string busy = lab.running_["alice"] == 1 ? "alice" : "bob";
  std::string idle = busy == "alice" ? "bob" : "alice";
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return events.size() == 3; }));
  }
  EXPECT_EQ(events[0], "worker for user alice started");
  EXPECT_EQ(events[1], "worker for user bob started");
  EXPECT_EQ(events[2],
            "worker for user " + idle + " expired after 0.1s idle (1 scans, at most 1 at once)");
  auto stats = w.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].user, busy);
  lab.open();
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return events.size() == 4; }));
  EXPECT_EQ(events[3].rfind("worker for user " + busy + " expired", 0), 0u);
  EXPECT_TRUE(w.stats().empty());
}

TEST(SpamWorkers, AnExpiredUserComesBackAsANewWorker) {
  Lab lab;
  lab.open();
  std::mutex m;
  std::condition_variable cv;
  int expired = 0, started = 0;
  SpamWorkers w({1, 1, 20ms}, [&](std::string_view line) {
    std::lock_guard lock(m);
    if (line.find("expired") != std::string_view::npos) ++expired;
    if (line.find("started") != std::string_view::npos) ++started;
    cv.notify_all();
  });
  for (int round = 1; round <= 2; ++round) {
    w.submit("alice", lab.job("alice", round), lab.cancel());
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return expired == round; }));
    EXPECT_EQ(started, round);
  }
}

TEST(SpamWorkers, DestructionCancelsQueuedJobsAndWaitsForRunningOnes) {
  Lab lab;
  auto w = std::make_unique<SpamWorkers>(SpamWorkerLimits{1, 1, 60s});
  for (int i = 0; i < 4; ++i) w->submit("alice", lab.job("alice", i), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 1; }));
  std::thread destroyer([&] { w.reset(); });
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.cancelled_ == 3; }));
  EXPECT_EQ(lab.finished_, 0);  // still running: the destructor waits for it
  lab.open();
  destroyer.join();
  EXPECT_EQ(lab.finished_, 1);
  EXPECT_EQ(lab.started_.size(), 1u);
}

TEST(SpamWorkers, CancelQueuedLeavesRunningJobsAndKeepsWorking) {
  Lab lab;
  SpamWorkers w({1, 1, 60s});
  for (int i = 0; i < 4; ++i) w.submit("alice", lab.job("alice", i), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.started_.size() == 1; }));
  w.cancel_queued();
  EXPECT_EQ(lab.cancelled_, 3);
  lab.open();
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 1; }));
  w.submit("alice", lab.job("alice", 9), lab.cancel());
  ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 2; }));
  EXPECT_EQ(lab.started_, (std::vector<std::string>{"alice0", "alice9"}));
}

TEST(SpamWorkers, ManyUsersManyJobsAllRunWithinTheCaps) {
  Lab lab;
  lab.open();
  {
    SpamWorkers w({2, 4, 60s});
    for (int i = 0; i < 200; ++i) {
      std::string user = "u" + std::to_string(i % 7);
      w.submit(user, lab.job(user, i), lab.cancel());
    }
    ASSERT_TRUE(lab.wait([](Lab& l) { return l.finished_ == 200; }));
  }
  EXPECT_EQ(lab.cancelled_, 0);
  EXPECT_LE(lab.peak_total_, 4);
  for (const auto& [user, peak] : lab.peak_) EXPECT_LE(peak, 2) << user;
}

}  // namespace
}  // namespace mp::transports
