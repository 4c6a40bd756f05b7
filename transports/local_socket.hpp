// Unix-socket plumbing of the privileged delivery helper: passing a socket with
// SCM_RIGHTS, and writing / reading a whole record under a deadline.
//
// Called by PrivilegedSpawner (daemon side, any thread) and by the helper
// (local_helper.cpp). Invariants: no call raises SIGPIPE (MSG_NOSIGNAL); none
// blocks past its deadline; recv_fd() only uses the stack (the helper calls it in
// a process forked from a possibly multi-threaded daemon, where allocating is
// best avoided), accepts exactly one descriptor per message and closes any other
// it was handed.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace mp::transports {

using LocalDeadline = std::chrono::steady_clock::time_point;

// Sends one descriptor (with a one-byte payload). Returns 0 or an errno value.
int send_fd(int sock, int fd);

// Receives one descriptor (made close-on-exec). Returns it, or -1 at EOF or on a
// fatal socket error, or -2 for a message without exactly one descriptor.
int recv_fd(int sock);

// Writes all of `data`. Returns 0, an errno value, or ETIMEDOUT.
int write_all(int fd, std::string_view data, LocalDeadline deadline);

// Reads until EOF into `out`. Returns 0, an errno value, ETIMEDOUT, or EMSGSIZE past `max`.
int read_all(int fd, std::string& out, std::size_t max, LocalDeadline deadline);

}  // namespace mp::transports
