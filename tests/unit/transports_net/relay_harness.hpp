// A network transport (SmtpRelay, "smtp" or "lmtp") on a private io_context, with
// helpers to build requests and run deliveries to completion; and a log file
// catcher. Used by the MX, TLS, LMTP and connection-reuse tests.
#pragma once

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "test_servers.hpp"
#include "transports/net/smtp_relay.hpp"

namespace mp::transports::testing {

using namespace std::chrono_literals;

inline Address A(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

inline DeliveryRequest request(std::string next_hop, std::vector<Address> rcpts,
                               std::string message = "Subject: test\r\n\r\nhello\r\n") {
  DeliveryRequest r;
  r.queue_id = "TESTID";
  r.sender = A("sender", "from.test");
  for (std::size_t i = 0; i < rcpts.size(); ++i)
    r.recipients.push_back({rcpts[i], rcpts[i], "", i});
  r.next_hop = std::move(next_hop);
  r.message = std::make_shared<const std::string>(std::move(message));
  r.arrival = std::time(nullptr);
  return r;
}

inline std::string hop(std::uint16_t port, const std::string& ip = "127.0.0.1") {
  return ip + ":" + std::to_string(port);
}

class Harness {
 public:
  Harness() {
    settings.helo_name = "client.test";
    settings.timeouts.connect = 5s;
    settings.timeouts.greeting = 5s;
    settings.timeouts.command = 5s;
    settings.timeouts.data = 5s;
    settings.connection_cache_time = 0ms;
  }
  ~Harness() { finish(); }

  SmtpRelay& relay() {
    if (!transport) transport.emplace(io, settings);
    return *transport;
  }

  // Delivers the requests at once and runs until all are answered (and, without
  // connection reuse, until every connection is closed).
  std::vector<DeliveryResult> deliver_all(std::vector<DeliveryRequest> reqs) {
    std::vector<std::optional<DeliveryResult>> out(reqs.size());
    std::size_t answered = 0;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      relay().deliver(std::move(reqs[i]), [&out, &answered, i](DeliveryResult r) {
        out[i] = std::move(r);
        ++answered;
      });
    }
    io.restart();
    if (settings.connection_cache_time.count() == 0) {
      io.run();
    } else {
      while (answered < out.size() && io.run_one()) {
      }
    }
    std::vector<DeliveryResult> results;
    for (auto& r : out) {
      EXPECT_TRUE(r.has_value());
      results.push_back(r.value_or(DeliveryResult{}));
    }
    return results;
  }
  DeliveryResult deliver(DeliveryRequest req) {
    std::vector<DeliveryRequest> one;
    one.push_back(std::move(req));
    return deliver_all(std::move(one)).at(0);
  }

  // QUIT the idle connections and run until everything is closed.
  void finish() {
    if (!transport) return;
    transport->close_idle();
    io.restart();
    io.run();
  }

  asio::io_context io;
  RelaySettings settings;
  std::optional<SmtpRelay> transport;
};

// Sends the process's log lines to a file while it lives; lines() reads them back.
class LogCatcher {
 public:
  LogCatcher() : path_(dir_.path() / "log") { log::open(path_.string(), "test.host"); }
  ~LogCatcher() { log::open("stderr", "test.host"); }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::string all = slurp(path_);
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t nl = all.find('\n', pos);
      if (nl == std::string::npos) nl = all.size();
      out.push_back(all.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }
  // The lines that contain `text`.
  std::vector<std::string> grep(const std::string& text) const {
    std::vector<std::string> out;
    for (auto& l : lines()) {
      if (l.find(text) != std::string::npos) out.push_back(l);
    }
    return out;
  }

 private:
  TempDir dir_;
  std::filesystem::path path_;
};

}  // namespace mp::transports::testing
