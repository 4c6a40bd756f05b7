// Running delivery jobs: user lookup, the job itself, DirectSpawner and the
// daemon side of PrivilegedSpawner (the helper is in local_helper.cpp).
#include "transports/spawner.hpp"

#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "transports/local_helper.hpp"
#include "transports/local_job_wire.hpp"
#include "transports/local_socket.hpp"
#include "transports/maildir.hpp"
#include "transports/subprocess.hpp"

namespace mp::transports {
namespace {

constexpr auto kHelperGrace = std::chrono::seconds(60);  // on top of the job's own timeout

JobResult make_result(JobResult::Status status, bool temporary, std::string text, int code = 0) {
  JobResult r;
  r.status = status;
  r.temporary = temporary;
  r.text = std::move(text);
  r.code = code;
  return r;
}

// getpwnam_r / getpwuid_r with a growing buffer. 0 and `found`, or the lookup's error.
template <typename Lookup>
int lookup_passwd(Lookup lookup, RunAs& out, bool& found) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* result = nullptr;
  int rc;
  for (;;) {
    rc = lookup(&pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    break;
  }
  found = result != nullptr;
  if (found) {
    out.name = pw.pw_name ? pw.pw_name : "";
    out.uid = pw.pw_uid;
    out.gid = pw.pw_gid;
    out.home = pw.pw_dir && pw.pw_dir[0] == '/' ? pw.pw_dir : "/";
    return 0;
  }
  // "Not found" comes back as 0 or, depending on the NSS module, one of these.
  if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) return 0;
  return rc;
}

// The identity this process runs as now.
RunAs current_identity() {
  RunAs me;
  bool found = false;
  uid_t uid = ::geteuid();
  lookup_passwd([uid](passwd* pw, char* buf, std::size_t len,
                      passwd** res) { return ::getpwuid_r(uid, pw, buf, len, res); },
                me, found);
  if (!found) {
    me.name = std::to_string(uid);
    me.uid = uid;
    me.gid = ::getegid();
    me.home = "/";
  }
  return me;
}

bool reserved_env(std::string_view entry) {
  for (std::string_view name : {"PATH=", "HOME=", "USER=", "LOGNAME="})
    if (entry.substr(0, name.size()) == name) return true;
  return false;
}

}  // namespace

bool resolve_user(const std::string& name, RunAs& out, JobResult& result) {
  bool found = false;
  int rc =
      lookup_passwd([&name](passwd* pw, char* buf, std::size_t len,
                            passwd** res) { return ::getpwnam_r(name.c_str(), pw, buf, len, res); },
                    out, found);
  if (rc != 0) {
    result = make_result(JobResult::Status::refused, true,
                         "cannot look up unix user '" + name + "': " + strerror(rc), rc);
    return false;
  }
  if (!found) {
    result = make_result(JobResult::Status::refused, false, "unknown unix user '" + name + "'");
    return false;
  }
  if (out.uid == 0) {
    result = make_result(JobResult::Status::refused, false,
                         "refusing to deliver as root (unix user '" + name + "' has uid 0)");
    return false;
  }
  return true;
}

JobResult execute_job(const Job& job, const RunAs& as) {
  if (job.kind == Job::Kind::maildir) {
    MaildirWrite w = write_maildir(job.maildir, job.folder, job.data);
    if (w.ok) return make_result(JobResult::Status::maildir_ok, false, w.name);
    return make_result(JobResult::Status::maildir_failed, w.temporary, w.text, w.error);
  }
  ExecSpec spec;
  spec.argv = job.argv;
  spec.env = {"PATH=/usr/bin:/bin", "HOME=" + as.home, "USER=" + as.name, "LOGNAME=" + as.name};
  for (const auto& e : job.env)
    if (!reserved_env(e)) spec.env.push_back(e);
  spec.input = job.data;
  spec.timeout = job.timeout;
  spec.cwd = as.home;
  ExecOutcome out = run_program(spec);
  switch (out.end) {
    case ExecOutcome::End::exited:
      return make_result(JobResult::Status::exited, false, out.stderr_line, out.code);
    case ExecOutcome::End::signaled:
      return make_result(JobResult::Status::signaled, true, out.stderr_line, out.code);
    case ExecOutcome::End::timed_out:
      return make_result(JobResult::Status::timed_out, true, out.stderr_line, out.code);
    case ExecOutcome::End::not_started:
      break;
  }
  return make_result(JobResult::Status::not_started, true,
                     "cannot execute " + job.argv[0] + ": " + strerror(out.code), out.code);
}

JobResult DirectSpawner::run(const Job& job) {
  if (std::string why = validate_job(job); !why.empty())
    return make_result(JobResult::Status::refused, false, "bad delivery job: " + why);
  if (::geteuid() == 0) {
    return make_result(JobResult::Status::refused, true,
                       "refusing to deliver as root: running as root without the privileged "
                       "delivery helper");
  }
  RunAs target;
  JobResult refused;
  if (!resolve_user(job.user, target, refused)) return refused;
  return execute_job(job, current_identity());
}

std::shared_ptr<PrivilegedSpawner> PrivilegedSpawner::start() {
  if (::geteuid() != 0) throw std::runtime_error("the privileged delivery helper needs root");
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error(std::string("delivery helper: socketpair: ") + strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    throw std::runtime_error(std::string("delivery helper: fork: ") + strerror(err));
  }
  if (pid == 0) {
    ::close(sv[0]);
    run_delivery_helper(sv[1]);
  }
  ::close(sv[1]);
  return std::shared_ptr<PrivilegedSpawner>(new PrivilegedSpawner(sv[0], pid));
}

PrivilegedSpawner::~PrivilegedSpawner() {
  ::close(control_fd_);
  int status = 0;
  while (::waitpid(helper_pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

JobResult PrivilegedSpawner::run(const Job& job) {
  if (std::string why = validate_job(job); !why.empty())
    return make_result(JobResult::Status::refused, false, "bad delivery job: " + why);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return make_result(JobResult::Status::spawner_failed, true,
                       std::string("delivery helper: socketpair: ") + strerror(errno), errno);
  int err;
  {
    std::lock_guard lock(send_mutex_);
    err = send_fd(control_fd_, sv[1]);
  }
  ::close(sv[1]);
  if (err != 0) {
    ::close(sv[0]);
    return make_result(JobResult::Status::spawner_failed, true,
                       std::string("the privileged delivery helper is gone: ") + strerror(err),
                       err);
  }
  const LocalDeadline deadline = std::chrono::steady_clock::now() + job.timeout + kHelperGrace;
  std::string answer;
  err = write_all(sv[0], encode_job(job), deadline);
  if (err == 0) {
    ::shutdown(sv[0], SHUT_WR);
    err = read_all(sv[0], answer, 64 * 1024, deadline);
  }
  ::close(sv[0]);
  if (err != 0) {
    return make_result(JobResult::Status::spawner_failed, true,
                       std::string("delivery helper: ") + strerror(err), err);
  }
  if (answer.empty()) {
    return make_result(JobResult::Status::spawner_failed, true,
                       "delivery helper: the job ended without a result");
  }
  std::string why;
  auto result = decode_result(answer, why);
  if (!result) {
    return make_result(JobResult::Status::spawner_failed, true,
                       "delivery helper: bad result: " + why);
  }
  return *result;
}

std::shared_ptr<Spawner> make_spawner() {
  if (::geteuid() == 0) return PrivilegedSpawner::start();
  return std::make_shared<DirectSpawner>();
}

}  // namespace mp::transports
