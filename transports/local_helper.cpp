// The root helper process and its per-job processes.
#include "transports/local_helper.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "transports/local_job_wire.hpp"
#include "transports/local_socket.hpp"
#include "transports/spawner.hpp"

namespace mp::transports {
namespace {

constexpr int kControlFd = 3;

void set_signal(int sig, void (*handler)(int), int flags = 0) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

[[noreturn]] void reply_and_exit(int fd, const JobResult& result) {
  write_all(fd, encode_result(result), std::chrono::steady_clock::now() + std::chrono::seconds(30));
  _exit(0);
}

JobResult refusal(bool temporary, std::string text) {
  JobResult r;
  r.status = JobResult::Status::refused;
  r.temporary = temporary;
  r.text = std::move(text);
  return r;
}

// Becomes `as` for good. False (with `result` set) when any step fails.
bool become(const RunAs& as, JobResult& result) {
  if (as.uid == 0) {
    result = refusal(false, "refusing to deliver as root");
    return false;
  }
  if (::initgroups(as.name.c_str(), as.gid) != 0 || ::setgid(as.gid) != 0 ||
      ::setuid(as.uid) != 0) {
    result = refusal(true, "cannot switch to unix user '" + as.name + "': " + strerror(errno));
    return false;
  }
  if (::setuid(0) == 0 || ::getuid() != as.uid || ::geteuid() != as.uid || ::getgid() != as.gid ||
      ::getegid() != as.gid) {
    result = refusal(true, "switching to unix user '" + as.name + "' did not drop root");
    return false;
  }
  return true;
}

[[noreturn]] void run_job_process(int fd) {
  set_signal(SIGCHLD, SIG_DFL);  // run_program waits for its child
  std::string wire;
  int err = read_all(fd, wire, kMaxJobData + (32u << 20),
                     std::chrono::steady_clock::now() + std::chrono::minutes(5));
  if (err != 0) {
    JobResult r;
    r.status = JobResult::Status::spawner_failed;
    r.text = std::string("delivery helper: cannot read the job: ") + strerror(err);
    reply_and_exit(fd, r);
  }
  std::string why;
  auto job = decode_job(wire, why);
  wire = std::string();
  if (!job) reply_and_exit(fd, refusal(false, "delivery helper: bad job: " + why));
  RunAs as;
  JobResult result;
  if (!resolve_user(job->user, as, result)) reply_and_exit(fd, result);
  if (!become(as, result)) reply_and_exit(fd, result);
  reply_and_exit(fd, execute_job(*job, as));
}

}  // namespace

[[noreturn]] void run_delivery_helper(int control_fd) {
  // Only system calls from here on in this process (it may be the child of a
  // multi-threaded daemon); the per-job processes it forks are single-threaded.
  if (control_fd != kControlFd) {
    if (::dup2(control_fd, kControlFd) < 0) _exit(1);
    ::close(control_fd);
  }
  ::fcntl(kControlFd, F_SETFD, FD_CLOEXEC);
  ::close_range(kControlFd + 1, ~0U, 0);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0 && null_fd != 0) {
    ::dup2(null_fd, 0);
    ::close(null_fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  set_signal(SIGINT, SIG_IGN);
  set_signal(SIGTERM, SIG_IGN);
  set_signal(SIGHUP, SIG_IGN);
  set_signal(SIGPIPE, SIG_IGN);
  set_signal(SIGCHLD, SIG_IGN, SA_NOCLDWAIT);  // per-job processes are reaped by the kernel
  ::prctl(PR_SET_NAME, "mp-deliver", 0, 0, 0);

  for (;;) {
    int fd = recv_fd(kControlFd);
    if (fd == -1) _exit(0);  // the daemon closed its end (or the socket broke)
    if (fd < 0) continue;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(kControlFd);
      run_job_process(fd);
    }
    ::close(fd);  // fork failure: the daemon sees EOF without a result (a tempfail)
  }
}

}  // namespace mp::transports
