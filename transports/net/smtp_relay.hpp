// transports::SmtpRelay — the "smtp" Transport for next hops that are host
// lists (`10.1.1.1`, `mx.foo.bar:2525`, `[::1]:2425`, `a.example,b.example`;
// relayhost too): SMTP to those hosts, no MX lookup.
//
// Built by the daemon with its io_context (which the daemon runs) and handed
// DeliveryRequests by the queue manager. deliver() may be called from any
// thread: it posts the work and returns at once; `done` runs on a thread of
// that io_context, exactly once per request.
//
// Behaviour (SPEC "transport"): successive deliveries to the same host list
// start at the next host (round robin); within one delivery a host that fails
// — name not found, connect refused or timed out, greeting refused, 421,
// connection lost before the message was handed over — is skipped for the next
// address and host; when all fail, the undecided recipients tempfail with the
// last reason ("connect to 127.0.0.1[127.0.0.1]:2526: Connection refused").
// Other replies are final for this delivery (5xx: permfail, 4xx: tempfail).
// At most `concurrency` deliveries run at once per next hop, more wait in FIFO
// order. RecipientResult.relay is "host[ip]:port" ("none" when no connection
// was made). The queue manager logs the per-recipient delivery lines; this
// transport logs only each host it skipped ("ID: connect to ...: Connection
// refused"), as Postfix's smtp does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "transports/smtp_client_protocol.hpp"
#include "transports/transport.hpp"

namespace asio {
class io_context;
}

namespace mp::transports {

struct RelaySettings {
  std::string helo_name = "localhost";  // myhostname
  std::uint16_t default_port = 25;      // smtp_port: for hosts without a port
  unsigned concurrency = 20;            // delivery_concurrency, per next hop
  ClientTimeouts timeouts;              // Postfix's defaults; tests use short ones
};

class SmtpRelay final : public Transport {
 public:
  SmtpRelay(asio::io_context& io, RelaySettings settings);
  ~SmtpRelay() override;

  std::string_view name() const override { return "smtp"; }
  void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mp::transports
