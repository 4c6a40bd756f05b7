// Destinations of the SMTP and LMTP transports: a DeliveryRequest's next hop
// (and, for `mx`, its recipients' domains) turned into the units that are
// gated, walked and cached separately:
//   host list `a.example,b.example:2525`  → one destination, those hosts;
//   `mx`                                  → one per recipient domain, MX lookup;
//   `mx:other.example`                    → one, the MX hosts of other.example;
//   `mx` to `user@[192.0.2.1]`            → that address literal, no lookup;
//   `lmtp:HOST[:PORT]`, `lmtp:unix:/path` → one (port 24 by default).
//
// Pure (no Asio, no I/O); called by transports/net/smtp_relay.cpp for every
// request. Invariants: every recipient index of the request is in exactly one
// destination; a destination's `key` (lower case) names it for the
// per-destination concurrency gate, the idle-connection pool and the logs;
// hosts kinds have >= 1 host, each with a non-zero port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transports/net/relay_hosts.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

enum class DestinationKind {
  hosts,        // fixed hosts: a relay list, an address literal, an LMTP host
  mx,           // the MX hosts of `domain`
  unix_socket,  // LMTP over a unix-domain socket at `socket`
};

struct Destination {
  DestinationKind kind = DestinationKind::hosts;
  std::string key;                      // "mx:example.org", "a.example,b.example:2525", ...
  std::vector<RelayHost> hosts;         // hosts: in the order written
  bool round_robin = false;             // hosts: successive deliveries start at the next host
  std::string domain;                   // mx: lower case ("" when the recipient had none)
  std::string socket;                   // unix_socket: the path
  std::vector<std::size_t> recipients;  // indices into the request's recipients, in order
};

enum class DestinationMode { smtp, lmtp };

// The destinations of `request`, in order of first recipient. nullopt with `error` when
// the next hop is malformed (or of the other mode: `lmtp:` given to smtp, a host list to
// lmtp). `smtp_port` is used for MX hosts, address literals and hosts without a port in
// smtp mode; LMTP hosts default to port 24.
std::optional<std::vector<Destination>> plan_destinations(const DeliveryRequest& request,
                                                          DestinationMode mode,
                                                          std::uint16_t smtp_port,
                                                          std::string& error);

// The cache key of a host within a destination: "mx1.example.org", "b.example:2525".
std::string host_key(const RelayHost& host);

// The destination_concurrency limit of `d` from `table` (lower-case names): the domain
// for MX, the address literal ("[192.0.2.1]"), each listed host ("relay.example:587",
// then "relay.example"), the LMTP socket path; else "*"; else `fallback`.
unsigned destination_limit(const Destination& d, const std::map<std::string, unsigned>& table,
                           unsigned fallback);

}  // namespace mp::transports
