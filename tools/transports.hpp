// The daemon's transports, one object per kind of next hop, and the choice
// among them for the queue manager (queue::TransportSelector).
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
  ~Transports();
  // nullptr: no transport serves this kind of next hop (the manager defers).
  transports::Transport* select(const rewrite::NextHop& hop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp
