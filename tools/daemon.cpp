#include "tools/daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "common/privileges.hpp"
#include "common/unique_fd.hpp"
#include "queue/layout.hpp"
#include "queue/manager/manager.hpp"
#include "queue/spool_owner.hpp"
#include "queue/writer.hpp"
#include "rewrite/router.hpp"
#include "smtpd/net/metrics_http.hpp"
#include "smtpd/net/server.hpp"
#include "tools/control_server.hpp"
#include "tools/reload.hpp"
#include "tools/submit_server.hpp"
#include "tools/transports.hpp"

namespace mp {

namespace {

constexpr std::chrono::seconds kShutdownGrace{10};

// One daemon per spool: a second one must not purge the first one's tmp/ nor
// deliver its active mail twice. The lock dies with the process (kill -9 too).
int lock_spool(int root_fd, const std::filesystem::path& spooldir) {
  std::filesystem::path path = spooldir / "master.lock";
  // Never through a link the spool's owner may have planted (root opens this file).
  int fd = ::openat(root_fd, "master.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                    0600);
  if (fd < 0 && errno == ELOOP)
    throw std::runtime_error(path.string() + " is a symbolic link: refusing to start");
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path.string());
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    ::close(fd);  // a hard link could name a file of root's elsewhere
    throw std::runtime_error(path.string() + " is not a plain file: refusing to start");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw std::runtime_error("another mailprocd is running on " + spooldir.string() + " (" +
                             path.string() + " is locked)");
  }
  return fd;
}

// Creates what is missing of the spool and locks it. Started as root, this
// works on descriptors only and changes the owner of nothing already inside
// (queue/spool_owner.hpp); otherwise the spool is simply made.
int open_spool(const queue::Layout& layout, const std::optional<UnixUser>& user) {
  if (!user) {
    layout.create();
    UniqueFd root(::open(layout.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0)
      throw std::system_error(errno, std::generic_category(), "open " + layout.root().string());
    return lock_spool(root.get(), layout.root());
  }
  queue::SpoolOwner owner{user->name, user->uid, user->gid};
  UniqueFd root = queue::prepare_spool_root(layout, owner);
  int lock = lock_spool(root.get(), layout.root());  // before anything inside is touched
  queue::prepare_sub_queues(root.get(), layout, owner);
  return lock;
}

}  // namespace

int run_daemon(const Config& config) {
  log::open(config.log, config.myhostname);
  auto router = std::make_shared<const rewrite::Router>(config);  // throws ConfigError
  std::optional<UnixUser> user;
  if (running_as_root()) user = lookup_user(config.user);

  queue::Layout layout(config.spooldir);
  int spool_lock = open_spool(layout, user);  // held until exit

  // Two event loops: the SMTP front end (this thread) and the queue manager with
  // the network transports (its own thread). Blocking disk work runs on pools.
  asio::io_context io(1);
  asio::io_context qmgr_io(1);
  Transports transports(qmgr_io, config, user.has_value());  // forks the root spawner first
  queue::Writer writer(layout);
  // mpsendmail for users who may not write the spool (before privileges go: /run/mailproc).
  std::unique_ptr<submit::Server> submit_server =
      submit::start_server(io, config.submit_socket, writer, config);
  std::shared_ptr<const rewrite::Router> current_router = router;
  std::shared_ptr<const Config> running = std::make_shared<const Config>(config);  // io thread
  smtpd::Server server(
      io, running, writer, [&current_router](const Address& sender, const Address& rcpt) {
        std::shared_ptr<const rewrite::Router> r = std::atomic_load(&current_router);
        rewrite::Route route = r->resolve(sender, rcpt);
        if (!route.reject && route.hop.kind == rewrite::HopKind::error) {
          // An `error:` route refuses at RCPT, as Postfix's error transport does.
          std::string text =
              route.hop.message.empty() ? "Recipient address rejected" : route.hop.message;
          return std::optional<Reply>(Reply{route.hop.status[0] == '4' ? 450 : 550,
                                            route.hop.status, rcpt.bracketed() + ": " + text});
        }
        return route.reject;
      });
  std::optional<smtpd::MetricsServer> metrics;  // binds now, serves from a thread of its own
  if (config.metrics_listen) metrics.emplace(*config.metrics_listen, config.spooldir);
  if (user) drop_privileges(*user);  // process-wide, every thread included
  // As the spool's owner: nothing root does may follow what that user controls.
  try {  // leftovers only: one that cannot be removed is no reason not to start
    if (std::size_t purged = layout.purge_tmp())
      log::info("master", "removed " + std::to_string(purged) + " uncommitted file(s) from tmp/");
  } catch (const std::exception& e) {
    log::warning("master", std::string("cannot purge tmp/: ") + e.what());
  }

  queue::Manager manager(
      qmgr_io, layout, writer, queue::ManagerSettings::from(config), router,
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
    log::info("master",
              std::string("terminating on signal ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    server.stop_accepting([&] {
      front_done = true;
      maybe_exit();
    });
    asio::post(qmgr_io, [&] {
      transports.stop();
      manager.stop([&] {
        transports.close_idle();  // cached outbound connections get their QUIT
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
  // Reload (SIGHUP, `mpqueue reload`): the config and every map file are read and
  // validated as a whole off the event loop (tools/reload.hpp); on any error nothing
  // changes. Then, here on the front end's loop, every part takes what it can: new SMTP
  // sessions and the submit socket the new Config, routing the new Router, the queue
  // manager its settings. The keys only a restart applies are named in the reply and log.
  std::thread reloader;  // one reload at a time; joined before the next and at exit
  control::ReloadFn reload = [&](std::function<void(control::ReloadResult)> done) {
    if (reloader.joinable()) reloader.join();
    reloader =
        std::thread([&, done = std::move(done), before = running, tls = server.tls_context()] {
          auto prepared = std::make_shared<PreparedReload>(prepare_reload(*before, tls));
          asio::post(io, [&, prepared, done] {
            control::ReloadResult result;
            result.ok = prepared->errors.empty();
            if (result.ok) {
              running = prepared->config;
              server.reconfigure(running, prepared->tls);
              if (submit_server) submit_server->set_settings(submit::Settings::from(*running));
              std::atomic_store(&current_router, prepared->router);
              manager.set_router(prepared->router);
              manager.set_settings(queue::ManagerSettings::from(*running));
              log::info("master", "reload: configuration and map files reloaded");
              for (const std::string& n : prepared->notices) log::warning("master", "reload: " + n);
              result.notices = prepared->notices;
            } else {
              for (const std::string& e : prepared->errors)
                log::warning("master", "reload refused, old settings kept: " + e);
              result.errors = prepared->errors;
            }
            if (done) done(std::move(result));
          });
        });
  };
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const asio::error_code& ec, int) {
      if (ec) return;
      log::info("master", "reload requested by SIGHUP");
      reload(nullptr);
      wait_hup();
    });
  };
  wait_hup();
  // control socket: started here (tools/control_server), with `manager` and `reload`.
  control::Server control(io, config.control_socket, manager, reload);  // mpqueue; owner-only
  control.start();

  auto qmgr_work = asio::make_work_guard(qmgr_io);
  std::thread qmgr_thread([&] { qmgr_io.run(); });
  asio::post(qmgr_io, [&] { manager.start(); });
  server.start();
  log::info("master", std::string("daemon started -- version ") + MP_VERSION + ", configuration " +
                          config.file.string());
  io.run();
  if (reloader.joinable()) reloader.join();
  writer.on_committed(nullptr);
  qmgr_work.reset();
  qmgr_io.stop();
  qmgr_thread.join();
  // A late second signal must not kill the process now that its handler is gone.
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  ::close(spool_lock);
  log::info("master", "stopped");
  return 0;
}

}  // namespace mp
