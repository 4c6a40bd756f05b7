// transports::run_program — start one program without a shell and wait for it.
//
// Called by the spawners (spawner.hpp) for MDA and pipe deliveries, either in a
// daemon worker thread (DirectSpawner) or in the root helper's per-job process
// after it switched to the delivery user (PrivilegedSpawner). Blocking; safe to
// call from several threads at once.
// Invariants: the program is started with execve() of argv[0] (an absolute path)
// and exactly the given argv and environment — never through /bin/sh; the child
// keeps only fds 0 (the input), 1 (/dev/null) and 2 (captured); it gets default
// signal dispositions, an empty signal mask, umask 077 and its own process
// group, which is SIGKILLed as a whole on timeout. Input is written while stderr
// is read (no deadlock for large inputs); a program that does not read its input
// is fine (no SIGPIPE reaches the caller). Only the first 4 KiB of stderr are kept.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace mp::transports {

struct ExecSpec {
  std::vector<std::string> argv;  // argv[0]: absolute path of the program
  std::vector<std::string> env;   // the complete environment, "NAME=value"
  std::string_view input;         // written to the program's stdin, then EOF
  std::chrono::milliseconds timeout{1000 * 1000};
  std::string cwd = "/";  // working directory; "/" when it cannot be entered
};

struct ExecOutcome {
  enum class End { exited, signaled, timed_out, not_started };
  End end = End::not_started;
  int code = 0;             // exited: exit status; signaled: signal; not_started: errno
  std::string stderr_line;  // first non-blank stderr line, <= 200 chars, controls replaced
};

ExecOutcome run_program(const ExecSpec& spec);

// The first non-blank line of `text`, cut to `max` characters, control characters as '?'.
std::string first_line(std::string_view text, std::size_t max = 200);

// "SIGKILL", "SIGSEGV", ... or "signal N".
std::string signal_name(int sig);

}  // namespace mp::transports
