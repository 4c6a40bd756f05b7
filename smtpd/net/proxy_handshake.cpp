#include "smtpd/net/proxy_handshake.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <variant>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "smtpd/proxy_protocol.hpp"

namespace mp::smtpd {
namespace {

using namespace asio::experimental::awaitable_operators;

constexpr std::chrono::seconds kProxyTimeout{10};

struct Outcome {
  ProxyHeader header;
  std::string problem;  // empty: `header` is good
};

// Reads the header, `needed` bytes at a time.
asio::awaitable<Outcome> read_header(Stream& stream) {
  std::string got;
  for (;;) {
    ProxyParse r = parse_proxy_header(got);
    if (r.status == ProxyParse::Status::done) co_return Outcome{std::move(r.header), ""};
    if (r.status == ProxyParse::Status::error)
      co_return Outcome{{}, "malformed PROXY header (" + r.error + ")"};
    std::size_t have = got.size();
    got.resize(have + r.needed);
    auto [ec, n] = co_await stream.read_some(asio::buffer(got.data() + have, r.needed));
    if (ec)
      co_return Outcome{{},
                        have == 0 && ec == asio::error::eof
                            ? "connection closed before the PROXY header"
                            : "lost connection while reading the PROXY header"};
    got.resize(have + n);
  }
}

}  // namespace

asio::awaitable<std::optional<std::string>> proxy_handshake(Stream& stream, std::string peer,
                                                            const Config& config) {
  if (peer.starts_with("::ffff:") && peer.find('.') != std::string::npos) peer.erase(0, 7);
  const std::string who = "unknown[" + peer + "]";
  if (!any_contains(config.proxy_trusted, peer)) {
    log::warning("smtpd", "PROXY header from untrusted " + who +
                              " refused: not in proxy_trusted; connection closed");
    metrics::registry().connections_refused.inc();
    co_return std::nullopt;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::min<std::chrono::seconds>(config.smtpd_timeout, kProxyTimeout));
  auto result = co_await (read_header(stream) ||
                          timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  std::string problem = "timeout while waiting for the PROXY header";
  if (result.index() == 0) {
    const Outcome& outcome = std::get<0>(result);
    if (outcome.problem.empty()) co_return outcome.header.local ? peer : outcome.header.source;
    problem = outcome.problem;
  }
  log::warning("smtpd", problem + " from " + who + "; connection closed");
  metrics::registry().connections_refused.inc();
  co_return std::nullopt;
}

}  // namespace mp::smtpd
