// The relay transport (see smtp_relay.hpp): per-next-hop gates and the host walk with
// failover. Everything runs on one strand.
#include "transports/net/smtp_relay.hpp"

#include <algorithm>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "transports/net/relay_hosts.hpp"
#include "transports/net/smtp_connection.hpp"

namespace mp::transports {
namespace {

using asio::ip::tcp;

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Outcome failure_outcome(const Reply& r) {
  return r.permanent() ? Outcome::permfail : Outcome::tempfail;
}

// Postfix's words for a host that failed, for the log line about skipping it.
std::string host_failure_text(const SessionFailure& f, const std::string& name_addr) {
  if (!f.remote) return f.reply.text;
  if (f.command.empty()) return "host " + name_addr + " refused to talk to me: " + f.reply.line();
  return "host " + name_addr + " said: " + f.reply.line() + " (in reply to " + f.command +
         " command)";
}

struct Job {
  DeliveryRequest request;
  std::function<void(DeliveryResult)> done;
  bool answered = false;
};

}  // namespace

struct SmtpRelay::Impl : std::enable_shared_from_this<SmtpRelay::Impl> {
  Impl(asio::io_context& io, RelaySettings s)
      : strand(asio::make_strand(io)), settings(std::move(s)) {}

  asio::strand<asio::io_context::executor_type> strand;
  RelaySettings settings;
  std::map<std::string, HopGate> gates;  // by next hop, lowercased; nodes never move

  void enqueue(std::shared_ptr<Job> job);
  asio::awaitable<void> run(std::shared_ptr<Job> job, HopGate& gate);
  asio::awaitable<DeliveryResult> attempt(const Job& job, HopGate& gate,
                                          std::unique_ptr<SmtpConnection>& keep);
  asio::awaitable<std::pair<std::vector<tcp::endpoint>, std::string>> resolve(
      const RelayHost& host);
  void answer(Job& job, DeliveryResult results);
};

SmtpRelay::SmtpRelay(asio::io_context& io, RelaySettings settings)
    : impl_(std::make_shared<Impl>(io, std::move(settings))) {}

SmtpRelay::~SmtpRelay() = default;

void SmtpRelay::deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->done = std::move(done);
  asio::post(impl_->strand, [impl = impl_, job] { impl->enqueue(job); });
}

void SmtpRelay::Impl::enqueue(std::shared_ptr<Job> job) {
  if (job->request.recipients.empty()) {
    answer(*job, {});
    return;
  }
  HopGate& gate =
      gates.try_emplace(lower(job->request.next_hop), settings.concurrency).first->second;
  gate.submit([self = shared_from_this(), job, &gate] {
    asio::co_spawn(self->strand, self->run(job, gate),
                   asio::bind_executor(self->strand, [self, job, &gate](std::exception_ptr e) {
                     if (e && !job->answered) {
                       std::string what = "unknown error";
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         what = x.what();
                       } catch (...) {
                       }
                       log::error("smtp", job->request.queue_id + ": " + what);
                       Reply r{451, "4.3.0", "internal error in the smtp transport: " + what};
                       DeliveryResult out(job->request.recipients.size(),
                                          RecipientResult{Outcome::tempfail, r, "none"});
                       self->answer(*job, std::move(out));
                     }
                     gate.release();
                   }));
  });
}

asio::awaitable<void> SmtpRelay::Impl::run(std::shared_ptr<Job> job, HopGate& gate) {
  std::unique_ptr<SmtpConnection> conn;
  DeliveryResult results = co_await attempt(*job, gate, conn);
  answer(*job, std::move(results));
  // The outcome is known: QUIT politely afterwards (issue 4 may keep the connection).
  if (conn) co_await conn->quit();
}

asio::awaitable<std::pair<std::vector<tcp::endpoint>, std::string>> SmtpRelay::Impl::resolve(
    const RelayHost& host) {
  std::vector<tcp::endpoint> out;
  if (host.literal) {
    asio::error_code ec;
    asio::ip::address addr = asio::ip::make_address(host.host, ec);
    if (!ec) out.emplace_back(addr, host.port);
    co_return std::pair{out, ec ? "bad address " + host.host : std::string()};
  }
  // Issue 4 brings the ldns Resolver; until then the system's (getaddrinfo has its own limits).
  tcp::resolver resolver(strand);
  auto [ec, results] = co_await resolver.async_resolve(
      host.host, std::to_string(host.port), asio::ip::resolver_base::numeric_service, kTuple);
  if (!ec) {
    for (const auto& entry : results) {
      tcp::endpoint ep = entry.endpoint();
      if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
    }
  }
  if (out.empty()) {
    co_return std::pair{out,
                        "Host or domain name not found. Name service error for name=" + host.host +
                            " type=A: " + (ec ? ec.message() : std::string("no address"))};
  }
  co_return std::pair{out, std::string()};
}

asio::awaitable<DeliveryResult> SmtpRelay::Impl::attempt(const Job& job, HopGate& gate,
                                                         std::unique_ptr<SmtpConnection>& keep) {
  const DeliveryRequest& req = job.request;
  const std::size_t n = req.recipients.size();
  DeliveryResult out(n);
  std::vector<bool> decided(n, false);
  auto undecided = [&] {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < n; ++i) {
      if (!decided[i]) idx.push_back(i);
    }
    return idx;
  };
  auto decide = [&](std::size_t i, Outcome o, const Reply& r, const std::string& relay) {
    out[i] = RecipientResult{o, r, relay};
    decided[i] = true;
  };
  // A host (address) failed: say so in the log, as Postfix does; the walk goes on.
  auto skip = [&](const std::string& text) { log::info("smtp", req.queue_id + ": " + text); };

  std::string error;
  auto hosts = parse_relay_hosts(req.next_hop, settings.default_port, error);
  if (!hosts) {
    Reply r{451, "4.3.5", "bad next hop '" + req.next_hop + "': " + error};
    for (std::size_t i = 0; i < n; ++i) decide(i, Outcome::tempfail, r, "none");
    co_return out;
  }

  // The reason the undecided recipients get when every host failed.
  Reply last{451, "4.4.1", "no host was tried"};
  std::string last_relay = "none";

  const std::size_t start = gate.next_start(hosts->size());
  bool finished = false;
  for (std::size_t k = 0; k < hosts->size() && !finished; ++k) {
    const RelayHost& host = (*hosts)[(start + k) % hosts->size()];
    auto [endpoints, resolve_error] = co_await resolve(host);
    if (endpoints.empty()) {
      last = Reply{451, "4.4.3", resolve_error};
      last_relay = "none";
      skip(resolve_error);
      continue;
    }
    for (const tcp::endpoint& ep : endpoints) {
      auto conn = std::make_unique<SmtpConnection>(strand, settings.timeouts);
      std::string connect_error = co_await conn->connect(host.host, ep);
      if (!connect_error.empty()) {
        last = Reply{451, "4.4.1", connect_error};
        last_relay = "none";
        skip(connect_error);
        continue;
      }
      ClientSettings cs;
      cs.helo_name = settings.helo_name;
      bool ready = co_await conn->open(cs);
      if (!ready) {
        const SessionFailure& f = *conn->protocol().failure();
        if (f.try_next_host) {
          last = f.reply;
          last_relay = conn->relay();
          skip(host_failure_text(f, conn->name_addr()));
          continue;
        }
        for (std::size_t i : undecided())
          decide(i, failure_outcome(f.reply), f.reply, conn->relay());
        finished = true;
        break;
      }

      std::vector<std::size_t> idx = undecided();
      Transaction tx;
      tx.sender = req.sender;
      for (std::size_t i : idx) tx.recipients.push_back(req.recipients[i].address);
      tx.message = req.message;
      tx.smtputf8 = req.smtputf8;
      tx.eightbit = req.eightbit;
      co_await conn->send(std::move(tx));
      const std::vector<ClientResult>& rs = conn->protocol().results();
      for (std::size_t j = 0; j < idx.size() && j < rs.size(); ++j) {
        if (rs[j].decided) {
          decide(idx[j], rs[j].outcome, rs[j].reply, conn->relay());
        }
      }
      const auto& f = conn->protocol().failure();
      if (f) {
        last = f->reply;
        last_relay = conn->relay();
        if (f->try_next_host && !undecided().empty()) {
          skip(host_failure_text(*f, conn->name_addr()));
          continue;
        }
      }
      if (conn->protocol().step() == ClientStep::ready) keep = std::move(conn);
      finished = true;
      break;
    }
  }
  for (std::size_t i : undecided()) decide(i, Outcome::tempfail, last, last_relay);
  co_return out;
}

void SmtpRelay::Impl::answer(Job& job, DeliveryResult results) {
  job.answered = true;
  auto done = std::move(job.done);
  if (done) done(std::move(results));
}

}  // namespace mp::transports
