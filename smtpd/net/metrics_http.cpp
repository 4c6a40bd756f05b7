#include "smtpd/net/metrics_http.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "queue/layout.hpp"

namespace mp::smtpd {
namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t kMaxRequest = 8192;
constexpr unsigned kMaxConnections = 8;
constexpr std::chrono::seconds kRequestTimeout{10};

// Files in each sub-queue (names starting with '.' are not queue files).
std::vector<metrics::QueueCount> count_queues(const queue::Layout& layout) {
  std::vector<metrics::QueueCount> out;
  for (queue::SubQueue q : queue::all_sub_queues) {
    std::error_code ec;
    std::uint64_t n = 0;
    for (std::filesystem::directory_iterator it(layout.dir(q), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (!it->path().filename().string().starts_with(".")) ++n;
    }
    if (ec) continue;  // unreadable: no sample rather than a wrong one
    out.push_back({std::string(queue::name(q)), n});
  }
  return out;
}

std::string response(std::string_view status, std::string_view type, const std::string& body,
                     bool head, std::string_view extra = "") {
  std::string r = "HTTP/1.0 " + std::string(status) + "\r\nContent-Type: " + std::string(type) +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                  std::string(extra) + "Connection: close\r\n\r\n";
  if (!head) r += body;
  return r;
}

}  // namespace

struct MetricsServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  queue::Layout layout;
  unsigned open = 0;
  std::thread thread;

  explicit Impl(std::filesystem::path spool) : layout(std::move(spool)) {}

  // The reply to one request head ("GET /metrics HTTP/1.1\r\n...").
  std::string answer(std::string_view head) {
    std::string_view line = head.substr(0, head.find_first_of("\r\n"));
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/"))
      return response("400 Bad Request", "text/plain", "bad request\n", false);
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    bool head_only = method == "HEAD";
    if (method != "GET" && !head_only)
      return response("405 Method Not Allowed", "text/plain", "only GET\n", false,
                      "Allow: GET, HEAD\r\n");
    if (target != "/metrics")
      return response("404 Not Found", "text/plain", "not found; try /metrics\n", head_only);
    std::string body = metrics::render(metrics::registry(), count_queues(layout));
    return response("200 OK", metrics::kContentType, body, head_only);
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    std::string in;
    char buf[1024];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), as_tuple);
      if (ec) co_return;
      in.append(buf, n);
      if (in.find("\r\n\r\n") != std::string::npos || in.find("\n\n") != std::string::npos) break;
      if (in.size() > kMaxRequest) {
        std::string r = response("431 Request Header Fields Too Large", "text/plain", "", false);
        co_await asio::async_write(socket, asio::buffer(r), as_tuple);
        co_return;
      }
    }
    std::string reply = answer(in);
    co_await asio::async_write(socket, asio::buffer(reply), as_tuple);
    asio::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    ++open;
    asio::steady_timer timer(io);
    timer.expires_after(kRequestTimeout);
    co_await (serve(std::move(socket)) || timer.async_wait(as_tuple));
    --open;
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(as_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      if (open >= kMaxConnections) continue;  // dropped: a scraper retries
      asio::co_spawn(io, connection(std::move(socket)), asio::detached);
    }
  }
};

MetricsServer::MetricsServer(const HostPort& where, std::filesystem::path spooldir)
    : impl_(std::make_unique<Impl>(std::move(spooldir))) {
  const std::string text = where.str();
  asio::error_code ec;
  asio::ip::address addr = where.host == "*" ? asio::ip::address(asio::ip::address_v6::any())
                                             : asio::ip::make_address(where.host, ec);
  if (ec) throw std::runtime_error("metrics_listen " + text + ": bad address: " + ec.message());
  tcp::endpoint ep(addr, where.port);
  tcp::acceptor& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("metrics_listen " + text + ": " + ec.message());
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
  log::info("master", "metrics on http://" + text + "/metrics");
}

MetricsServer::~MetricsServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace mp::smtpd
