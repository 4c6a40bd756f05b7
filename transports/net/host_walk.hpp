// One delivery to one destination (transports/net/destination.hpp): find the
// hosts (a fixed list, round robin; the MX hosts through the Resolver and
// plan_mx; an LMTP socket), then walk them — pooled connection first, else
// each address in turn — until every recipient is decided or no host is left.
//
// Called by transports/net/smtp_relay.cpp, one coroutine per (request,
// destination), on the transport's strand. Behaviour (SPEC "transport", and
// what Postfix's smtp/lmtp do):
//   - a host that cannot be used — no address, connect refused or timed out,
//     greeting refused, EHLO 4xx, 421, TLS required but unavailable, the
//     connection lost before the message was handed over — is logged and
//     skipped; so is a host that answered 4xx for some recipients: those are
//     tried at the next host (their 4xx is kept in case none takes them);
//   - a 5xx reply to MAIL, RCPT, DATA or "." is final (permfail); trouble after
//     the final "." is a final tempfail (the message may have been delivered);
//   - when every host failed: tempfail with the last reason; for MX, when no
//     host even had an address, the address lookups decide (any tempfail →
//     tempfail, else permfail); NXDOMAIN and null MX bounce, DNS trouble defers;
//   - smtp_tls=may: STARTTLS when offered; a failed handshake → the same
//     address again in plaintext. encrypt: no TLS → that host is skipped (4.7.x);
//   - a pooled connection is reused after RSET; one that fails on RSET, or
//     before any recipient was decided, is replaced by a new connection to
//     the same host without a log line or a host skipped; a connection ready
//     after the delivery goes back to the pool (or QUIT when pooling is off);
//   - TLS sessions are logged as Postfix does ("ID: Untrusted TLS connection
//     established to host[ip]:port: TLSv1.3 with cipher ..."), as are skipped
//     hosts ("ID: connect to host[ip]:port: Connection refused").
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "transports/net/destination.hpp"
#include "transports/net/idle_pool.hpp"
#include "transports/net/smtp_connection.hpp"
#include "transports/net/smtp_relay.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

using ConnectionPool = IdlePool<std::unique_ptr<SmtpConnection>>;

// What the walk borrows from its transport; all of it lives on the transport's strand.
struct WalkContext {
  asio::any_io_executor executor;           // the transport's strand
  const RelaySettings* settings = nullptr;  // helo name, ports, timeouts, TLS, resolver, mode
  std::shared_ptr<asio::ssl::context> tls;  // null when TLS is off (smtp_tls=none, LMTP)
  ConnectionPool* pool = nullptr;           // idle connections, by destination and host
  HopGate* gate = nullptr;                  // the destination's gate (round robin start)
  // Keeps a connection that is ready after a delivery (pool or QUIT).
  std::function<void(const std::string& key, const std::string& host,
                     std::unique_ptr<SmtpConnection>)>
      park;
  // QUIT (when possible) and close, in the background.
  std::function<void(std::unique_ptr<SmtpConnection>)> discard;
  // Statistics: a new connection was established; a pooled one was reused.
  std::function<void()> opened, reused;
};

// Delivers `request`'s recipients listed in `destination.recipients` (in that order)
// and returns one result per listed recipient, in the same order.
asio::awaitable<DeliveryResult> walk_destination(WalkContext& ctx, const DeliveryRequest& request,
                                                 const Destination& destination);

}  // namespace mp::transports
