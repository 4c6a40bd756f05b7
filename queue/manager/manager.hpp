// queue::Manager — moves every message from incoming/ to its recipients.
//
// Picks up incoming/ (woken by queue::Writer after each commit, plus a scan at
// start and every queue_run_interval), recovers active/ after a crash, keeps
// a bounded active set, routes each pending recipient with rewrite::Router,
// groups recipients sharing a route into one transports::DeliveryRequest,
// records each recipient's result durably (queue::Store::append) before it
// moves on, and then removes the message, defers it with exponential backoff
// (next attempt = file mtime), or gives up past maxqueuetime. Bounces and
// delay warnings (queue/bounce.hpp) re-enter the queue through queue::Writer.
//
// Threads: all manager state lives on the io_context given to it (one thread);
// every disk operation runs on an internal pool of file workers and posts its
// result back. Transports call back on any thread; results are posted too.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "queue/layout.hpp"
#include "queue/writer.hpp"
#include "rewrite/router.hpp"
#include "transports/transport.hpp"

namespace mp::queue {

struct ManagerSettings {
  std::string hostname;
  std::chrono::seconds maxqueuetime{5 * 86400};
  std::chrono::seconds retry_min{300}, retry_max{3600};
  std::chrono::seconds queue_run_interval{300};
  std::chrono::seconds delay_warning{0};
  bool ndr = true;
  bool archive = false;
  unsigned max_hops = 50;
  std::size_t max_active = 5000;  // messages in memory at once; the rest wait on disk

  static ManagerSettings from(const Config& config);
};

// Operator actions (mpqueue through the control socket).
enum class AdminOp {
  flush,    // deferred mail due now (and retried right away)
  remove,   // delete from the queue (mpqueue delete); an active message once its attempt ends
  hold,     // park in hold/: no delivery until released
  release,  // hold/ → deferred/, due now
  requeue,  // due now, routed afresh by the current rules; held mail is released too
};
std::string_view name(AdminOp op);

struct AdminReport {
  std::vector<std::string> done;     // IDs acted on (or marked, for active messages)
  std::vector<std::string> missing;  // IDs not found in any sub-queue where the action applies
};

// The transport for a next hop; nullptr when none serves that kind (a tempfail).
using TransportSelector = std::function<transports::Transport*(const rewrite::NextHop&)>;

class Manager {
 public:
  Manager(asio::io_context& io, const Layout& layout, Writer& writer, ManagerSettings settings,
          std::shared_ptr<const rewrite::Router> router, TransportSelector select);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  void start();               // recovery scan, timers; call on the io_context's thread
  void wake(std::string id);  // a message was committed to incoming/; any thread
  void set_router(std::shared_ptr<const rewrite::Router> router);  // after a reload; any thread
  // After a reload; any thread. Attempts from then on use them (a running scan timer
  // keeps its deadline; the next one uses the new queue_run_interval).
  void set_settings(ManagerSettings settings);
  void flush(
      std::vector<std::string> ids = {});  // deferred mail (all, or these) due now; any thread
  // Any thread. `ids` empty means ALL (flush, remove, requeue, release). `done` runs on the
  // manager's thread once every file operation has finished.
  void admin(AdminOp op, std::vector<std::string> ids, std::function<void(AdminReport)> done);
  // Stops taking work; `drained` runs once no delivery is in flight. On the io thread.
  void stop(std::function<void()> drained);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mp::queue
