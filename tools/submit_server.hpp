// mailprocd's submit socket: local submission for users who may not write the
// spool (mpsendmail run by anyone but root and the spool's owner).
//
// Created by tools/daemon.cpp before privileges are dropped (its folder, e.g.
// /run/mailproc, may need root), served on the daemon's main io_context. Each
// connection carries one tools/submit_protocol.hpp request; the message goes
// through the same queue::Writer as SMTP mail, and "ok ID" is written only
// after the commit is durable.
//
// Why this is safe for local users: the socket accepts nothing but a complete,
// bounded request (header <= submit::kMaxHeader, content <= message_size_limit,
// recipients <= max_recipients, CRLF-clean content, one overall time limit,
// at most kMaxConnections at once, connections_per_uid of one uid); the submitter is the peer's uid
// (SO_PEERCRED), which the daemon — not the client — writes into the
// Received: header and the `pickup` log line; the user never touches the
// spool, which stays owner-only. Like sendmail and Postfix, any local user may
// name any envelope sender (-f); the uid in the log and header tells who did.
// Invariants: the socket file is mode 0666 (the point of it) in a folder made
// 0755 if missing; a live socket at the path, or any other kind of file, is
// never replaced (the constructor throws); a stale one is.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "queue/writer.hpp"

namespace mp::submit {

struct Settings {
  std::string hostname;  // for the Received: header
  std::uint64_t message_size_limit = 10240000;
  unsigned max_recipients = 1000;
  std::chrono::milliseconds io_limit{300000};  // whole request, and the answer
  std::size_t connections_per_uid = 10;        // one user cannot hold the socket for all
  static Settings from(const Config& config);
};

inline constexpr std::size_t kMaxConnections = 64;

struct Connection;  // one client, defined in submit_server.cpp

class Server {
 public:
  // Binds and listens at `path`. Throws std::runtime_error naming the path.
  Server(asio::io_context& io, std::filesystem::path path, queue::Writer& writer,
         Settings settings);
  ~Server();  // closes every connection; removes the socket file if it is still ours
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // begins accepting; on the io_context's thread
  // After a reload, on the io_context's thread: requests from then on use `settings`.
  void set_settings(Settings settings);

 private:
  friend struct Connection;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// For the daemon: a Server on `path`, or nullptr (with a warning logged) when
// the path is empty or the socket cannot be made — mail from root and the
// spool's owner still works then, and other users get exit 75 from mpsendmail.
std::unique_ptr<Server> start_server(asio::io_context& io, const std::filesystem::path& path,
                                     queue::Writer& writer, const Config& config);

}  // namespace mp::submit
