// transports::SmtpRelay — the network transports: "smtp" (host lists
// `10.1.1.1`, `mx.foo.bar:2525`, `[::1]:2425`, `a.example,b.example`, relayhost
// too; and MX delivery `mx` / `mx:other.domain`) and, built with
// DestinationMode::lmtp, "lmtp" (`lmtp:HOST[:PORT]`, `lmtp:unix:/path`).
//
// Built by the daemon (tools/transports.cpp) with its io_context, which the
// daemon runs, and handed DeliveryRequests by the queue manager. deliver() may
// be called from any thread: it posts the work and returns at once; `done` runs
// on a thread of that io_context, exactly once per request.
//
// A request is split into destinations (transports/net/destination.hpp): for
// `mx`, one per recipient domain (the manager groups all `mx` recipients of a
// message together). Each destination is walked on its own
// (transports/net/host_walk.hpp: host order, failover, MX rules, TLS); the
// request is answered when all are done. Per destination ("mx:example.org",
// the host list, the LMTP target) at most `concurrency` deliveries (or the
// destination's `destination_concurrency` entry, destination.hpp) run at once
// and more wait in FIFO order; successive deliveries to a host list start at
// the next host (round robin). RecipientResult.relay is "host[ip]:port"
// ("none" when no connection was made). The queue manager logs the
// per-recipient delivery lines; this transport logs skipped hosts and TLS
// sessions, as Postfix's smtp does.
//
// Connection reuse: a connection still good after a delivery is kept idle per
// destination and host for `connection_cache_time` (0: off; at most
// `concurrency` per destination) and reused, after RSET, by the next delivery
// to that destination; expired ones get QUIT. close_idle() ends them at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "transports/net/destination.hpp"
#include "transports/resolver.hpp"
#include "transports/smtp_client_protocol.hpp"
#include "transports/transport.hpp"

namespace asio {
class io_context;
}

namespace mp::transports {

struct RelaySettings {
  DestinationMode mode = DestinationMode::smtp;  // lmtp: the "lmtp" transport
  std::string helo_name = "localhost";           // myhostname: EHLO/LHLO, MX loop detection
  std::uint16_t default_port = 25;               // smtp_port: MX hosts, hosts without a port
  unsigned concurrency = 20;                     // delivery_concurrency, per destination
  // destination_concurrency: per-destination overrides; "*" replaces `concurrency`.
  std::map<std::string, unsigned> destination_concurrency;
  ClientTimeouts timeouts;     // Postfix's defaults; tests use short ones
  SmtpTls tls = SmtpTls::may;  // smtp_tls (LMTP never uses TLS)
  std::chrono::milliseconds connection_cache_time{2000};  // 0: no reuse
  // MX lookups, and names of listed hosts the system resolver does not know. Not owned:
  // must outlive every delivery. Null: MX deliveries defer.
  Resolver* resolver = nullptr;
};

class SmtpRelay final : public Transport {
 public:
  SmtpRelay(asio::io_context& io, RelaySettings settings);
  ~SmtpRelay() override;

  std::string_view name() const override;  // "smtp" or "lmtp"
  void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) override;

  // QUIT and close every idle connection now (shutdown; tests). Posted; returns at once.
  void close_idle();

  // Statistics (thread safe): connections opened so far, and how many deliveries to a
  // destination ran over a reused connection.
  std::size_t connections_opened() const;
  std::size_t connections_reused() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mp::transports
