// transports::Spawner — runs one local delivery job (a program, or a maildir
// write) as a unix user, and reports how it ended.
//
// Called by the local transports (pipe, MDA, maildir) from their worker threads;
// run() blocks and is safe to call from several threads at once.
// Two implementations:
//  - DirectSpawner: the daemon is not root. Jobs run as the current user (no
//    user switch is possible: the documented behaviour when not started as root);
//    programs are fork/exec'd, maildir writes happen in the calling thread.
//    It refuses to run anything while the process is root.
//  - PrivilegedSpawner: mailprocd started as root. start() is called BEFORE the
//    daemon drops privileges, while the process is still single-threaded; it
//    forks a helper that stays root and only waits on a unix socketpair. Per job
//    the daemon sends the helper one end of a fresh socketpair (SCM_RIGHTS),
//    writes the job on its end and reads the result. The helper forks a process
//    per job, which validates the job (untrusted input), switches to the user
//    (initgroups, setgid, setuid) and only then runs the job; the helper exits
//    when the daemon's end of the control socket closes.
// Invariants, both: nothing runs as uid 0 — a job for a user with uid 0 is refused
// (permanent), an unknown user too (permanent; temporary when the lookup itself
// failed); programs get the environment PATH=/usr/bin:/bin, HOME, USER, LOGNAME
// of the user they run as, plus the job's own variables (SENDER, RECIPIENT, ...).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mp::transports {

struct Job {
  enum class Kind : std::uint8_t { exec = 1, maildir = 2 };
  Kind kind = Kind::exec;
  std::string user;  // the unix user to run as (never root)
  // exec: program and arguments (argv[0] absolute), extra environment "NAME=value"
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::chrono::milliseconds timeout{1000 * 1000};
  // maildir: absolute path of the Maildir; folder "" (the inbox) or a Maildir++
  // subfolder such as ".Junk" (for the spam stage)
  std::string maildir;
  std::string folder;
  std::string data;  // exec: the program's stdin; maildir: the file's content
};

struct JobResult {
  enum class Status : std::uint8_t {
    exited = 1,      // code: exit status
    signaled,        // code: signal
    timed_out,       // killed (SIGKILL to its process group) after the timeout
    not_started,     // code: errno (exec failed: missing program, ...)
    maildir_ok,      // text: the file name in new/
    maildir_failed,  // code: errno, text: what failed; `temporary`
    refused,         // the job was not run (root, unknown user, bad job); `temporary`
    spawner_failed,  // the spawner itself failed (helper gone, fork failed); temporary
  };
  Status status = Status::spawner_failed;
  int code = 0;
  bool temporary = true;
  std::string text;  // exec: first stderr line (<= 200 chars); otherwise what happened
};

class Spawner {
 public:
  virtual ~Spawner() = default;
  virtual JobResult run(const Job& job) = 0;
  // True when jobs really run as the job's user (root helper); false for DirectSpawner.
  virtual bool switches_user() const = 0;
};

class DirectSpawner : public Spawner {
 public:
  JobResult run(const Job& job) override;
  bool switches_user() const override { return false; }
};

class PrivilegedSpawner : public Spawner {
 public:
  // Forks the root helper. Throws std::runtime_error when not root or on failure.
  static std::shared_ptr<PrivilegedSpawner> start();
  ~PrivilegedSpawner() override;  // closes the control socket and reaps the helper
  PrivilegedSpawner(const PrivilegedSpawner&) = delete;
  PrivilegedSpawner& operator=(const PrivilegedSpawner&) = delete;

  JobResult run(const Job& job) override;
  bool switches_user() const override { return true; }
  pid_t helper_pid() const { return helper_pid_; }

 private:
  PrivilegedSpawner(int control_fd, pid_t helper_pid)
      : control_fd_(control_fd), helper_pid_(helper_pid) {}
  int control_fd_;
  pid_t helper_pid_;
  std::mutex send_mutex_;
};

// Root: a started PrivilegedSpawner (call before dropping privileges); otherwise a DirectSpawner.
std::shared_ptr<Spawner> make_spawner();

// ---- shared by both spawners (and the helper's per-job process) ----

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// Looks a user up. False, with `result` set to `refused` (unknown user: permanent; the
// lookup itself failed: temporary; uid 0: permanent), when no job may run as that user.
bool resolve_user(const std::string& name, RunAs& out, JobResult& result);

// Runs the job as the CURRENT identity, described by `as` (for HOME, USER, LOGNAME).
JobResult execute_job(const Job& job, const RunAs& as);

}  // namespace mp::transports
