// One outbound SMTP/LMTP connection: the coroutine that drives the pure
// SmtpClientProtocol over a TCP or unix-domain socket, with STARTTLS and a
// deadline on every operation.
//
// Used by transports/net/host_walk.cpp (relay host lists, MX hosts, LMTP).
// Lifecycle: connect() or connect_unix() → open() → send() → (reset() →
// send())* → quit(); reset() is how a pooled connection is reused. Every step
// reports problems as values (a reason string, protocol().failure(), the
// per-recipient results), never as exceptions. All operations run on the
// executor given to the constructor (the transport's strand); the object must
// outlive them.
//
// Deadlines: connect, greeting, each command reply (the TLS handshake too),
// and the message data (each written chunk and the final reply) have their own
// limit; Postfix's defaults are 30s, 300s, 300s and 600s. When one passes, the
// protocol hears Broken::timeout and the reason says what we were doing.
//
// TLS: when the protocol asks for it (ClientSettings::starttls and the server
// offers STARTTLS), open() does the client handshake over the same socket with
// the context given to the constructor (no certificate verification, SNI = the
// host name unless it is an address); afterwards all I/O goes through TLS and
// tls_info() describes the session. Bytes the server sent after its 220 to
// STARTTLS are discarded (never taken as replies: CVE-2011-0411's lesson). A failed handshake ends
// the session (protocol().tls_failed()) and sets tls_handshake_failed().
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <memory>
#include <optional>
#include <string>

#include "transports/smtp_client_protocol.hpp"

namespace mp::transports {

// The client context of outbound TLS: TLS 1.2 or newer (OpenSSL's defaults), no
// certificate verification (SPEC: smtp_tls=encrypt does not verify).
std::shared_ptr<asio::ssl::context> make_client_tls_context();

class SmtpConnection {
 public:
  // `tls` may be null: STARTTLS is then never attempted (the protocol must not ask).
  SmtpConnection(asio::any_io_executor executor, ClientTimeouts timeouts,
                 std::shared_ptr<asio::ssl::context> tls = nullptr);
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  // Connects to `endpoint`, found under the name `host`. Returns "" when connected, else
  // the reason: "connect to host[1.2.3.4]:25: Connection refused" (or "...: Connection
  // timed out" after the connect deadline).
  asio::awaitable<std::string> connect(std::string host, asio::ip::tcp::endpoint endpoint);
  // The same for a unix-domain socket; the connection is then named "name[/path]".
  asio::awaitable<std::string> connect_unix(std::string name, std::string path);

  // Greeting, EHLO/HELO/LHLO and STARTTLS with the second EHLO when asked for.
  // `settings.peer` is filled in. True when ready for a transaction; false with
  // protocol().failure() set otherwise.
  asio::awaitable<bool> open(ClientSettings settings);

  // One mail transaction; outcomes in protocol().results(). Afterwards the protocol is
  // ready for another transaction (after reset()) or closed with failure() set.
  asio::awaitable<void> send(Transaction tx);

  // RSET before reusing the connection; true when ready for the next transaction. A
  // connection that received bytes while idle (replies nobody asked for) is closed instead.
  asio::awaitable<bool> reset();

  // QUIT (its reply or failure does not matter) and close the socket.
  asio::awaitable<void> quit();

  SmtpClientProtocol& protocol() { return *proto_; }
  bool connected() const { return connected_; }
  bool ready() const { return connected_ && proto_ && proto_->step() == ClientStep::ready; }
  const std::string& relay() const { return relay_; }          // "host[1.2.3.4]:25"
  const std::string& name_addr() const { return name_addr_; }  // "host[1.2.3.4]"
  const std::string& host() const { return host_; }            // as given to connect()
  // For the log, as Postfix words it: "Untrusted TLS connection established to
  // host[1.2.3.4]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
  // ("Anonymous" when the server showed no certificate); "" without TLS.
  const std::string& tls_info() const { return tls_info_; }
  bool tls_handshake_failed() const { return tls_failed_; }
  unsigned transactions() const { return transactions_; }  // send() calls so far

 private:
  asio::awaitable<void> drive();  // until the protocol is ready, closed or wants TLS
  asio::awaitable<void> handshake();
  std::chrono::milliseconds limit() const;
  void close();

  asio::any_io_executor executor_;
  ClientTimeouts timeouts_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  asio::generic::stream_protocol::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::generic::stream_protocol::socket&>> tls_;
  std::optional<SmtpClientProtocol> proto_;
  std::string in_;  // received bytes not yet parsed into a reply
  bool connected_ = false;
  bool tcp_ = false;
  bool tls_failed_ = false;
  unsigned transactions_ = 0;
  std::string host_;
  std::string relay_ = "none";
  std::string name_addr_ = "none";
  std::string tls_info_;
};

}  // namespace mp::transports
