// The client end of mailprocd's control socket (tools/control_protocol.hpp):
// connect, send one request, read the answer until the daemon closes.
//
// Called by mpqueue (flush, delete, hold, release, requeue, reload) and by
// mpsendmail (wake). Blocking POSIX I/O, no Asio; every read and write is
// bounded by one overall time limit. The socket is owner-only, so only root
// and the spool's owner get through.
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "tools/control_protocol.hpp"

namespace mp::control {

// No daemon answers at the socket (missing, refused, not permitted, path too
// long). what() is the reason only, e.g. "No such file or directory".
class Unreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sends `request` to the daemon at `socket` and returns its answer.
// Throws Unreachable when it cannot connect, std::runtime_error (one line,
// e.g. "no answer within 120s") when the exchange fails after connecting.
Response call(const std::filesystem::path& socket, const Request& request,
              std::chrono::milliseconds limit = std::chrono::seconds(120));

}  // namespace mp::control
