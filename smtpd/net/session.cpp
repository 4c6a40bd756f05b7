#include "smtpd/net/session.hpp"

#include <array>
#include <asio/async_result.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <ctime>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "smtpd/client_deadline.hpp"
#include "smtpd/protocol.hpp"
#include "smtpd/relay_control.hpp"

namespace mp::smtpd {
namespace {

using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

// Awaitable wrapper around Writer::commit_async: resumes the session on its
// own executor once the commit is durable (or failed).
template <typename Token>
auto async_commit(queue::Writer& writer, std::unique_ptr<queue::Draft> draft, Token&& token) {
  return asio::async_initiate<Token, void(queue::CommitResult)>(
      [&writer](auto handler, std::unique_ptr<queue::Draft> d) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = asio::make_work_guard(asio::get_associated_executor(*shared));
        writer.commit_async(std::move(d), [shared, work](queue::CommitResult r) mutable {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
          work.reset();
        });
      },
      token, std::move(draft));
}

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

// Waits until `deadline` has passed; the session moves the deadline forward.
asio::awaitable<void> watchdog(const Clock::time_point& deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (deadline > Clock::now()) {
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;  // the session ended first
  }
}

struct Conversation {
  Stream& stream;
  Protocol& proto;
  const SessionEnv& env;
  Clock::time_point& deadline;
  std::string peer;  // "unknown[1.2.3.4]" for logs
  ClientDeadline reads{env.config.smtpd_timeout, env.config.smtpd_min_data_rate};

  // Our own work (a write, a commit, the TLS handshake) gets smtpd_timeout.
  void extend() { deadline = Clock::now() + env.config.smtpd_timeout; }

  // "timeout after DATA (1234 bytes) from unknown[192.0.2.1]", as Postfix logs it.
  std::string timeout_log() const {
    std::string what(proto.last_command());
    if (proto.reading_message()) what += " (" + std::to_string(reads.message_bytes()) + " bytes)";
    return "timeout after " + what + " from " + peer;
  }

  asio::awaitable<bool> flush() {
    if (proto.output().empty()) co_return true;
    extend();
    asio::error_code ec = co_await stream.write_all(proto.output());
    proto.output().clear();
    co_return !ec;
  }

  asio::awaitable<void> run() {
    std::array<char, 4096> buf;
    std::string in;
    proto.greet();
    for (;;) {
      std::size_t used = proto.consume(in);
      in.erase(0, used);
      switch (proto.action()) {
        case Action::none:
          break;
        case Action::close:
          co_await flush();
          co_return;
        case Action::commit: {
          extend();
          std::unique_ptr<queue::Draft> draft = proto.take_draft();
          std::string id = draft->id();
          log::info("smtpd", id + ": client=" + peer);
          queue::CommitResult r =
              co_await async_commit(env.writer, std::move(draft), asio::use_awaitable);
          if (!r.ok) log::warning("smtpd", id + ": queue file write error: " + r.error);
          if (r.ok) {  // as given ("<>" when the message has none), as Postfix's cleanup
            std::string mid = proto.message_id();
            log::info("cleanup", id + ": message-id=" + (mid.empty() ? "<>" : mid));
          }
          if (r.ok) metrics::registry().messages_accepted.inc();
          proto.committed(r);
          continue;
        }
        case Action::start_tls: {
          if (!co_await flush()) co_return;
          in.clear();  // nothing sent before the handshake may be acted on (RFC 3207 §6)
          extend();
          asio::error_code ec = co_await stream.start_tls(*env.tls);
          if (ec) {
            log::info("smtpd", "SSL_accept error from " + peer + ": " + ec.message());
            co_return;
          }
          log::info("smtpd",
                    "TLS connection established from " + peer + ": " + stream.tls_description());
          proto.tls_started();
          continue;
        }
      }
      stream.idle = in.empty() && !proto.in_transaction();
      if (stream.idle && env.stopping && *env.stopping) {
        proto.refuse(Reply{421, "4.3.2", env.config.myhostname + " Service shutting down"});
        continue;
      }
      if (!co_await flush()) co_return;
      deadline = reads.before_read(Clock::now(), proto.reading_message(),
                                   !in.empty() || proto.in_long_line(), proto.lines_read());
      auto [ec, n] = co_await stream.read_some(asio::buffer(buf));
      stream.idle = false;
      if (ec) co_return;
      reads.received(n);
      in.append(buf.data(), n);
    }
  }
};

}  // namespace

asio::awaitable<void> run_session(Stream& stream, bool lmtp, const SessionEnv& env) {
  asio::error_code ec;
  auto remote = stream.socket().remote_endpoint(ec);
  std::string addr = "unknown";
  if (!ec) {
    asio::ip::address a = remote.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
      a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    addr = a.to_string();
  }
  if (!env.client_addr.empty()) addr = env.client_addr;  // a proxy:'s client, canonical already

  ProtocolSettings settings;
  settings.hostname = env.config.myhostname;
  settings.banner = env.config.expanded_banner();
  settings.lmtp = lmtp;
  settings.tls_offered = env.tls != nullptr;
  settings.message_size_limit = env.config.message_size_limit;
  settings.max_recipients = env.config.max_recipients;
  settings.bare_newline = env.config.bare_newline;

  ProtocolHooks hooks;
  hooks.check_recipient = [&env, addr](const Address& sender, const Address& rcpt) {
    std::optional<Reply> refused = check_relay(env.config, addr, rcpt);
    if (!refused && env.check) refused = env.check(sender, rcpt);
    if (refused) metrics::registry().recipients_rejected.inc();
    return refused;
  };
  hooks.begin_draft = [&env](Envelope e) { return env.writer.begin(std::move(e)); };
  hooks.date = rfc5322_date;
  hooks.log = [](const std::string& line) { log::info("smtpd", line); };

  Protocol proto(settings, ClientInfo{addr, "unknown"}, hooks);
  Clock::time_point deadline = Clock::now() + env.config.smtpd_timeout;
  Conversation conv{stream, proto, env, deadline, "unknown[" + addr + "]"};
  log::info("smtpd", "connect from " + conv.peer);

  auto result = co_await (conv.run() || watchdog(deadline));
  if (result.index() == 1) {
    // Best effort: the client stopped reading or writing; never block on it.
    log::info("smtpd", conv.timeout_log());
    if (!stream.tls()) {
      proto.output().clear();
      proto.timed_out();
      stream.socket().non_blocking(true, ec);
      stream.socket().write_some(asio::buffer(proto.output()), ec);
    }
  }
  log::info("smtpd", "disconnect from " + conv.peer + " " + proto.command_counts());
}

}  // namespace mp::smtpd
