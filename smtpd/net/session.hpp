// One client connection: the thin coroutine around smtpd::Protocol that does
// the I/O. Reads with a deadline (smtpd_timeout), feeds the protocol, writes
// its replies before each read (pipelining), hands finished messages to
// queue::Writer::commit_async and waits — without blocking the thread — for the
// group commit that makes them durable before the 250 goes out.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>

#include "common/config.hpp"
#include "queue/writer.hpp"
#include "smtpd/net/server.hpp"
#include "smtpd/net/stream.hpp"

namespace mp::smtpd {

struct SessionEnv {
  const Config& config;
  queue::Writer& writer;
  asio::ssl::context* tls = nullptr;  // null: STARTTLS not offered
  RecipientCheck check;
  const bool* stopping = nullptr;  // the server is shutting down
  // The client address from a PROXY header; empty: the socket's peer.
  std::string client_addr;
};

asio::awaitable<void> run_session(Stream& stream, bool lmtp, const SessionEnv& env);

}  // namespace mp::smtpd
