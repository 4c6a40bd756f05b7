// The network transports (see smtp_relay.hpp): requests split into destinations, the
// per-destination gates, the idle-connection pool and its expiry. Everything runs on
// one strand; the host walks are in host_walk.cpp.
#include "transports/net/smtp_relay.hpp"

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "common/ascii.hpp"
#include "common/log.hpp"
#include "queue/delivery_log.hpp"
#include "transports/net/host_walk.hpp"

namespace mp::transports {
namespace {

// One request, answered when every destination's walk is done.
struct Job {
  DeliveryRequest request;
  std::function<void(DeliveryResult)> done;
  DeliveryResult results;
  std::size_t pending = 0;  // destinations not finished yet
  bool answered = false;
};

asio::awaitable<void> quit_and_close(std::unique_ptr<SmtpConnection> c) {
  co_await c->quit();
}

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
  }
  return "unknown error";
}

}  // namespace

struct SmtpRelay::Impl : std::enable_shared_from_this<SmtpRelay::Impl> {
  Impl(asio::io_context& io, RelaySettings s)
      : strand(asio::make_strand(io)),
        settings(std::move(s)),
        pool(settings.connection_cache_time, settings.concurrency),
        sweep(strand) {
    if (settings.mode == DestinationMode::smtp && settings.tls != SmtpTls::none)
      tls = make_client_tls_context();
  }

  asio::strand<asio::io_context::executor_type> strand;
  RelaySettings settings;
  std::shared_ptr<asio::ssl::context> tls;
  std::map<std::string, HopGate> gates;  // by destination key; nodes never move
  ConnectionPool pool;
  asio::steady_timer sweep;  // the next idle expiry
  bool sweep_armed = false;
  std::atomic<std::size_t> opened{0}, reused{0};

  const char* component() const { return settings.mode == DestinationMode::lmtp ? "lmtp" : "smtp"; }
  void enqueue(std::shared_ptr<Job> job);
  asio::awaitable<void> run(std::shared_ptr<Job> job, std::shared_ptr<Destination> d,
                            HopGate& gate);
  void merge(Job& job, const Destination& d, DeliveryResult part);
  void answer(Job& job);
  void park(const std::string& key, const std::string& host, std::unique_ptr<SmtpConnection> c);
  void discard(std::unique_ptr<SmtpConnection> c);
  void arm_sweep();
  void on_sweep();
  void close_idle();
};

SmtpRelay::SmtpRelay(asio::io_context& io, RelaySettings settings)
    : impl_(std::make_shared<Impl>(io, std::move(settings))) {}

SmtpRelay::~SmtpRelay() = default;

std::string_view SmtpRelay::name() const {
  return impl_->settings.mode == DestinationMode::lmtp ? "lmtp" : "smtp";
}

void SmtpRelay::deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->done = std::move(done);
  asio::post(impl_->strand, [impl = impl_, job] { impl->enqueue(job); });
}

void SmtpRelay::close_idle() {
  asio::post(impl_->strand, [impl = impl_] { impl->close_idle(); });
}

std::size_t SmtpRelay::connections_opened() const {
  return impl_->opened.load();
}

std::size_t SmtpRelay::connections_reused() const {
  return impl_->reused.load();
}

void SmtpRelay::Impl::enqueue(std::shared_ptr<Job> job) {
  const std::size_t n = job->request.recipients.size();
  job->results.assign(n, RecipientResult{});
  if (n == 0) return answer(*job);
  std::string error;
  auto destinations = plan_destinations(job->request, settings.mode, settings.default_port, error);
  if (!destinations) {
    Reply r{451, "4.3.5", "bad next hop '" + job->request.next_hop + "': " + error};
    job->results.assign(n, RecipientResult{Outcome::tempfail, r, "none"});
    return answer(*job);
  }
  job->pending = destinations->size();
  for (Destination& dest : *destinations) {
    auto d = std::make_shared<Destination>(std::move(dest));
    HopGate& gate = gates
                        .try_emplace(d->key, destination_limit(*d, settings.destination_concurrency,
                                                               settings.concurrency))
                        .first->second;
    gate.submit([self = shared_from_this(), job, d, &gate] {
      asio::co_spawn(
          self->strand, self->run(job, d, gate),
          asio::bind_executor(self->strand, [self, job, d, &gate](std::exception_ptr e) {
            if (e) {
              std::string what = what_of(e);
              log::error(self->component(), job->request.queue_id + ": " + what);
              Reply r{451, "4.3.0",
                      std::string("internal error in the ") + self->component() +
                          " transport: " + what};
              self->merge(*job, *d,
                          DeliveryResult(d->recipients.size(),
                                         RecipientResult{Outcome::tempfail, r, "none"}));
            }
            gate.release();
            // MX destinations come and go with the recipients' domains: forget idle gates
            // (host lists keep theirs, with the round-robin position).
            if (d->kind != DestinationKind::hosts && gate.active() == 0 && gate.waiting() == 0)
              self->gates.erase(d->key);
          }));
    });
  }
}

asio::awaitable<void> SmtpRelay::Impl::run(std::shared_ptr<Job> job, std::shared_ptr<Destination> d,
                                           HopGate& gate) {
  auto self = shared_from_this();
  WalkContext ctx;
  ctx.executor = strand;
  ctx.settings = &settings;
  ctx.tls = tls;
  ctx.pool = &pool;
  ctx.gate = &gate;
  ctx.park = [self](const std::string& key, const std::string& host,
                    std::unique_ptr<SmtpConnection> c) { self->park(key, host, std::move(c)); };
  ctx.discard = [self](std::unique_ptr<SmtpConnection> c) { self->discard(std::move(c)); };
  ctx.opened = [self] { ++self->opened; };
  ctx.reused = [self] { ++self->reused; };
  DeliveryResult part = co_await walk_destination(ctx, job->request, *d);
  merge(*job, *d, std::move(part));
}

void SmtpRelay::Impl::merge(Job& job, const Destination& d, DeliveryResult part) {
  if (job.answered) return;
  for (std::size_t k = 0; k < d.recipients.size(); ++k) {
    RecipientResult r = k < part.size() ? std::move(part[k])
                                        : RecipientResult{Outcome::tempfail,
                                                          Reply{451, "4.3.0", "no result"}, "none"};
    job.results[d.recipients[k]] = std::move(r);
  }
  if (job.pending > 0 && --job.pending == 0) answer(job);
}

void SmtpRelay::Impl::answer(Job& job) {
  if (job.answered) return;
  job.answered = true;
  // Failures are reasons (queue/delivery_log.hpp), never a reply code of our own.
  for (RecipientResult& r : job.results) {
    if (r.outcome != Outcome::ok) r.reply = queue::own_reason(r.reply);
  }
  auto done = std::move(job.done);
  if (done) done(std::move(job.results));
}

void SmtpRelay::Impl::park(const std::string& key, const std::string& host,
                           std::unique_ptr<SmtpConnection> c) {
  if (!c->ready()) return discard(std::move(c));
  auto evicted = pool.put(key, host, std::move(c), ConnectionPool::Clock::now());
  if (evicted) discard(std::move(*evicted));
  arm_sweep();
}

void SmtpRelay::Impl::discard(std::unique_ptr<SmtpConnection> c) {
  if (!c) return;
  if (!c->ready()) return;  // closed already: the destructor releases the socket
  asio::co_spawn(strand, quit_and_close(std::move(c)), asio::detached);
}

// Idle connections are parked with "now": a later one never expires before an earlier
// one, so one timer set for the oldest is enough; it re-arms itself while any remain.
void SmtpRelay::Impl::arm_sweep() {
  if (sweep_armed) return;
  auto next = pool.next_expiry();
  if (!next) return;
  sweep_armed = true;
  sweep.expires_at(*next);
  std::weak_ptr<Impl> weak = weak_from_this();
  sweep.async_wait(asio::bind_executor(strand, [weak](const asio::error_code&) {
    if (auto self = weak.lock()) self->on_sweep();
  }));
}

void SmtpRelay::Impl::on_sweep() {
  sweep_armed = false;
  for (auto& c : pool.expire(ConnectionPool::Clock::now())) discard(std::move(c));
  arm_sweep();
}

void SmtpRelay::Impl::close_idle() {
  for (auto& c : pool.drain()) discard(std::move(c));
  sweep.cancel();  // on_sweep() then finds nothing to do and does not re-arm
}

}  // namespace mp::transports
