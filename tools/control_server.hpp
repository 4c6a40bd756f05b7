// mailprocd's control socket: serves tools/control_protocol.hpp requests from
// mpqueue (flush, delete, hold, release, requeue, reload) and mpsendmail (wake).
//
// Created by tools/daemon.cpp after privileges are dropped, on the daemon's
// main io_context; queue actions go to queue::Manager::admin(), `reload` to
// the daemon's reload function (the same as SIGHUP).
// Invariants: the socket file is created with mode 0600 (umask) and chmod'ed
// to it again; a client whose SO_PEERCRED uid is neither ours nor 0 is refused
// before its request is read; one request per connection, read within a time
// limit and at most kMaxRequestLine long; the answer always ends with a status
// line. A stale socket (nobody answering) is replaced; a live one, or any other
// kind of file at the path, is never touched: the constructor throws instead.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "queue/manager/manager.hpp"

namespace mp::control {

// What a reload did: applied (ok, with notices such as "listen changed: takes effect
// at restart"), or refused with the "FILE:LINE: ..." errors that kept the old settings.
struct ReloadResult {
  bool ok = false;
  std::vector<std::string> errors;
  std::vector<std::string> notices;
};
// The daemon's reload: runs it, then calls back on the io_context with the result.
using ReloadFn = std::function<void(std::function<void(ReloadResult)>)>;

struct ServerImpl;

class Server {
 public:
  // Binds and listens at `path`. Throws std::runtime_error naming the path.
  Server(asio::io_context& io, std::filesystem::path path, queue::Manager& manager,
         ReloadFn reload);
  ~Server();  // closes every connection and removes the socket file (if still ours)
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // begins accepting; on the io_context's thread

  // Time a client has to send its request (and to take the answer). Default 30 s.
  void set_io_limit(std::chrono::milliseconds limit);

 private:
  std::shared_ptr<ServerImpl> impl_;
};

}  // namespace mp::control
