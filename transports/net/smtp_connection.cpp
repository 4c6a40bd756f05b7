// The I/O side of one outbound SMTP connection (see smtp_connection.hpp). Deadlines:
// each socket operation races a steady_timer with awaitable_operators' `||` (Asio 1.22
// has no cancel_after); the limits differ per phase, so one shared watchdog won't do.
#include "transports/net/smtp_connection.hpp"

#include <algorithm>
#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <functional>
#include <string_view>

namespace mp::transports {
namespace {

using namespace asio::experimental::awaitable_operators;

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kWriteChunk = 64 * 1024;  // the data deadline is renewed per chunk

// The conversation: write what the protocol wants sent, read one reply, repeat, until
// the protocol stops waiting for replies. Every write (of at most one chunk) and every
// read races a timer set to the limit of what the protocol is waiting for; socket
// errors and timeouts are reported to the protocol.
asio::awaitable<void> converse(asio::ip::tcp::socket& socket, SmtpClientProtocol& p,
                               std::string& in,
                               const std::function<std::chrono::milliseconds()>& limit) {
  asio::steady_timer timer(socket.get_executor());
  std::array<char, 16 * 1024> buf;
  for (;;) {
    std::string_view out = p.output();
    while (!out.empty()) {
      std::size_t n = std::min(out.size(), kWriteChunk);
      timer.expires_after(limit());
      auto result = co_await (asio::async_write(socket, asio::buffer(out.data(), n), kTuple) ||
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
          co_await (socket.async_read_some(asio::buffer(buf), kTuple) || timer.async_wait(kTuple));
      if (result.index() == 1) co_return p.on_failure(Broken::timeout);
      auto [ec, n] = std::get<0>(result);
      if (ec) co_return p.on_failure(Broken::lost_connection);
      in.append(buf.data(), n);
    }
    if (p.step() == ClientStep::closed) co_return;
  }
}

}  // namespace

SmtpConnection::SmtpConnection(asio::any_io_executor executor, ClientTimeouts timeouts)
    : executor_(executor), timeouts_(timeouts), socket_(executor) {}

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
  name_addr_ = host + "[" + ip + "]";
  relay_ = name_addr_ + ":" + std::to_string(endpoint.port());
  std::string prefix = "connect to " + relay_ + ": ";
  asio::steady_timer timer(executor_);
  timer.expires_after(timeouts_.connect);
  auto result = co_await (socket_.async_connect(endpoint, kTuple) || timer.async_wait(kTuple));
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
  // We write whole batches (pipelined commands, 64 KiB chunks of data) and then wait for
  // the reply: Nagle would only hold back the last small segment.
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
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
  co_await converse(socket_, p, in_, lim);
  if (p.step() == ClientStep::closed) close();
}

asio::awaitable<bool> SmtpConnection::open(ClientSettings settings) {
  settings.peer = name_addr_;
  proto_.emplace(std::move(settings));
  in_.clear();
  co_await drive();
  if (proto_->step() == ClientStep::start_tls) {
    // Issue 4: the STARTTLS handshake goes here — an asio::ssl::stream (client mode, SNI =
    // the host name, no verification under smtp_tls=encrypt) over socket_, all further
    // I/O of drive() through it, then proto_->tls_started() and co_await drive() for the
    // second EHLO. Until then the relay never asks for STARTTLS (StartTls::never).
    proto_->on_failure(Broken::lost_connection, "STARTTLS is not supported yet");
    close();
  }
  co_return proto_->step() == ClientStep::ready;
}

asio::awaitable<void> SmtpConnection::send(Transaction tx) {
  if (!proto_ || proto_->step() != ClientStep::ready) co_return;
  proto_->begin(std::move(tx));
  co_await drive();
}

asio::awaitable<void> SmtpConnection::quit() {
  if (proto_ && connected_ && proto_->step() == ClientStep::ready) {
    proto_->quit();
    co_await drive();
  }
  close();
}

}  // namespace mp::transports
