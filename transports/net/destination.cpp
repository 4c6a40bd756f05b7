// Next hops and recipients → destinations (see destination.hpp).
#include "transports/net/destination.hpp"
#include "common/ascii.hpp"

#include <arpa/inet.h>

#include <map>

#include "common/config.hpp"

namespace mp::transports {
namespace {

constexpr std::uint16_t kLmtpPort = 24;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_lower(s.substr(0, prefix.size())) == prefix;
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" → the address; nullopt for anything else.
std::optional<std::string> address_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inner = domain.substr(1, domain.size() - 2);
  if (starts_with_ci(inner, "ipv6:")) inner.remove_prefix(5);
  return std::string(inner);
}

std::vector<std::size_t> all_recipients(const DeliveryRequest& r) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < r.recipients.size(); ++i) out.push_back(i);
  return out;
}

std::optional<std::vector<Destination>> plan_lmtp(const DeliveryRequest& request,
                                                  std::string& error) {
  std::string_view hop = request.next_hop;
  if (!starts_with_ci(hop, "lmtp:")) {
    error = "'" + request.next_hop + "' is not an LMTP destination";
    return std::nullopt;
  }
  std::string_view rest = hop.substr(5);
  Destination d;
  d.recipients = all_recipients(request);
  if (starts_with_ci(rest, "unix:")) {
    d.kind = DestinationKind::unix_socket;
    d.socket = std::string(rest.substr(5));
    if (d.socket.empty() || d.socket.front() != '/') {
      error = "the unix socket of '" + request.next_hop + "' is not an absolute path";
      return std::nullopt;
    }
    d.key = "lmtp:unix:" + d.socket;  // paths are case-sensitive
    return std::vector<Destination>{std::move(d)};
  }
  std::optional<HostPort> hp = parse_host_port(rest);
  if (!hp || hp->host.empty()) {
    error = "'" + std::string(rest) + "' is not HOST:PORT, [address]:PORT or unix:/path";
    return std::nullopt;
  }
  RelayHost h{hp->host, hp->port != 0 ? hp->port : kLmtpPort, is_ip(hp->host)};
  d.key = "lmtp:" + ascii_lower(host_key(h));
  d.hosts.push_back(std::move(h));
  return std::vector<Destination>{std::move(d)};
}

}  // namespace

std::string host_key(const RelayHost& host) {
  std::string name = ascii_lower(host.host);
  if (name.find(':') != std::string::npos) name = "[" + name + "]";
  return name + ":" + std::to_string(host.port);
}

std::optional<std::vector<Destination>> plan_destinations(const DeliveryRequest& request,
                                                          DestinationMode mode,
                                                          std::uint16_t smtp_port,
                                                          std::string& error) {
  if (mode == DestinationMode::lmtp) return plan_lmtp(request, error);
  std::string_view hop = request.next_hop;
  if (starts_with_ci(hop, "lmtp:")) {
    error = "'" + request.next_hop + "' is an LMTP destination";
    return std::nullopt;
  }
  bool mx = ascii_lower(hop) == "mx" || starts_with_ci(hop, "mx:");
  if (!mx) {
    auto hosts = parse_relay_hosts(hop, smtp_port, error);
    if (!hosts) return std::nullopt;
    Destination d;
    d.key = ascii_lower(hop);
    d.hosts = std::move(*hosts);
    d.round_robin = true;
    d.recipients = all_recipients(request);
    return std::vector<Destination>{std::move(d)};
  }
  if (hop.size() == 3) {
    error = "missing domain after 'mx:'";
    return std::nullopt;
  }
  if (hop.size() > 3) {  // mx:domain — every recipient goes to that domain's MX hosts
    Destination d;
    d.kind = DestinationKind::mx;
    d.domain = ascii_lower(hop.substr(3));
    if (!d.domain.empty() && d.domain.back() == '.') d.domain.pop_back();
    d.key = "mx:" + d.domain;
    d.recipients = all_recipients(request);
    return std::vector<Destination>{std::move(d)};
  }
  // mx: one destination per recipient domain, in order of first appearance.
  std::vector<Destination> out;
  std::map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < request.recipients.size(); ++i) {
    std::string domain = request.recipients[i].address.domain_lower();
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    std::string key = "mx:" + domain;
    auto [it, fresh] = by_key.try_emplace(key, out.size());
    if (fresh) {
      Destination d;
      d.key = key;
      if (auto literal = address_literal(domain)) {
        d.kind = DestinationKind::hosts;
        d.hosts.push_back(RelayHost{*literal, smtp_port, true});
      } else {
        d.kind = DestinationKind::mx;
        d.domain = domain;
      }
      out.push_back(std::move(d));
    }
    out[it->second].recipients.push_back(i);
  }
  return out;
}

// The limit of one destination: the destination_concurrency entry for its name — the
// domain for MX ("example.com"), the address literal ("[192.0.2.1]"), each listed host
// ("relay.example:587", then "relay.example"), the LMTP socket path — else "*", else
// delivery_concurrency.
unsigned destination_limit(const Destination& d, const std::map<std::string, unsigned>& table,
                           unsigned fallback) {
  std::vector<std::string> names;
  if (d.kind == DestinationKind::mx) names.push_back(d.domain);
  if (d.kind == DestinationKind::unix_socket) names.push_back(ascii_lower(d.socket));
  if (d.key.starts_with("mx:")) names.push_back(d.key.substr(3));
  for (const RelayHost& h : d.hosts) {
    names.push_back(host_key(h));
    names.push_back(ascii_lower(h.host));
  }
  names.push_back("*");
  for (const std::string& name : names) {
    auto it = table.find(name);
    if (it != table.end()) return it->second;
  }
  return fallback;
}

}  // namespace mp::transports
