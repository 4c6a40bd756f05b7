// The Prometheus endpoint (`metrics_listen`): a tiny HTTP/1.0 server answering
// GET /metrics with common/metrics.hpp's render() plus the number of messages
// in each sub-queue, counted on the spot; every other path is 404, every other
// method 405. One request per connection, at most a few connections at once,
// each bounded in time and size.
//
// Created by tools/daemon.cpp when metrics_listen is set. The constructor binds
// (so it can run before privileges are dropped) and starts a thread of its own
// with its own event loop: a scrape and its directory scans never touch the
// SMTP or queue-manager loops. The destructor stops and joins that thread.
#pragma once

#include <filesystem>
#include <memory>

#include "common/config.hpp"

namespace mp::smtpd {

class MetricsServer {
 public:
  // Throws std::runtime_error naming metrics_listen when it cannot listen.
  MetricsServer(const HostPort& where, std::filesystem::path spooldir);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::smtpd
