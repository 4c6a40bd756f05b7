// The I/O side of one outbound SMTP/LMTP connection (see smtp_connection.hpp). Deadlines:
// each socket operation races a steady_timer with awaitable_operators' `||` (Asio 1.22
// has no cancel_after); the limits differ per phase, so one shared watchdog won't do.
#include "transports/net/smtp_connection.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <functional>
#include <string_view>

namespace mp::transports {
namespace {

using namespace asio::experimental::awaitable_operators;
using GenericSocket = asio::generic::stream_protocol::socket;

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kWriteChunk = 64 * 1024;  // the data deadline is renewed per chunk

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The conversation: write what the protocol wants sent, read one reply, repeat, until
// the protocol stops waiting for replies. Every write (of at most one chunk) and every
// read races a timer set to the limit of what the protocol is waiting for; socket
// errors and timeouts are reported to the protocol. `Stream` is the socket or TLS on it.
template <typename Stream>
asio::awaitable<void> converse(Stream& stream, SmtpClientProtocol& p, std::string& in,
                               const std::function<std::chrono::milliseconds()>& limit) {
  asio::steady_timer timer(stream.get_executor());
  std::array<char, 16 * 1024> buf;
  for (;;) {
    std::string_view out = p.output();
    while (!out.empty()) {
      std::size_t n = std::min(out.size(), kWriteChunk);
      timer.expires_after(limit());
      auto result = co_await (asio::async_write(stream, asio::buffer(out.data(), n), kTuple) ||
                              timer.async_wait(kTuple));
      if (result.index() == 1) co_return p.on_failure(Broken::timeout);
      auto [ec, written] = std::get<0>(result);
      if (ec) co_return p.on_failure(Broken::lost_connection);
      out.remove_prefix(written);
    }
    p.written();
    if (p.step() != ClientStep::reply) co_return;
    for (;;) {
      ParsedReply r = parse_reply(in);
      if (r.status == ParsedReply::Status::ok) {
        in.erase(0, r.consumed);
        p.on_reply(r.reply);
        break;
      }
      if (r.status == ParsedReply::Status::malformed)
        co_return p.on_failure(Broken::malformed_reply, r.error);
      timer.expires_after(limit());
      auto result =
          co_await (stream.async_read_some(asio::buffer(buf), kTuple) || timer.async_wait(kTuple));
      if (result.index() == 1) co_return p.on_failure(Broken::timeout);
      auto [ec, n] = std::get<0>(result);
      if (ec) co_return p.on_failure(Broken::lost_connection);
      in.append(buf.data(), n);
    }
    if (p.step() == ClientStep::closed) co_return;
  }
}

// "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", as Postfix logs it.
std::string describe(SSL* ssl) {
  int alg_bits = 0;
  int bits = SSL_get_cipher_bits(ssl, &alg_bits);
  return std::string(SSL_get_version(ssl)) + " with cipher " + SSL_get_cipher_name(ssl) + " (" +
         std::to_string(bits) + "/" + std::to_string(alg_bits) + " bits)";
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_client_tls_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_compression);
  ctx->set_verify_mode(asio::ssl::verify_none);
  return ctx;
}

SmtpConnection::SmtpConnection(asio::any_io_executor executor, ClientTimeouts timeouts,
                               std::shared_ptr<asio::ssl::context> tls)
    : executor_(executor), timeouts_(timeouts), tls_context_(std::move(tls)), socket_(executor) {}

std::chrono::milliseconds SmtpConnection::limit() const {
  switch (proto_ ? proto_->wait() : ClientWait::command) {
    case ClientWait::greeting:
      return timeouts_.greeting;
    case ClientWait::data:
      return timeouts_.data;
    case ClientWait::command:
      break;
  }
  return timeouts_.command;
}

void SmtpConnection::close() {
  asio::error_code ec;
  socket_.close(ec);
  connected_ = false;
}

asio::awaitable<std::string> SmtpConnection::connect(std::string host,
                                                     asio::ip::tcp::endpoint endpoint) {
  std::string ip = endpoint.address().to_string();
  host_ = host;
  name_addr_ = host + "[" + ip + "]";
  relay_ = name_addr_ + ":" + std::to_string(endpoint.port());
  std::string prefix = "connect to " + relay_ + ": ";
  asio::steady_timer timer(executor_);
  timer.expires_after(timeouts_.connect);
  asio::generic::stream_protocol::endpoint generic(endpoint);
  auto result = co_await (socket_.async_connect(generic, kTuple) || timer.async_wait(kTuple));
  if (result.index() == 1) {
    close();
    co_return prefix + "Connection timed out";
  }
  auto [ec] = std::get<0>(result);
  if (ec) {
    close();
    co_return prefix + ec.message();
  }
  connected_ = true;
  tcp_ = true;
  // We write whole batches (pipelined commands, 64 KiB chunks of data) and then wait for
  // the reply: Nagle would only hold back the last small segment.
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  co_return std::string();
}

asio::awaitable<std::string> SmtpConnection::connect_unix(std::string name, std::string path) {
  host_ = name;
  name_addr_ = name + "[" + path + "]";
  relay_ = name_addr_;
  std::string prefix = "connect to " + relay_ + ": ";
  asio::steady_timer timer(executor_);
  timer.expires_after(timeouts_.connect);
  asio::generic::stream_protocol::endpoint generic{asio::local::stream_protocol::endpoint(path)};
  auto result = co_await (socket_.async_connect(generic, kTuple) || timer.async_wait(kTuple));
  if (result.index() == 1) {
    close();
    co_return prefix + "Connection timed out";
  }
  auto [ec] = std::get<0>(result);
  if (ec) {
    close();
    co_return prefix + ec.message();
  }
  connected_ = true;
  co_return std::string();
}

asio::awaitable<void> SmtpConnection::drive() {
  SmtpClientProtocol& p = *proto_;
  if (p.step() != ClientStep::reply) co_return;
  if (!connected_) {
    p.on_failure(Broken::lost_connection);
    co_return;
  }
  std::function<std::chrono::milliseconds()> lim = [this] { return limit(); };
  if (tls_) {
    co_await converse(*tls_, p, in_, lim);
  } else {
    co_await converse(socket_, p, in_, lim);
  }
  // Replies no command asked for (a smuggled transaction's, say): never read as the next
  // command's. The connection is closed instead of being reused out of step.
  if (p.step() == ClientStep::ready && !in_.empty()) p.on_out_of_step("unexpected data");
  if (p.step() == ClientStep::closed) close();
}

asio::awaitable<void> SmtpConnection::handshake() {
  SmtpClientProtocol& p = *proto_;
  auto fail = [&](std::string detail) {
    tls_failed_ = true;
    p.tls_failed(detail);
    close();
  };
  if (!tls_context_ || tls_) co_return fail("no TLS context");
  // Bytes the server sent after its 220 were not protected: never read them as replies.
  in_.clear();
  tls_ = std::make_unique<asio::ssl::stream<GenericSocket&>>(socket_, *tls_context_);
  if (!host_.empty() && !is_ip(host_))
    SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());
  asio::steady_timer timer(executor_);
  timer.expires_after(timeouts_.command);
  auto result = co_await (tls_->async_handshake(asio::ssl::stream_base::client, kTuple) ||
                          timer.async_wait(kTuple));
  if (result.index() == 1) co_return fail("timed out");
  auto [ec] = std::get<0>(result);
  if (ec) co_return fail(ec.message());
  SSL* ssl = tls_->native_handle();
  X509* cert = SSL_get1_peer_certificate(ssl);
  tls_info_ = std::string(cert ? "Untrusted" : "Anonymous") + " TLS connection established to " +
              relay_ + ": " + describe(ssl);
  if (cert) X509_free(cert);
  p.tls_started();
  co_await drive();
}

asio::awaitable<bool> SmtpConnection::open(ClientSettings settings) {
  settings.peer = name_addr_;
  proto_.emplace(std::move(settings));
  in_.clear();
  co_await drive();
  if (proto_->step() == ClientStep::start_tls) co_await handshake();
  co_return proto_->step() == ClientStep::ready;
}

asio::awaitable<void> SmtpConnection::send(Transaction tx) {
  if (!proto_ || proto_->step() != ClientStep::ready) co_return;
  ++transactions_;
  proto_->begin(std::move(tx));
  co_await drive();
}

asio::awaitable<bool> SmtpConnection::reset() {
  if (!ready()) co_return false;
  // Bytes that arrived while the connection sat idle answer nothing we sent.
  asio::error_code ec;
  if (!in_.empty() || (!tls_ && socket_.available(ec) > 0)) {
    proto_->on_out_of_step("unexpected data");
    close();
    co_return false;
  }
  proto_->reset();
  co_await drive();
  co_return ready();
}

asio::awaitable<void> SmtpConnection::quit() {
  if (ready()) {
    proto_->quit();
    co_await drive();
  }
  close();
}

}  // namespace mp::transports
