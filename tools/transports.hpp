// The daemon's transports, one object per kind of next hop, and the choice
// among them for the queue manager (queue::TransportSelector).
//
// Built once by tools/daemon.cpp before privileges are dropped (the local
// transports fork their root spawner here). The network transports ("smtp":
// relay host lists and MX delivery; "lmtp") run on the io_context given here
// and share one DNS resolver made from `dns_servers` (LdnsResolver).
#pragma once

#include <asio/io_context.hpp>
#include <memory>

#include "common/config.hpp"
#include "rewrite/next_hop.hpp"
#include "transports/transport.hpp"

namespace mp {

class Transports {
 public:
  // `privileged`: started as root — local deliveries go through the root spawner,
  // which must be forked before privileges are dropped (i.e. in here).
  Transports(asio::io_context& io, const Config& config, bool privileged);
  // Destroy while `io` still exists (stopped is fine): the resolver hands its
  // unanswered queries back through it.
  ~Transports();
  // nullptr: no transport serves this kind of next hop (the manager defers).
  transports::Transport* select(const rewrite::NextHop& hop);
  // QUIT the idle outbound connections kept for reuse (call at shutdown, while `io` runs).
  void close_idle();
  // Shutdown begins: work queued but not started (spam scans) is deferred at once;
  // running deliveries go on within the daemon's grace period.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp
