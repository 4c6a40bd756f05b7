// The host walk of one delivery to one destination (see host_walk.hpp).
#include "transports/net/host_walk.hpp"

#include <algorithm>
#include <asio/async_result.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "queue/delivery_log.hpp"
#include "transports/mx_plan.hpp"
#include "transports/resolver.hpp"

namespace mp::transports {
namespace {

using asio::ip::tcp;

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Asks the Resolver (whose callback may run on any thread, or at once) and resumes on
// `executor` with the answer.
template <typename Answer, typename Start>
asio::awaitable<Answer> ask_resolver(asio::any_io_executor executor, const Start& start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Answer)>(
      [executor, start](auto handler) mutable {
        auto h = std::make_shared<std::decay_t<decltype(handler)>>(std::move(handler));
        start([executor, h](Answer answer) {
          asio::post(executor,
                     [h, answer = std::move(answer)]() mutable { (*h)(std::move(answer)); });
        });
      },
      asio::use_awaitable);
}

Outcome failure_outcome(const Reply& r) {
  return r.permanent() ? Outcome::permfail : Outcome::tempfail;
}

// A failure as a reason in Postfix's words (queue/delivery_log.hpp): "host NAME[ip]
// said: 421 ... (in reply to RCPT TO command)" when the host answered, else our own
// text; code 0 either way.
Reply reason_of(bool remote, const Reply& reply, const std::string& name_addr,
                const std::string& command) {
  return remote ? queue::remote_reason(reply, name_addr, command) : queue::own_reason(reply);
}

Reply reason_of(const SessionFailure& f, const std::string& name_addr) {
  return reason_of(f.remote, f.reply, name_addr, f.command);
}

// The same as one line, for the log line about skipping the host.
std::string host_failure_text(const SessionFailure& f, const std::string& name_addr) {
  return queue::reason_text(reason_of(f, name_addr));
}

asio::ip::address parse_ip(const std::string& text, asio::error_code& ec) {
  return asio::ip::make_address(text, ec);
}

// What the walk does after one connection.
enum class Next {
  done,     // every recipient is decided (or a final failure decided them)
  next,     // try the next address or host with the undecided recipients
  replace,  // a reused connection failed before deciding anything: a fresh one
};

class Walk {
 public:
  Walk(WalkContext& ctx, const DeliveryRequest& req, const Destination& d)
      : ctx_(ctx),
        s_(*ctx.settings),
        req_(req),
        dest_(d),
        out_(d.recipients.size()),
        decided_(d.recipients.size(), false),
        soft_(d.recipients.size()) {}

  asio::awaitable<DeliveryResult> run() {
    switch (dest_.kind) {
      case DestinationKind::hosts:
        co_await walk_hosts();
        break;
      case DestinationKind::mx:
        co_await walk_mx();
        break;
      case DestinationKind::unix_socket:
        co_await walk_unix();
        break;
    }
    finish();  // own failures keep their code here: SmtpRelay makes them reasons
    co_return std::move(out_);
  }

 private:
  const char* component() const { return s_.mode == DestinationMode::lmtp ? "lmtp" : "smtp"; }
  void log_line(const std::string& text) const {
    log::info(component(), req_.queue_id + ": " + text);
  }

  std::vector<std::size_t> undecided() const {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < decided_.size(); ++i) {
      if (!decided_[i]) idx.push_back(i);
    }
    return idx;
  }
  void decide(std::size_t i, Outcome o, const Reply& r, const std::string& relay) {
    if (decided_[i]) return;
    out_[i] = RecipientResult{o, r, relay};
    decided_[i] = true;
  }
  void decide_rest(Outcome o, const Reply& r, const std::string& relay) {
    for (std::size_t i : undecided()) decide(i, o, r, relay);
  }
  bool all_decided() const {
    return std::all_of(decided_.begin(), decided_.end(), [](bool b) { return b; });
  }
  // A host could not be used: remember why, log it, go on.
  void skip(const Reply& why, const std::string& relay, const std::string& text) {
    last_ = why;
    last_relay_ = relay;
    log_line(text);
  }

  // Every recipient still undecided: its own last 4xx, else the last host failure; for MX
  // without any host that had an address, the address lookups' verdict.
  void finish() {
    for (std::size_t i : undecided()) {
      if (soft_[i]) {
        decide(i, soft_[i]->outcome, soft_[i]->reply, soft_[i]->relay);
      } else if (!tried_ && dns_temp_) {
        decide(i, Outcome::tempfail, *dns_temp_, "none");
      } else if (!tried_ && dns_perm_) {
        decide(i, Outcome::permfail, *dns_perm_, "none");
      } else {
        decide(i, Outcome::tempfail, last_, last_relay_);
      }
    }
  }

  ClientSettings client_settings(StartTls tls) const {
    ClientSettings cs;
    cs.helo_name = s_.helo_name;
    cs.lmtp = s_.mode == DestinationMode::lmtp;
    cs.starttls = tls;
    return cs;
  }
  StartTls tls_policy() const {
    if (s_.mode == DestinationMode::lmtp) return StartTls::never;
    switch (s_.tls) {
      case SmtpTls::none:
        return StartTls::never;
      case SmtpTls::may:
        return ctx_.tls ? StartTls::if_offered : StartTls::never;
      case SmtpTls::encrypt:
        return StartTls::required;
    }
    return StartTls::never;
  }

  // ---- destinations

  asio::awaitable<void> walk_hosts() {
    const auto& hosts = dest_.hosts;
    std::size_t start = dest_.round_robin && ctx_.gate ? ctx_.gate->next_start(hosts.size()) : 0;
    for (std::size_t k = 0; k < hosts.size() && !all_decided(); ++k) {
      const RelayHost& h = hosts[(start + k) % hosts.size()];
      std::string key = host_key(h);
      Next n = co_await try_pooled(key);
      if (n == Next::done) co_return;
      if (n == Next::next) continue;
      auto [endpoints, error] = co_await resolve_host(h);
      if (endpoints.empty()) {
        skip(Reply{451, "4.4.3", error}, "none", error);
        continue;
      }
      if (co_await try_endpoints(h.host, key, endpoints)) co_return;
    }
  }

  asio::awaitable<void> walk_mx() {
    if (dest_.domain.empty()) {
      decide_rest(Outcome::permfail, Reply{550, "5.1.2", "recipient address has no domain"},
                  "none");
      co_return;
    }
    Resolver* resolver = s_.resolver;
    if (!resolver) {
      decide_rest(Outcome::tempfail,
                  Reply{451, "4.3.5", "no DNS resolver for MX delivery to " + dest_.domain},
                  "none");
      co_return;
    }
    // A pooled connection to any MX host of the domain serves (Postfix does the same).
    const std::string any_host;
    if (co_await try_pooled(any_host) == Next::done) co_return;
    auto ask_mx = [resolver, domain = dest_.domain](std::function<void(MxAnswer)> done) {
      resolver->resolve_mx(domain, std::move(done));
    };
    MxAnswer mx = co_await ask_resolver<MxAnswer>(ctx_.executor, ask_mx);
    MxPlan plan = plan_mx(dest_.domain, mx, s_.helo_name);
    if (plan.kind != MxPlan::Kind::hosts) {
      decide_rest(plan.kind == MxPlan::Kind::permfail ? Outcome::permfail : Outcome::tempfail,
                  plan.reply, "none");
      co_return;
    }
    for (const std::string& host : plan.hosts) {
      if (all_decided()) co_return;
      RelayHost h{host, s_.default_port, false};
      std::string key = host_key(h);
      if (used_.count(key)) continue;  // served a transaction already (pooled, above)
      Next pooled = co_await try_pooled(key);
      if (pooled == Next::done) co_return;
      if (pooled == Next::next) continue;
      std::vector<tcp::endpoint> endpoints;
      asio::error_code ec;
      asio::ip::address literal = parse_ip(host, ec);
      if (!ec) {
        endpoints.emplace_back(literal, h.port);
      } else {
        auto ask = [resolver, host](std::function<void(AddressAnswer)> done) {
          resolver->resolve_addresses(host, std::move(done));
        };
        AddressAnswer answer = co_await ask_resolver<AddressAnswer>(ctx_.executor, ask);
        AddressPlan ap = plan_addresses(host, answer);
        if (ap.kind != AddressPlan::Kind::addresses) {
          if (ap.kind == AddressPlan::Kind::tempfail) {
            dns_temp_ = ap.reply;
          } else if (!dns_perm_) {
            dns_perm_ = ap.reply;
          }
          skip(ap.reply, "none", ap.reply.text);
          continue;
        }
        for (const std::string& a : ap.addresses) {
          asio::ip::address addr = parse_ip(a, ec);
          if (!ec) endpoints.emplace_back(addr, h.port);
        }
      }
      if (co_await try_endpoints(host, key, endpoints)) co_return;
    }
  }

  asio::awaitable<void> walk_unix() {
    const std::string& path = dest_.socket;
    Next n = co_await try_pooled(path);
    if (n == Next::done || n == Next::next) co_return;
    std::string name = s_.helo_name;
    // Named, not a temporary in the co_await expression (g++ 12 destroys those twice).
    auto connect = [name, path](SmtpConnection& c) { return c.connect_unix(name, path); };
    co_await try_connect(path, connect);
  }

  // ---- hosts and connections

  // The addresses of a listed host: an IP literal as it is; a name through the system's
  // resolver (/etc/hosts, then DNS), then the Resolver (dns_servers) when that found none.
  asio::awaitable<std::pair<std::vector<tcp::endpoint>, std::string>> resolve_host(
      const RelayHost& host) {
    std::vector<tcp::endpoint> out;
    asio::error_code ec;
    if (host.literal) {
      asio::ip::address addr = parse_ip(host.host, ec);
      if (!ec) out.emplace_back(addr, host.port);
      co_return std::pair{out, ec ? "bad address " + host.host : std::string()};
    }
    tcp::resolver system(ctx_.executor);
    auto [rec, results] = co_await system.async_resolve(
        host.host, std::to_string(host.port), asio::ip::resolver_base::numeric_service, kTuple);
    if (!rec) {
      for (const auto& entry : results) {
        tcp::endpoint ep = entry.endpoint();
        if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
      }
    }
    std::string error = rec ? rec.message() : std::string("no address");
    if (out.empty() && s_.resolver) {
      Resolver* resolver = s_.resolver;
      auto ask = [resolver, name = host.host](std::function<void(AddressAnswer)> done) {
        resolver->resolve_addresses(name, std::move(done));
      };
      AddressAnswer answer = co_await ask_resolver<AddressAnswer>(ctx_.executor, ask);
      for (const std::string& a : answer.addresses) {
        asio::ip::address addr = parse_ip(a, ec);
        if (!ec) out.emplace_back(addr, host.port);
      }
      if (answer.status == DnsStatus::tempfail && !answer.error.empty()) error = answer.error;
    }
    if (out.empty()) {
      co_return std::pair{out, "Host or domain name not found. Name service error for name=" +
                                   host.host + " type=A: " + error};
    }
    co_return std::pair{out, std::string()};
  }

  // Each address of one host in turn; true when the walk is over.
  asio::awaitable<bool> try_endpoints(const std::string& name, const std::string& key,
                                      const std::vector<tcp::endpoint>& endpoints) {
    for (const tcp::endpoint& ep : endpoints) {
      auto connect = [name, ep](SmtpConnection& c) { return c.connect(name, ep); };
      Next n = co_await try_connect(key, connect);
      if (n == Next::done || all_decided()) co_return true;
    }
    co_return false;
  }

  // Idle connections of this destination (to host `key`; any host when empty), each after
  // RSET. `replace` when none was usable (or one failed before deciding anything).
  asio::awaitable<Next> try_pooled(const std::string& key) {
    if (!ctx_.pool) co_return Next::replace;
    for (;;) {
      auto now = ConnectionPool::Clock::now();
      std::optional<std::unique_ptr<SmtpConnection>> c = ctx_.pool->take(dest_.key, key, now);
      if (!c) co_return Next::replace;
      std::unique_ptr<SmtpConnection> conn = std::move(*c);
      if (!co_await conn->reset()) {
        ctx_.discard(std::move(conn));
        continue;
      }
      if (ctx_.reused) ctx_.reused();
      std::string conn_key = host_key_of(*conn, key);
      Next n = co_await transact(conn, true, conn_key);
      if (n != Next::replace) co_return n;
    }
  }

  // The pool key of a reused connection: the one it was taken under, or, for "any host",
  // the host it is connected to.
  std::string host_key_of(const SmtpConnection& c, const std::string& key) const {
    if (!key.empty()) return key;
    return host_key(RelayHost{c.host(), s_.default_port, false});
  }

  // A new connection (made by `connect`) to host `key`: greeting, EHLO, TLS, transaction.
  template <typename Connect>
  asio::awaitable<Next> try_connect(const std::string& key, const Connect& connect) {
    StartTls tls = tls_policy();
    for (;;) {
      auto conn = std::make_unique<SmtpConnection>(ctx_.executor, s_.timeouts,
                                                   tls == StartTls::never ? nullptr : ctx_.tls);
      tried_ = true;
      std::string error = co_await connect(*conn);
      if (!error.empty()) {
        skip(Reply{451, "4.4.1", error}, "none", error);
        co_return Next::next;
      }
      if (ctx_.opened) ctx_.opened();
      bool ready = co_await conn->open(client_settings(tls));
      if (!ready) {
        const SessionFailure& f = *conn->protocol().failure();
        if (conn->tls_handshake_failed() && tls == StartTls::if_offered) {
          // Opportunistic TLS that does not work: the same address in plaintext.
          log_line(f.reply.text + "; trying again without TLS");
          tls = StartTls::never;
          continue;
        }
        if (f.try_next_host) {
          skip(f.reply, conn->relay(), host_failure_text(f, conn->name_addr()));
          co_return Next::next;
        }
        decide_rest(failure_outcome(f.reply), reason_of(f, conn->name_addr()), conn->relay());
        co_return Next::done;
      }
      if (!conn->tls_info().empty()) log_line(conn->tls_info());
      co_return co_await transact(conn, false, key);
    }
  }

  // One transaction with the undecided recipients over a ready connection.
  asio::awaitable<Next> transact(std::unique_ptr<SmtpConnection>& conn, bool reused,
                                 const std::string& key) {
    std::vector<std::size_t> idx = undecided();
    Transaction tx;
    tx.sender = req_.sender;
    for (std::size_t i : idx) tx.recipients.push_back(req_.recipients[dest_.recipients[i]].address);
    tx.message = req_.message;
    tx.smtputf8 = req_.smtputf8;
    tx.eightbit = req_.eightbit;
    co_await conn->send(std::move(tx));
    tried_ = true;
    used_.insert(key);
    const std::vector<ClientResult>& rs = conn->protocol().results();
    const std::optional<SessionFailure>& f = conn->protocol().failure();
    bool any = std::any_of(rs.begin(), rs.end(), [](const ClientResult& r) { return r.decided; });
    if (reused && f && f->try_next_host && !any) {
      // The pooled connection went stale: nothing happened, nobody needs to hear of it.
      ctx_.discard(std::move(conn));
      co_return Next::replace;
    }
    for (std::size_t j = 0; j < idx.size() && j < rs.size(); ++j) {
      const ClientResult& r = rs[j];
      if (!r.decided) continue;
      Reply why = r.outcome == Outcome::ok
                      ? r.reply
                      : reason_of(r.remote, r.reply, conn->name_addr(), r.command);
      if (r.outcome == Outcome::tempfail && r.remote) {
        // A 4xx from this host: another host may take it; if none does, this is the answer.
        soft_[idx[j]] = RecipientResult{r.outcome, why, conn->relay()};
      } else {
        decide(idx[j], r.outcome, why, conn->relay());
      }
    }
    Next next = all_decided() ? Next::done : Next::next;
    if (f) {
      last_ = reason_of(*f, conn->name_addr());
      last_relay_ = conn->relay();
      if (f->try_next_host && next == Next::next)
        log_line(host_failure_text(*f, conn->name_addr()));
      if (!f->try_next_host) next = Next::done;
    }
    if (conn->ready()) {
      ctx_.park(dest_.key, key, std::move(conn));
    } else {
      ctx_.discard(std::move(conn));
    }
    co_return next;
  }

  WalkContext& ctx_;
  const RelaySettings& s_;
  const DeliveryRequest& req_;
  const Destination& dest_;
  DeliveryResult out_;
  std::vector<bool> decided_;
  std::vector<std::optional<RecipientResult>> soft_;
  Reply last_{451, "4.4.1", "no host was tried"};
  std::string last_relay_ = "none";
  bool tried_ = false;          // a connection was attempted
  std::set<std::string> used_;  // host keys that had a transaction
  std::optional<Reply> dns_temp_, dns_perm_;
};

}  // namespace

asio::awaitable<DeliveryResult> walk_destination(WalkContext& ctx, const DeliveryRequest& request,
                                                 const Destination& destination) {
  Walk walk(ctx, request, destination);
  co_return co_await walk.run();
}

}  // namespace mp::transports
