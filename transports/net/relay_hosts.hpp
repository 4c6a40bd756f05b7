// The host-list next hops of the SMTP relay transport — `10.1.1.1`,
// `mx.foo.bar:2525`, `[::1]:2425`, `a.example,b.example` — parsed into hosts and
// ports, and HopGate: per next hop, at most N deliveries at once (FIFO beyond
// that) and the round-robin start host of each delivery.
//
// Pure (no Asio, no I/O); used by transports/net/smtp_relay.cpp on its strand,
// so HopGate is not thread safe. Invariants: a parsed list is never empty and
// every port is non-zero; HopGate never runs more than `limit` jobs, starts
// waiting jobs in arrival order, and hands a released slot straight to the
// next waiting job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mp::transports {

struct RelayHost {
  std::string host;        // name or IP literal, without brackets
  std::uint16_t port = 0;  // never 0 once parsed
  bool literal = false;    // an IP address: no name lookup
};

// Comma- or blank-separated host[:port] items; a missing port is `default_port`.
// nullopt (and `error`) when the list is empty, an item is malformed, or it is `mx` /
// `mx:domain` (MX delivery: issue 4, not a host list).
std::optional<std::vector<RelayHost>> parse_relay_hosts(std::string_view next_hop,
                                                        std::uint16_t default_port,
                                                        std::string& error);

class HopGate {
 public:
  explicit HopGate(unsigned limit) : limit_(limit == 0 ? 1 : limit) {}

  // Runs `job` now when fewer than `limit` run, else queues it (FIFO). A job calls
  // release() exactly once when it is finished.
  void submit(std::function<void()> job);
  // A running job finished: its slot goes to the oldest waiting job, if any.
  void release();
  // Where the next delivery starts in a list of `hosts` hosts: 0, 1, ..., wrapping.
  std::size_t next_start(std::size_t hosts);

  unsigned active() const { return active_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  unsigned limit_;
  unsigned active_ = 0;
  std::deque<std::function<void()>> waiting_;
  std::size_t turn_ = 0;
};

}  // namespace mp::transports
