#include "tools/daemon.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "common/log.hpp"
#include "common/privileges.hpp"
#include "queue/layout.hpp"
#include "queue/manager/manager.hpp"
#include "queue/writer.hpp"
#include "rewrite/router.hpp"
#include "smtpd/net/server.hpp"
#include "tools/transports.hpp"

namespace mp {
namespace {

constexpr std::chrono::seconds kShutdownGrace{10};

}  // namespace

int run_daemon(const Config& config) {
  log::open(config.log, config.myhostname);
  auto router = std::make_shared<const rewrite::Router>(config);  // throws ConfigError
  std::optional<UnixUser> user;
  if (running_as_root()) user = lookup_user(config.user);

  queue::Layout layout(config.spooldir);
  layout.create();
  if (user) chown_tree(config.spooldir, *user);
  if (std::size_t purged = layout.purge_tmp())
    log::info("master", "removed " + std::to_string(purged) + " uncommitted file(s) from tmp/");

  // Two event loops: the SMTP front end (this thread) and the queue manager with
  // the network transports (its own thread). Blocking disk work runs on pools.
  asio::io_context io(1);
  asio::io_context qmgr_io(1);
  Transports transports(qmgr_io, config, user.has_value());  // forks the root spawner first
  queue::Writer writer(layout);
  std::shared_ptr<const rewrite::Router> current_router = router;
  smtpd::Server server(io, config, writer, [&current_router](const Address& sender, const Address& rcpt) {
    std::shared_ptr<const rewrite::Router> r = std::atomic_load(&current_router);
    rewrite::Route route = r->resolve(sender, rcpt);
    if (!route.reject && route.hop.kind == rewrite::HopKind::error) {
      // An `error:` route refuses at RCPT, as Postfix's error transport does.
      std::string text = route.hop.message.empty() ? "Recipient address rejected" : route.hop.message;
      return std::optional<Reply>(Reply{route.hop.status[0] == '4' ? 450 : 550, route.hop.status,
                                        rcpt.bracketed() + ": " + text});
    }
    return route.reject;
  });
  if (user) drop_privileges(*user);  // process-wide, every thread included

  queue::Manager manager(qmgr_io, layout, writer, queue::ManagerSettings::from(config), router,
                         [&transports](const rewrite::NextHop& hop) { return transports.select(hop); });
  writer.on_committed([&manager](const std::string& id) { manager.wake(id); });

  asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  asio::signal_set hup(io, SIGHUP);
  asio::steady_timer grace(io);
  std::signal(SIGPIPE, SIG_IGN);

  bool front_done = false, qmgr_done = false;
  auto maybe_exit = [&] {
    if (front_done && qmgr_done) io.stop();
  };
  stop_signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    log::info("master", std::string("terminating on signal ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    server.stop_accepting([&] {
      front_done = true;
      maybe_exit();
    });
    asio::post(qmgr_io, [&] {
      manager.stop([&] {
        asio::post(io, [&] {
          qmgr_done = true;
          maybe_exit();
        });
      });
    });
    grace.expires_after(kShutdownGrace);
    grace.async_wait([&](const asio::error_code& e) {
      if (e) return;
      // What is still in flight stays queued (active/ is recovered at the next start).
      server.close_all();
      io.stop();
    });
  });
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const asio::error_code& ec, int) {
      if (ec) return;
      log::info("master", "reload requested: not supported yet, keeping the current rules");
      wait_hup();
    });
  };
  wait_hup();

  auto qmgr_work = asio::make_work_guard(qmgr_io);
  std::thread qmgr_thread([&] { qmgr_io.run(); });
  asio::post(qmgr_io, [&] { manager.start(); });
  server.start();
  log::info("master", std::string("daemon started -- version ") + MP_VERSION + ", configuration " +
                          config.file.string());
  io.run();
  writer.on_committed(nullptr);
  qmgr_work.reset();
  qmgr_io.stop();
  qmgr_thread.join();
  // A late second signal must not kill the process now that its handler is gone.
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  log::info("master", "stopped");
  return 0;
}

}  // namespace mp
