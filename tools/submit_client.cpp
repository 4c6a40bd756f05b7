// mpsendmail's client side of the submit and control sockets.
#include "tools/submit_client.hpp"
#include "common/unique_fd.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tools/control_client.hpp"
#include "tools/submission.hpp"
#include "tools/submit_protocol.hpp"

namespace mp::submission {
namespace {

using Clock = std::chrono::steady_clock;

using Fd = mp::UniqueFd;

// Connects to a unix stream socket; -1 with `error` set.
int connect_unix(const std::filesystem::path& path, std::string& error) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string& p = path.native();
  if (p.size() >= sizeof sa.sun_path) {
    error = path.string() + ": socket path too long";
    return -1;
  }
  std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error = "the daemon's socket " + path.string() + " is not reachable: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

bool send_all(int fd, std::string_view data, Clock::time_point deadline, std::string& error) {
  while (!data.empty()) {
    if (!wait_ready(fd, POLLOUT, deadline)) {
      error = "timed out sending to the daemon";
      return false;
    }
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      error = std::string("sending to the daemon failed: ") + std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One "\n"-ended line (without it); false on EOF, error or timeout.
bool read_line(int fd, std::string& line, Clock::time_point deadline, std::string& error) {
  line.clear();
  for (;;) {
    if (!wait_ready(fd, POLLIN, deadline)) {
      error = "timed out waiting for the daemon's answer";
      return false;
    }
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      error = std::string("reading the daemon's answer failed: ") + std::strerror(errno);
      return false;
    }
    if (n == 0) {
      error = "the daemon closed the connection without an answer";
      return false;
    }
    line.append(buf, static_cast<std::size_t>(n));
    if (std::size_t nl = line.find('\n'); nl != std::string::npos) {
      line.resize(nl);
      return true;
    }
    if (line.size() > 4096) {
      error = "the daemon's answer is too long";
      return false;
    }
  }
}

}  // namespace

std::filesystem::path submit_socket_path(const Config& config) {
  return config.submit_socket;
}

SubmitResult submit(const std::filesystem::path& socket, const Envelope& env,
                    std::string_view content, std::chrono::seconds limit) {
  SubmitResult r;
  r.status = ex_tempfail;
  Fd fd(connect_unix(socket, r.error));
  if (fd.get() < 0) return r;
  const Clock::time_point deadline = Clock::now() + limit;
  std::string header = submit::encode_request_header(env, content.size());
  std::string line;
  if (!send_all(fd.get(), header, deadline, r.error) ||
      !send_all(fd.get(), content, deadline, r.error)) {
    // The daemon may have refused before reading it all (too many at once):
    // its answer, when there is one, says why better than "Broken pipe".
    std::string ignored;
    if (!read_line(fd.get(), line, std::min(deadline, Clock::now() + std::chrono::seconds(2)),
                   ignored) ||
        !submit::parse_response(line))
      return r;
  } else if (!read_line(fd.get(), line, deadline, r.error)) {
    return r;
  }
  auto resp = submit::parse_response(line);
  if (!resp) {
    r.error = "the daemon answered something unexpected: " + line.substr(0, 200);
    return r;
  }
  switch (resp->outcome) {
    case submit::Outcome::ok:
      r.status = ex_ok;
      r.id = resp->text;
      r.error.clear();
      break;
    case submit::Outcome::fail:
      r.status = ex_dataerr;
      r.error = "the daemon refused the message: " + resp->text;
      break;
    case submit::Outcome::tempfail:
      r.status = ex_tempfail;
      r.error = "the daemon cannot queue it now: " + resp->text;
      break;
  }
  return r;
}

void wake_daemon(const Config& config, const std::string& id) {
  std::string error;
  std::optional<control::Request> request =
      control::make_request(control::Command::wake, {id}, error);
  if (!request) return;
  try {
    control::call(config.control_socket, *request, std::chrono::seconds(5));
  } catch (const std::exception&) {
    // No daemon (or a busy one): the periodic scan of incoming/ picks the file up.
  }
}

}  // namespace mp::submission
