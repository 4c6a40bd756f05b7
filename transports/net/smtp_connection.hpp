// One outbound SMTP/LMTP connection: the coroutine that drives the pure
// SmtpClientProtocol over a TCP socket, with a deadline on every operation.
//
// Used by transports/net/smtp_relay.cpp (host lists) and, in issue 4, by MX
// delivery and LMTP. Lifecycle: connect() → open() → send() (repeatable after
// protocol().reset(), for connection reuse) → quit(). Every step reports
// problems as values (a reason string, protocol().failure(), the per-recipient
// results), never as exceptions. All operations run on the executor given to
// the constructor (the relay's strand); the object must outlive them.
//
// Deadlines: connect, greeting, each command reply, and the message data
// (each written chunk and the final reply) have their own limit; Postfix's
// defaults are 30s, 300s, 300s and 600s. When one passes, the protocol hears
// Broken::timeout and the reason says what we were doing.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "transports/smtp_client_protocol.hpp"

namespace mp::transports {

class SmtpConnection {
 public:
  SmtpConnection(asio::any_io_executor executor, ClientTimeouts timeouts);
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  // Connects to `endpoint`, found under the name `host`. Returns "" when connected, else
  // the reason: "connect to host[1.2.3.4]:25: Connection refused" (or "...: Connection
  // timed out" after the connect deadline).
  asio::awaitable<std::string> connect(std::string host, asio::ip::tcp::endpoint endpoint);

  // Greeting and EHLO/HELO/LHLO (STARTTLS: issue 4). `settings.peer` is filled in. True
  // when ready for a transaction; false with protocol().failure() set otherwise.
  asio::awaitable<bool> open(ClientSettings settings);

  // One mail transaction; outcomes in protocol().results(). Afterwards the protocol is
  // ready for another transaction (after reset()) or closed with failure() set.
  asio::awaitable<void> send(Transaction tx);

  // QUIT (its reply or failure does not matter) and close the socket.
  asio::awaitable<void> quit();

  SmtpClientProtocol& protocol() { return *proto_; }
  bool connected() const { return connected_; }
  const std::string& relay() const { return relay_; }          // "host[1.2.3.4]:25"
  const std::string& name_addr() const { return name_addr_; }  // "host[1.2.3.4]"

 private:
  asio::awaitable<void> drive();  // until the protocol is ready, closed or wants TLS
  std::chrono::milliseconds limit() const;
  void close();

  asio::any_io_executor executor_;
  ClientTimeouts timeouts_;
  asio::ip::tcp::socket socket_;
  // issue 4: an asio::ssl::stream over socket_ once STARTTLS succeeded; reads and writes
  // in drive() then go through it.
  std::optional<SmtpClientProtocol> proto_;
  std::string in_;  // received bytes not yet parsed into a reply
  bool connected_ = false;
  std::string relay_ = "none";
  std::string name_addr_ = "none";
};

}  // namespace mp::transports
