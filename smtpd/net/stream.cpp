#include "smtpd/net/stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace mp::smtpd {

using asio::use_awaitable;
using asio::experimental::as_tuple;

asio::awaitable<std::tuple<asio::error_code, std::size_t>> Stream::read_some(
    asio::mutable_buffer buf) {
  if (tls_) co_return co_await tls_->async_read_some(buf, as_tuple(use_awaitable));
  co_return co_await socket_.async_read_some(buf, as_tuple(use_awaitable));
}

asio::awaitable<asio::error_code> Stream::write_all(std::string_view data) {
  auto buf = asio::buffer(data.data(), data.size());
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, buf, as_tuple(use_awaitable));
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, buf, as_tuple(use_awaitable));
  co_return ec;
}

asio::awaitable<asio::error_code> Stream::start_tls(asio::ssl::context& ctx) {
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, ctx);
  auto [ec] =
      co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
  co_return ec;
}

std::string Stream::tls_description() const {
  if (!tls_) return "";
  SSL* ssl = tls_->native_handle();
  return std::string(SSL_get_version(ssl)) + " with cipher " + SSL_get_cipher_name(ssl);
}

void Stream::close() {
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace mp::smtpd
