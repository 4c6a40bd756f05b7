// transports::SpamStage — the `spam:NEXTHOP` transport: scan per user, mark the
// message, hand it to NEXTHOP's own transport.
//
// Built by the daemon (tools/transports.cpp) with a function that finds the
// transport of a next-hop text (the daemon's own selection), and given the
// `spam:...` routes by the queue manager. For each request it:
//   1. groups the recipients by user — the recipient's unix user, or
//      `default_user` when the route has none — and scans the message once per
//      group (SpamWorkers: per-user cap, global cap, idle expiry); concurrent
//      requests for the same message and user share one scan;
//   2. on a verdict, copies the message with its X-Spam-* headers
//      (spam_headers.hpp: incoming ones stripped) and calls NEXTHOP's
//      Transport::deliver() with that copy, next_hop = NEXTHOP and
//      junk = the verdict (maildir then delivers into maildir_junk);
//   3. when spamd fails: spam_failure = defer → tempfail 4.3.0 for the group
//      (NEXTHOP is not called); pass → the copy says "X-Spam-Status: unscanned
//      (...)" and goes on. A message over max_size is not scanned and goes on
//      marked "unscanned (message too large ...)".
// Each scan is logged ("ID: user=alice, result=spam, score=1000.0/5.0, ...,
// running=1/1, queued=3") as are workers starting and expiring.
// Invariants: `done` is called exactly once with one result per recipient, in
// request order; results of NEXTHOP's transport are passed through unchanged.
// deliver() never blocks. Destruction aborts running scans, defers (4.3.0) the
// queued ones and waits for the rest; NEXTHOP's transports must outlive this one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "transports/spam_client.hpp"
#include "transports/spam_workers.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

struct SpamSettings {
  std::string spamd = "127.0.0.1:783";        // `spamd`: host:port or unix:/path
  SpamWorkerLimits workers;                   // spam_workers_per_user, spam_worker_idle
  bool pass_on_failure = false;               // spam_failure = pass
  std::size_t max_size = 512000;              // larger mail is not scanned (spamc's -s)
  std::chrono::milliseconds timeout{120000};  // one scan: connect, send, reply
  std::string default_user = "nobody";        // User: when the route names nobody

  static SpamSettings from(const Config& config);  // `user` is the default user
};

// The transport of a next-hop text such as "maildir:/m/%u" or "10.0.0.1:10026";
// nullptr when none serves it.
using NextHopTransport = std::function<Transport*(std::string_view next_hop)>;

// "spam:maildir:/x" → "maildir:/x"; nullopt when the text is not a spam hop.
std::optional<std::string_view> spam_then(std::string_view next_hop);

class SpamStage final : public Transport {
 public:
  // `scanner`: null → a SpamdClient for settings.spamd (a bad endpoint fails every scan).
  SpamStage(SpamSettings settings, NextHopTransport next,
            std::shared_ptr<SpamScanner> scanner = nullptr);
  ~SpamStage() override;

  std::string_view name() const override { return "spam"; }
  void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) override;

  // Shutdown: scans not started yet are deferred (4.3.0) now; running ones finish.
  void cancel_queued() { workers_->cancel_queued(); }

  std::vector<SpamWorkerStats> workers() const { return workers_->stats(); }
  const SpamSettings& settings() const { return settings_; }

 private:
  struct Scan;   // one scan shared by the requests waiting for it
  struct Batch;  // one request's results being gathered
  using Waiter = std::function<void(const SpamCheck&, bool cancelled)>;

  void scan(const DeliveryRequest& request, const std::string& user, Waiter waiter);
  void run_scan(const std::string& key, const SpamTicket& ticket);
  void cancel_scan(const std::string& key);

  SpamSettings settings_;
  NextHopTransport next_;
  std::shared_ptr<SpamScanner> scanner_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Scan>> scans_;  // queued or running, by key
  std::unique_ptr<SpamWorkers> workers_;                // last: destroyed (joined) first
};

}  // namespace mp::transports
