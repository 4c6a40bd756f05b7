// transports::SpamdClient — one blocking spamd-protocol scan per call, over TCP
// or a unix socket, within a deadline; and the SpamScanner seam it implements.
//
// Called by transports::SpamStage from its scan threads (spam_workers.hpp);
// unit tested against a scripted server (tests/unit/transports/spam_client_test.cpp)
// and used against Debian's real spamd in tests/integration/test_spam*.py.
// Invariants: scan() is thread safe and never throws; it returns within
// `timeout` (connect + send + reply) or as soon as abort() is called, with an
// error that names the endpoint and the step that failed; the socket is always
// closed on return. One connection per scan (spamd closes after each reply).
// The command is SYMBOLS, so the verdict carries the names of the rules that hit.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "transports/spam_protocol.hpp"

namespace mp::transports {

// What scans a message for one user. Fakes implement it in unit tests.
class SpamScanner {
 public:
  virtual ~SpamScanner() = default;
  // Thread safe; blocking; never throws.
  virtual SpamCheck scan(std::string_view user, std::string_view message) = 0;
  // Makes running and later scans fail at once (shutdown). Default: nothing.
  virtual void abort() {}
  // "spamd 127.0.0.1:783", for log lines.
  virtual std::string describe() const = 0;
};

struct SpamdEndpoint {
  std::string host;         // TCP: name or IP literal (no brackets); empty for a unix socket
  std::uint16_t port = 0;   // TCP
  std::string unix_path;    // unix socket: absolute path
  std::string str() const;  // "127.0.0.1:783", "[::1]:783", "unix:/run/spamd.sock"
};

// "host:port", "[v6]:port", "unix:/path" (the `spamd` key). nullopt when malformed.
std::optional<SpamdEndpoint> parse_spamd_endpoint(std::string_view text);

class SpamdClient final : public SpamScanner {
 public:
  SpamdClient(SpamdEndpoint endpoint, std::chrono::milliseconds timeout);
  ~SpamdClient() override;
  SpamdClient(const SpamdClient&) = delete;
  SpamdClient& operator=(const SpamdClient&) = delete;

  SpamCheck scan(std::string_view user, std::string_view message) override;
  void abort() override;
  std::string describe() const override { return "spamd " + endpoint_.str(); }

  // PING: true when the server answers PONG; `error` says why not.
  bool ping(std::string& error);

  // One request (head + message) and its complete reply, or an error.
  struct Exchange {
    bool ok = false;
    SpamdReply reply;
    std::string error;
  };
  Exchange exchange(std::string_view head, std::string_view message);

 private:
  SpamdEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  int abort_fd_ = -1;  // an eventfd: readable once abort() was called
};

}  // namespace mp::transports
