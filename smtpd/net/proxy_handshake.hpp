// The start of a connection on a `proxy:` listener: before the greeting, the
// peer (a load balancer such as HAProxy) must be in proxy_trusted and must send
// one PROXY v1 or v2 header (smtpd/proxy_protocol.hpp) within
// min(smtpd_timeout, 10s). The address it names is then the client's address
// for everything that follows: relay control, max_connections_per_ip, the
// Received: header and the logs.
//
// Called by Server::run_session (smtpd/net/server.cpp) on the connection's
// executor, before the session starts. Reads exactly the header's bytes, never
// past it, so the SMTP conversation starts clean. Every refusal is logged and
// counted (metrics: connections_refused); the caller then closes the socket
// without a word — nothing is sent to an untrusted or broken peer.
#pragma once

#include <asio/awaitable.hpp>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "smtpd/net/stream.hpp"

namespace mp::smtpd {

// `peer` is the socket's remote address. Returns the client address to use
// (the peer itself for v1 UNKNOWN / v2 LOCAL), or nullopt: close the connection.
asio::awaitable<std::optional<std::string>> proxy_handshake(Stream& stream, std::string peer,
                                                            const Config& config);

}  // namespace mp::smtpd
