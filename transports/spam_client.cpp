// SpamdClient: non-blocking sockets driven by poll() against one deadline.
#include "transports/spam_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/config.hpp"

namespace mp::transports {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) {
  char buf[256];
  return ::strerror_r(err, buf, sizeof buf);
}

// Closes on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Waits for `events` on fd. 0 when ready; ETIMEDOUT past the deadline; ECANCELED once
// abort_fd is readable; another errno when poll fails.
int wait_for(int fd, short events, Clock::time_point deadline, int abort_fd) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd fds[2] = {{fd, events, 0}, {abort_fd, POLLIN, 0}};
    int timeout_ms = left.count() > 60000 ? 60000 : static_cast<int>(left.count());
    int n = ::poll(fds, abort_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (abort_fd >= 0 && (fds[1].revents & POLLIN)) return ECANCELED;
    if (n > 0 && fds[0].revents) return 0;  // ready, or an error the next call reports
  }
}

std::string step_error(int err, std::string_view step) {
  if (err == ETIMEDOUT) return std::string("timed out ") + std::string(step);
  if (err == ECANCELED) return std::string("aborted ") + std::string(step) + " (shutting down)";
  return std::string(step) + ": " + errno_text(err);
}

// A connected non-blocking socket, or -1 with `error` set.
int connect_to(const SpamdEndpoint& ep, Clock::time_point deadline, int abort_fd,
               std::string& error) {
  auto try_connect = [&](int family, const sockaddr* addr, socklen_t len) -> int {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = "socket: " + errno_text(errno);
      return -1;
    }
    int err = 0;
    if (::connect(fd, addr, len) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        err = wait_for(fd, POLLOUT, deadline, abort_fd);
        if (err == 0) {
          socklen_t sl = sizeof err;
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) err = errno;
        }
      }
    }
    if (err != 0) {
      ::close(fd);
      bool out_of_time = err == ETIMEDOUT || err == ECANCELED;
      error = out_of_time ? step_error(err, "connecting") : "connect: " + errno_text(err);
      return out_of_time ? -2 : -1;
    }
    return fd;
  };

  if (!ep.unix_path.empty()) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (ep.unix_path.size() >= sizeof sun.sun_path) {
      error = "unix socket path too long";
      return -1;
    }
    ::memcpy(sun.sun_path, ep.unix_path.data(), ep.unix_path.size());
    int fd = try_connect(AF_UNIX, reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
    return fd < 0 ? -1 : fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  std::string port = std::to_string(ep.port);
  int rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 && (hints.ai_flags & AI_ADDRCONFIG)) {
    hints.ai_flags = AI_NUMERICSERV;  // loopback-only hosts have no "configured" address
    rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  }
  if (rc != 0) {
    error = "cannot resolve '" + ep.host + "': " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = try_connect(ai->ai_family, ai->ai_addr, ai->ai_addrlen);
    if (fd >= 0 || fd == -2) break;  // connected, or out of time
  }
  ::freeaddrinfo(res);
  return fd < 0 ? -1 : fd;
}

}  // namespace

std::string SpamdEndpoint::str() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  return HostPort{host, port}.str();
}

std::optional<SpamdEndpoint> parse_spamd_endpoint(std::string_view text) {
  SpamdEndpoint ep;
  if (text.starts_with("unix:")) {
    ep.unix_path = std::string(text.substr(5));
    if (ep.unix_path.empty() || ep.unix_path.front() != '/') return std::nullopt;
    return ep;
  }
  auto hp = parse_host_port(text);
  if (!hp || hp->port == 0 || hp->host.empty()) return std::nullopt;
  ep.host = hp->host;
  ep.port = hp->port;
  return ep;
}

SpamdClient::SpamdClient(SpamdEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  abort_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

SpamdClient::~SpamdClient() {
  if (abort_fd_ >= 0) ::close(abort_fd_);
}

void SpamdClient::abort() {
  if (abort_fd_ < 0) return;
  std::uint64_t one = 1;
  ssize_t n = ::write(abort_fd_, &one, sizeof one);  // never read back: stays readable
  (void)n;
}

SpamdClient::Exchange SpamdClient::exchange(std::string_view head, std::string_view message) {
  Exchange ex;
  auto deadline = Clock::now() + timeout_;
  std::string where = "spamd " + endpoint_.str() + ": ";
  Fd sock;
  std::string error;
  sock.fd = connect_to(endpoint_, deadline, abort_fd_, error);
  if (sock.fd < 0) {
    ex.error = where + error;
    return ex;
  }

  // Send the head and the message. A server that answers early (an error) and closes
  // makes the send fail: its reply, if complete, is the better explanation.
  int send_err = 0;
  for (std::string_view part : {head, message}) {
    while (!part.empty() && send_err == 0) {
      ssize_t n = ::send(sock.fd, part.data(), part.size(), MSG_NOSIGNAL);
      if (n > 0) {
        part.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        send_err = wait_for(sock.fd, POLLOUT, deadline, abort_fd_);
      } else if (n < 0 && errno != EINTR) {
        send_err = errno;
      }
    }
  }
  if (send_err == ETIMEDOUT || send_err == ECANCELED) {
    ex.error = where + step_error(send_err, "sending the message");
    return ex;
  }
  if (send_err == 0) ::shutdown(sock.fd, SHUT_WR);

  std::string data;
  char buf[16384];
  bool eof = false;
  for (;;) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      data.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int err = wait_for(sock.fd, POLLIN, deadline, abort_fd_);
      if (err != 0) {
        ex.error = where + step_error(err, "waiting for the reply");
        return ex;
      }
      continue;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (data.empty() && send_err != 0) {
        ex.error = where + "sending the message: " + errno_text(send_err);
      } else {
        ex.error = where + "reading the reply: " + errno_text(errno);
      }
      // A reset after a complete early reply still counts as that reply.
      SpamdParse p = parse_spamd_reply(data, true);
      if (!data.empty() && p.status == SpamdParse::Status::complete) {
        ex.ok = true;
        ex.reply = std::move(p.reply);
        ex.error.clear();
      }
      return ex;
    }
    SpamdParse p = parse_spamd_reply(data, eof);
    if (p.status == SpamdParse::Status::complete) {
      ex.ok = true;
      ex.reply = std::move(p.reply);
      return ex;
    }
    if (p.status == SpamdParse::Status::malformed) {
      ex.error =
          where + (send_err != 0 && data.empty() ? "sending the message: " + errno_text(send_err)
                                                 : p.error);
      return ex;
    }
    if (eof) {  // need_more at EOF cannot happen; be safe
      ex.error = where + "connection closed in the middle of the reply";
      return ex;
    }
  }
}

SpamCheck SpamdClient::scan(std::string_view user, std::string_view message) {
  std::string head =
      spamd_request_head("SYMBOLS", safe_spamd_user(user) ? user : "", message.size());
  Exchange ex = exchange(head, message);
  SpamCheck check;
  if (!ex.ok) {
    check.error = ex.error;
    return check;
  }
  check = spamd_verdict(ex.reply);
  if (!check.ok) check.error = "spamd " + endpoint_.str() + ": " + check.error;
  return check;
}

bool SpamdClient::ping(std::string& error) {
  Exchange ex = exchange("PING SPAMC/1.5\r\n\r\n", "");
  if (!ex.ok) {
    error = ex.error;
    return false;
  }
  if (ex.reply.code != 0 || ex.reply.message != "PONG") {
    error = "spamd " + endpoint_.str() +
            ": unexpected PING reply: " + std::to_string(ex.reply.code) + " " + ex.reply.message;
    return false;
  }
  return true;
}

}  // namespace mp::transports
