// Process-wide operational counters for Prometheus (`metrics_listen`, GET /metrics).
//
// Updated from the hot paths — smtpd/net (connections, accepted messages,
// refused recipients) and queue/manager (delivery results, latency) — with
// relaxed atomic operations only: no lock, no allocation. Read by the metrics
// HTTP server (smtpd/net/metrics_http.cpp), which calls render() on a scrape.
// Invariants: counters never go down; the histogram's buckets are fixed at
// construction; render() is pure over a snapshot and yields the Prometheus text
// exposition format 0.0.4, every family with its # HELP and # TYPE lines and
// every name prefixed "mailproc_".
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mp::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void add(std::int64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n = 1) noexcept { v_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Cumulative-bucket histogram of non-negative values (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // ascending, finite; +Inf is implied

  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (= count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Buckets of mailproc_delivery_delay_seconds: 0.1 s to a day.
std::vector<double> delivery_delay_buckets();

struct Registry {
  Registry();

  // smtpd
  Counter connections_total;    // accepted TCP connections, every listener
  Gauge connections;            // open now (past the limits and the PROXY header)
  Counter connections_refused;  // over a limit, untrusted or malformed PROXY header
  Counter messages_accepted;    // 250 after DATA/BDAT: durably queued
  Counter recipients_rejected;  // RCPT refused (relay control, unknown user, route error)
  // queue manager, one per recipient result
  Counter recipients_delivered;
  Counter recipients_deferred;
  Counter recipients_bounced;  // refused by the next hop, or expired
  Histogram delivery_delay;    // arrival → delivered, per delivered recipient
};

// The one instance the programs update.
Registry& registry();

struct QueueCount {
  std::string queue;  // "incoming", "active", ...
  std::uint64_t messages = 0;
};

// The exposition text for `r` plus the sub-queue sizes (counted by the caller).
std::string render(const Registry& r, const std::vector<QueueCount>& queues);

// "text/plain; version=0.0.4; charset=utf-8"
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace mp::metrics
