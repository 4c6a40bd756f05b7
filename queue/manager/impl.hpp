// The queue manager's state and the steps of a message's life, shared by the
// files of queue/manager/ (internal; users include manager.hpp):
//   manager.cpp    the public API, picking messages up, timers and queue scans;
//   dispatch.cpp   routing, grouping by next hop, handing groups to transports and
//                  recording their results;
//   attempt_end.cpp after an attempt: expiry, NDRs and delay warnings, removal or
//                  deferral with backoff;
//   admin.cpp      operator actions (mpqueue through the control socket).
// Everything here runs on the manager's io_context thread except what is posted
// to `files` (the file workers); see manager.hpp.
#pragma once

#include <asio/post.hpp>
#include <asio/system_timer.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <deque>
#include <map>
#include <set>

#include "queue/bounce.hpp"
#include "queue/envelope_file.hpp"
#include "queue/manager/manager.hpp"
#include "queue/scheduler.hpp"
#include "queue/store.hpp"

namespace mp::queue {
namespace manager_detail {

using SysClock = std::chrono::system_clock;
constexpr unsigned kFileWorkers = 4;

inline double epoch_now() {
  return std::chrono::duration<double>(SysClock::now().time_since_epoch()).count();
}
inline std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace manager_detail

struct Manager::Impl : std::enable_shared_from_this<Manager::Impl> {
  struct Message {
    std::string id;
    QueueFile qf;
    std::shared_ptr<const std::string> content;
    double picked_up = 0;  // epoch seconds
    unsigned outstanding = 0;
    std::vector<Address> final_rcpt;      // per recipient: the rewritten address
    std::vector<std::string> remote_mta;  // per recipient: who answered last
  };

  // What one attempt's results turn into, computed on the io thread, done on a file worker.
  struct Finish {
    std::string expire_records;
    std::vector<DsnRecipient> ndr;
    std::vector<std::size_t> ndr_indexes;
    bool warn = false;
    std::vector<DsnRecipient> warn_rcpts;
    bool done = false;  // no recipient left pending
    bool archive = false;
    unsigned attempts = 0;
    std::int64_t next = 0;
    // What the notifications need of the message (the file worker must not touch `active`).
    Address sender;
    std::int64_t arrival = 0;
    std::shared_ptr<const std::string> content;
  };

  Impl(asio::io_context& io, const Layout& layout, Writer& writer, ManagerSettings s,
       std::shared_ptr<const rewrite::Router> router, TransportSelector select)
      : io(io),
        files(manager_detail::kFileWorkers),
        store(layout),
        writer(writer),
        settings(std::move(s)),
        router(std::move(router)),
        select(std::move(select)),
        retry_timer(io),
        scan_timer(io) {}

  asio::io_context& io;
  asio::thread_pool files;
  Store store;
  Writer& writer;
  ManagerSettings settings;
  std::shared_ptr<const rewrite::Router> router;
  TransportSelector select;
  asio::system_timer retry_timer;
  asio::system_timer scan_timer;
  std::set<std::string> warned_strangers;  // odd names in the queue, warned about once
  Scheduler scheduler;
  std::set<std::string> in_flight;  // loading, delivering or finishing
  std::map<std::string, std::unique_ptr<Message>> active;
  std::deque<std::string> waiting;  // beyond max_active
  bool stopping = false;
  std::function<void()> drained;
  std::map<std::string, AdminOp> after_attempt;  // remove/hold asked for while in flight

  template <typename F>
  void on_files(F&& f) {
    asio::post(files, std::forward<F>(f));
  }
  template <typename F>
  void on_io(F&& f) {
    asio::post(io, std::forward<F>(f));
  }

  // ---- picking messages up (manager.cpp)
  void activate(const std::string& id);
  void load(const std::string& id);
  void loaded(const std::string& id, std::shared_ptr<Message> shared);

  // ---- routing and delivery (dispatch.cpp)
  void dispatch(Message& m);
  void results(const std::string& id, std::vector<transports::RecipientRef> refs,
               const std::string& component, double dispatched, transports::DeliveryResult res);
  void recorded(const std::string& id, const std::string& error);

  // ---- after an attempt (attempt_end.cpp)
  DsnRecipient dsn_recipient(const Message& m, std::size_t i) const;
  void finish(Message& m);
  std::string queue_dsn(const std::string& id, const Finish& f, DsnInput::Kind kind,
                        const std::vector<DsnRecipient>& rcpts);
  void complete(const std::string& id, const Finish& f);
  void finished(const std::string& id, const std::string& outcome, std::int64_t next);
  void pump();

  // ---- operator actions (admin.cpp)
  void admin(AdminOp op, std::vector<std::string> ids, std::function<void(AdminReport)> done);
  void run_admin(AdminOp op, std::vector<std::string> ids, std::function<void(AdminReport)> done);

  // ---- timers and scans (manager.cpp)
  void arm_retry_timer();
  void scan();
  void arm_scan_timer();
};

}  // namespace mp::queue
