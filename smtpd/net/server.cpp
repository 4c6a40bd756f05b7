#include "smtpd/net/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <stdexcept>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "smtpd/net/proxy_handshake.hpp"
#include "smtpd/net/session.hpp"
#include "smtpd/net/stream.hpp"

namespace mp::smtpd {

using asio::ip::tcp;

struct Server::Listening {
  tcp::acceptor acceptor;
  Listener config;
};

namespace {

tcp::endpoint endpoint_of(const Listener& l) {
  asio::error_code ec;
  asio::ip::address addr = (l.host == "*" || l.host.empty())
                               ? asio::ip::address(asio::ip::address_v6::any())
                               : asio::ip::make_address(l.host, ec);
  if (ec) throw std::runtime_error("listen " + l.text + ": bad address: " + ec.message());
  return tcp::endpoint(addr, l.port);
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const Config& config) {
  if (config.tls_cert.empty()) return nullptr;
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  asio::error_code ec;
  tls->use_certificate_chain_file(config.tls_cert.string(), ec);
  if (ec)
    throw std::runtime_error(config.tls_cert.string() +
                             ": cannot load certificate: " + ec.message());
  tls->use_private_key_file(config.tls_key.string(), asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error(config.tls_key.string() + ": cannot load key: " + ec.message());
  return tls;
}

Server::Server(asio::io_context& io, std::shared_ptr<const Config> config_ptr,
               queue::Writer& writer, RecipientCheck check)
    : io_(io),
      config_(std::move(config_ptr)),
      writer_(writer),
      check_(std::move(check)),
      tls_(make_tls_context(*config_)) {
  const Config& config = *config_;
  for (const Listener& l : config.listen) {
    tcp::endpoint ep = endpoint_of(l);
    auto lst = std::make_unique<Listening>(Listening{tcp::acceptor(io), l});
    asio::error_code ec;
    lst->acceptor.open(ep.protocol(), ec);
    if (!ec) lst->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) lst->acceptor.bind(ep, ec);
    if (!ec) lst->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("listen " + l.text + ": " + ec.message());
    listeners_.push_back(std::move(lst));
  }
}

Server::~Server() = default;

void Server::reconfigure(std::shared_ptr<const Config> config,
                         std::shared_ptr<asio::ssl::context> tls) {
  config_ = std::move(config);
  tls_ = std::move(tls);
}

void Server::start() {
  for (auto& l : listeners_) {
    asio::co_spawn(io_, accept_loop(*l), asio::detached);
    log::info("master", "listening on " + l->config.text);
  }
}

asio::awaitable<void> Server::accept_loop(Listening& l) {
  bool lmtp = l.config.protocol == Listener::Protocol::lmtp;
  while (!stopping_) {
    auto [ec, socket] =
        co_await l.acceptor.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || stopping_) co_return;
    if (ec) {
      log::warning("smtpd", "accept: " + ec.message());  // e.g. EMFILE: go on, do not spin
      continue;
    }
    asio::co_spawn(io_, run_session(std::move(socket), lmtp, l.config.proxy), asio::detached);
  }
}

asio::awaitable<void> Server::run_session(tcp::socket socket, bool lmtp, bool proxy) {
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  std::string ip = ec ? "unknown" : remote.address().to_string();
  Stream stream(std::move(socket));
  // This session's settings, kept alive here whatever a reload does meanwhile.
  std::shared_ptr<const Config> config_ptr = config_;
  std::shared_ptr<asio::ssl::context> tls = tls_;
  const Config& config = *config_ptr;
  metrics::registry().connections_total.inc();
  if (proxy) {  // the PROXY header names the real client: it stands for `ip` from here on
    std::optional<std::string> client = co_await proxy_handshake(stream, ip, config);
    if (!client) {
      stream.close();
      co_return;
    }
    ip = *client;
  }
  unsigned& from_ip = per_ip_[ip];
  if (live_.size() >= config.max_connections || from_ip >= config.max_connections_per_ip) {
    log::warning("smtpd", "too many connections from unknown[" + ip + "]");
    if (from_ip == 0) per_ip_.erase(ip);
    metrics::registry().connections_refused.inc();
    std::string refusal =
        Reply{421, "4.7.0", config.myhostname + " Error: too many connections"}.wire();
    stream.socket().non_blocking(true, ec);
    stream.socket().write_some(asio::buffer(refusal), ec);
    stream.close();
    co_return;
  }
  ++from_ip;
  live_.insert(&stream);
  metrics::registry().connections.add();
  SessionEnv env{config, writer_, tls.get(), check_, &stopping_, proxy ? ip : ""};
  try {
    co_await mp::smtpd::run_session(stream, lmtp, env);
  } catch (const std::exception& e) {
    log::error("smtpd", "session from unknown[" + ip + "] failed: " + e.what());
  }
  stream.close();
  session_ended(&stream, ip);
}

void Server::session_ended(Stream* s, const std::string& ip) {
  live_.erase(s);
  metrics::registry().connections.sub();
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  if (stopping_ && live_.empty() && idle_) std::exchange(idle_, nullptr)();
}

void Server::stop_accepting(std::function<void()> idle) {
  stopping_ = true;
  idle_ = std::move(idle);
  for (auto& l : listeners_) {
    asio::error_code ec;
    l->acceptor.close(ec);
  }
  // Idle clients are told at once; those in a transaction finish it first
  // (the session sends its 421 when it next waits for a command).
  std::string bye = Reply{421, "4.3.2", config_->myhostname + " Service shutting down"}.wire();
  for (Stream* s : live_) {
    if (!s->idle) continue;
    if (!s->tls()) {
      asio::error_code ec;
      s->socket().non_blocking(true, ec);
      s->socket().write_some(asio::buffer(bye), ec);
    }
    s->close();
  }
  if (live_.empty() && idle_) std::exchange(idle_, nullptr)();
}

void Server::close_all() {
  for (Stream* s : live_) s->close();
}

}  // namespace mp::smtpd
