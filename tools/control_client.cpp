// Blocking client of the control socket (see control_client.hpp).
#include "tools/control_client.hpp"
#include "common/unique_fd.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mp::control {
namespace {

using Clock = std::chrono::steady_clock;

using Fd = mp::UniqueFd;

std::string errno_text(int e) {
  return std::strerror(e);
}

// Waits until `fd` is ready for `events` or the deadline passes (then throws).
void wait_ready(int fd, short events, Clock::time_point deadline, std::chrono::milliseconds limit) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      throw std::runtime_error("no answer within " + std::to_string(limit.count() / 1000) + "s");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000 * 60)));
    if (n > 0) return;
    if (n < 0 && errno != EINTR) throw std::runtime_error("poll: " + errno_text(errno));
  }
}

}  // namespace

Response call(const std::filesystem::path& socket, const Request& request,
              std::chrono::milliseconds limit) {
  const std::string line = format_request(request);  // validates before anything is sent
  const Clock::time_point deadline = Clock::now() + limit;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof addr.sun_path) throw Unreachable("socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::runtime_error("socket: " + errno_text(errno));
  // A unix-domain connect completes at once (or fails: nobody listening).
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw Unreachable(errno_text(errno));

  std::size_t sent = 0;
  while (sent < line.size()) {
    wait_ready(fd.get(), POLLOUT, deadline, limit);
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // The daemon may have answered (and closed) before reading it all: read that answer.
      if (errno == EPIPE || errno == ECONNRESET) break;
      throw std::runtime_error("write to the daemon: " + errno_text(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);

  std::string answer;
  char buf[8192];
  for (;;) {
    wait_ready(fd.get(), POLLIN, deadline, limit);
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) break;  // the status line, if any, was read already
      throw std::runtime_error("read from the daemon: " + errno_text(errno));
    }
    if (n == 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
    if (answer.size() > 64 * 1024 * 1024)
      throw std::runtime_error("the daemon's answer is too long");
  }
  std::string error;
  std::optional<Response> response = parse_response(answer, error);
  if (!response) throw std::runtime_error(error);
  return *response;
}

}  // namespace mp::control
