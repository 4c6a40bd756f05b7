// fork + execve with argv, stdin fed while stderr is read, a deadline, waitpid.
#include "transports/subprocess.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace mp::transports {
namespace {

constexpr std::size_t kStderrKeep = 4096;
constexpr std::size_t kWriteChunk = 64 * 1024;

using Fd = mp::UniqueFd;

// Blocks SIGPIPE in this thread while alive, so that writing to a program that
// stopped reading gives EPIPE instead of killing the process; a SIGPIPE our
// writes left pending is consumed before the mask is restored.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      timespec zero{};
      while (sigtimedwait(&set_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t set_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

bool make_pipe(int fds[2]) {
  return ::pipe2(fds, O_CLOEXEC) == 0;
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void child_exec(char* const* argv, char* const* envp, const char* cwd, int in_r,
                             int null_fd, int err_w, int status_w, long max_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // KILL/STOP/reserved just fail
  ::setpgid(0, 0);

  // Lift every fd we keep above 2 first, so the dup2s below cannot clobber each other.
  int hi_in = ::fcntl(in_r, F_DUPFD, 10);
  int hi_null = ::fcntl(null_fd, F_DUPFD, 10);
  int hi_err = ::fcntl(err_w, F_DUPFD, 10);
  int hi_status = ::fcntl(status_w, F_DUPFD, 10);
  if (hi_in < 0 || hi_null < 0 || hi_err < 0 || hi_status < 0 || ::dup2(hi_in, 0) < 0 ||
      ::dup2(hi_null, 1) < 0 || ::dup2(hi_err, 2) < 0 || ::dup2(hi_status, 3) < 0) {
    _exit(127);
  }
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  if (::close_range(4, ~0U, 0) != 0) {
    for (long fd = 4; fd < max_fd; ++fd) ::close(static_cast<int>(fd));
  }
  if (::chdir(cwd) != 0 && ::chdir("/") != 0) _exit(127);
  ::umask(077);
  ::execve(argv[0], argv, envp);
  int err = errno;
  ssize_t ignored = ::write(3, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

// glibc 2.36's <sys/pidfd.h> lacks extern "C"; the system call is used directly.
int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

pid_t wait_for(pid_t pid, int* status, int flags) {
  pid_t r;
  do {
    r = ::waitpid(pid, status, flags);
  } while (r < 0 && errno == EINTR);
  return r;
}

// Reads what is available from a non-blocking fd. Returns false at EOF or on error.
bool read_some(int fd, std::string& keep) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      std::size_t room = kStderrKeep > keep.size() ? kStderrKeep - keep.size() : 0;
      keep.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

}  // namespace

std::string first_line(std::string_view text, std::size_t max) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!line.empty() && blank(line.front())) line.remove_prefix(1);
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    if (line.empty()) continue;
    std::string out;
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u == 0x7f) ? (c == '\t' ? ' ' : '?') : c;
    }
    if (out.size() > max) {
      std::size_t cut = max;  // do not split a UTF-8 sequence
      while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
      out.resize(cut);
    }
    return out;
  }
  return {};
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

ExecOutcome run_program(const ExecSpec& spec) {
  ExecOutcome out;
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0].front() != '/') {
    out.code = EINVAL;
    return out;
  }
  // Everything the child needs is prepared before fork (no allocation after it).
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;

  int in[2], err[2], st[2];
  if (!make_pipe(in)) {
    out.code = errno;
    return out;
  }
  Fd in_r(in[0]), in_w(in[1]);
  if (!make_pipe(err)) {
    out.code = errno;
    return out;
  }
  Fd err_r(err[0]), err_w(err[1]);
  if (!make_pipe(st)) {
    out.code = errno;
    return out;
  }
  Fd st_r(st[0]), st_w(st[1]);
  Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (devnull.get() < 0) {
    out.code = errno;
    return out;
  }

  SigpipeGuard sigpipe_guard;
  pid_t pid = ::fork();
  if (pid < 0) {
    out.code = errno;
    return out;
  }
  if (pid == 0) {
    child_exec(argv.data(), envp.data(), spec.cwd.c_str(), in_r.get(), devnull.get(), err_w.get(),
               st_w.get(), max_fd);
  }
  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins the race
  in_r.reset();
  err_w.reset();
  st_w.reset();
  devnull.reset();

  int status = 0;
  {  // execve closes the status pipe (CLOEXEC); a failure writes errno on it
    int exec_errno = 0;
    ssize_t n;
    do {
      n = ::read(st_r.get(), &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
      wait_for(pid, &status, 0);
      out.code = exec_errno;
      return out;
    }
  }

  Fd pidfd(open_pidfd(pid));  // -1 on old kernels: fall back to a short poll tick
  set_nonblocking(in_w.get());
  set_nonblocking(err_r.get());
  if (spec.input.empty()) in_w.reset();
  std::size_t written = 0;
  std::string captured;
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  bool exited = false;

  while (!exited) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int wait_ms = static_cast<int>(std::min<long long>(left, 60 * 1000));
    if (pidfd.get() < 0) wait_ms = std::min(wait_ms, 20);

    pollfd fds[3];
    nfds_t n = 0;
    int in_idx = -1, err_idx = -1, pid_idx = -1;
    if (in_w.get() >= 0) {
      in_idx = static_cast<int>(n);
      fds[n++] = {in_w.get(), POLLOUT, 0};
    }
    if (err_r.get() >= 0) {
      err_idx = static_cast<int>(n);
      fds[n++] = {err_r.get(), POLLIN, 0};
    }
    if (pidfd.get() >= 0) {
      pid_idx = static_cast<int>(n);
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    int r = ::poll(fds, n, wait_ms);
    if (r < 0 && errno != EINTR) break;  // cannot wait any more: treated as a timeout
    if (r <= 0 && pidfd.get() >= 0) continue;

    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      for (;;) {
        std::size_t len = std::min(kWriteChunk, spec.input.size() - written);
        ssize_t w = ::write(in_w.get(), spec.input.data() + written, len);
        if (w > 0) {
          written += static_cast<std::size_t>(w);
          if (written == spec.input.size()) {
            in_w.reset();
            break;
          }
          continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        in_w.reset();  // EPIPE: the program does not want (more of) its input
        break;
      }
    }
    if (err_idx >= 0 && fds[err_idx].revents != 0) {
      if (!read_some(err_r.get(), captured)) err_r.reset();
    }
    if (pid_idx < 0 || fds[pid_idx].revents != 0) {
      pid_t w = wait_for(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
      } else if (w < 0) {  // ECHILD: someone else reaped it (SIGCHLD ignored?)
        out.code = errno;
        return out;
      }
    }
  }

  if (!exited) {
    ::kill(-pid, SIGKILL);  // the whole process group: the program and what it started
    ::kill(pid, SIGKILL);
    wait_for(pid, &status, 0);
    if (err_r.get() >= 0) read_some(err_r.get(), captured);
    out.end = ExecOutcome::End::timed_out;
    out.code = SIGKILL;
    out.stderr_line = first_line(captured);
    return out;
  }
  // What the program wrote before exiting is in the pipe; do not wait for EOF, which
  // a background child still holding stderr could delay forever.
  if (err_r.get() >= 0) read_some(err_r.get(), captured);
  out.stderr_line = first_line(captured);
  if (WIFEXITED(status)) {
    out.end = ExecOutcome::End::exited;
    out.code = WEXITSTATUS(status);
  } else {
    out.end = ExecOutcome::End::signaled;
    out.code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  return out;
}

}  // namespace mp::transports
