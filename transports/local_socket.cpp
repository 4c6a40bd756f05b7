// SCM_RIGHTS passing and deadline-bounded whole-record I/O on unix sockets.
#include "transports/local_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mp::transports {
namespace {

// Waits for `events` on fd until the deadline. Returns 0, ETIMEDOUT or an errno value.
int wait_fd(int fd, short events, LocalDeadline deadline) {
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return ETIMEDOUT;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60 * 1000)));
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return errno;
  }
}

}  // namespace

int send_fd(int sock, int fd) {
  char byte = 'J';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  std::memset(control, 0, sizeof control);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n == 1) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno : EIO;
  }
}

int recv_fd(int sock) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == ENOBUFS || errno == ENOMEM) ? -2 : -1;
  int got = -1;
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < fds; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (count++ == 0) {
        got = fd;
      } else {
        ::close(fd);
      }
    }
  }
  if (count != 1 || (msg.msg_flags & MSG_CTRUNC) != 0 || byte != 'J') {
    if (got >= 0) ::close(got);
    return -2;
  }
  return got;
}

int write_all(int fd, std::string_view data, LocalDeadline deadline) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (int e = wait_fd(fd, POLLOUT, deadline)) return e;
      continue;
    }
    return n < 0 ? errno : EIO;
  }
  return 0;
}

int read_all(int fd, std::string& out, std::size_t max, LocalDeadline deadline) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      if (out.size() + static_cast<std::size_t>(n) > max) return EMSGSIZE;
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (int e = wait_fd(fd, POLLIN, deadline)) return e;
      continue;
    }
    return errno;
  }
}

}  // namespace mp::transports
