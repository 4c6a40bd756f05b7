// Host lists of the relay transport and the per-next-hop concurrency gate.
#include "transports/net/relay_hosts.hpp"

#include <arpa/inet.h>

#include "common/config.hpp"
#include "common/config_file.hpp"

namespace mp::transports {
namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::optional<std::vector<RelayHost>> parse_relay_hosts(std::string_view next_hop,
                                                        std::uint16_t default_port,
                                                        std::string& error) {
  std::vector<RelayHost> hosts;
  std::string_view kind = next_hop.substr(0, next_hop.find(':'));
  if (kind.size() == 2 && (kind[0] | 0x20) == 'm' && (kind[1] | 0x20) == 'x') {
    error = "'" + std::string(next_hop) + "' is MX delivery, not a host list";
    return std::nullopt;
  }
  for (const std::string& item : split_list(next_hop)) {
    std::optional<HostPort> hp = parse_host_port(item);
    if (!hp || hp->host.empty()) {
      error = "'" + item + "' is not a host, host:port or [address]:port";
      return std::nullopt;
    }
    RelayHost h;
    h.host = hp->host;
    h.port = hp->port != 0 ? hp->port : default_port;
    h.literal = is_ip_literal(h.host);
    if (h.port == 0) {
      error = "'" + item + "' has no port";
      return std::nullopt;
    }
    hosts.push_back(std::move(h));
  }
  if (hosts.empty()) {
    error = "no host in next hop '" + std::string(next_hop) + "'";
    return std::nullopt;
  }
  return hosts;
}

void HopGate::submit(std::function<void()> job) {
  if (active_ < limit_) {
    ++active_;
    job();
  } else {
    waiting_.push_back(std::move(job));
  }
}

void HopGate::release() {
  if (waiting_.empty()) {
    if (active_ > 0) --active_;
    return;
  }
  std::function<void()> next = std::move(waiting_.front());
  waiting_.pop_front();
  next();  // inherits the slot
}

std::size_t HopGate::next_start(std::size_t hosts) {
  if (hosts == 0) return 0;
  return turn_++ % hosts;
}

}  // namespace mp::transports
