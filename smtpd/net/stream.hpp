// A client connection that is plain TCP until STARTTLS, then TLS over the same
// socket. Errors are values (as_tuple); the caller owns deadlines.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <memory>
#include <string_view>
#include <tuple>

namespace mp::smtpd {

class Stream {
 public:
  explicit Stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  asio::awaitable<std::tuple<asio::error_code, std::size_t>> read_some(asio::mutable_buffer buf);
  asio::awaitable<asio::error_code> write_all(std::string_view data);
  // Server-side TLS handshake on the same socket.
  asio::awaitable<asio::error_code> start_tls(asio::ssl::context& ctx);

  bool tls() const { return tls_ != nullptr; }
  std::string tls_description() const;  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
  asio::ip::tcp::socket& socket() { return socket_; }
  void close();

  // Set by the session while it waits for a command outside a transaction:
  // a shutdown may then close the connection at once (with 421).
  bool idle = false;

 private:
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
};

}  // namespace mp::smtpd
