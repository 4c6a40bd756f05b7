#include "tools/daemon.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>

#include "common/log.hpp"
#include "common/privileges.hpp"
#include "queue/layout.hpp"
#include "queue/writer.hpp"
#include "smtpd/net/server.hpp"

namespace mp {
namespace {

constexpr std::chrono::seconds kShutdownGrace{10};

}  // namespace

int run_daemon(const Config& config) {
  log::open(config.log, config.myhostname);
  std::optional<UnixUser> user;
  if (running_as_root()) user = lookup_user(config.user);

  queue::Layout layout(config.spooldir);
  layout.create();
  if (user) chown_tree(config.spooldir, *user);
  if (std::size_t purged = layout.purge_tmp())
    log::info("master", "removed " + std::to_string(purged) + " uncommitted file(s) from tmp/");

  asio::io_context io(1);
  queue::Writer writer(layout);
  smtpd::Server server(io, config, writer);  // binds: may need root for port 25
  if (user) drop_privileges(*user);          // process-wide, writer threads included

  asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  asio::signal_set hup(io, SIGHUP);
  asio::steady_timer grace(io);
  std::signal(SIGPIPE, SIG_IGN);

  stop_signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    log::info("master", std::string("terminating on signal ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    server.stop_accepting([&] { io.stop(); });
    grace.expires_after(kShutdownGrace);
    grace.async_wait([&](const asio::error_code& e) {
      if (e) return;
      server.close_all();
      io.stop();
    });
  });
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const asio::error_code& ec, int) {
      if (ec) return;
      log::info("master", "reload requested: nothing to reload yet");
      wait_hup();
    });
  };
  wait_hup();

  server.start();
  log::info("master", std::string("daemon started -- version ") + MP_VERSION + ", configuration " +
                          config.file.string());
  io.run();
  log::info("master", "stopped");
  return 0;
}

}  // namespace mp
