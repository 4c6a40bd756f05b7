// run_program: argv without a shell, stdin/stderr without deadlock, timeouts, fds, env.
#include "transports/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "local_test_util.hpp"

namespace mp::transports {
namespace {

using testing::script;
using testing::slurp;
using testing::TempDir;

ExecSpec spec_for(std::vector<std::string> argv, std::string_view input = "") {
  ExecSpec s;
  s.argv = std::move(argv);
  s.env = {"PATH=/usr/bin:/bin"};
  s.input = input;
  s.timeout = std::chrono::seconds(20);
  return s;
}

TEST(Subprocess, ExitStatusAndFirstStderrLine) {
  TempDir dir;
  auto prog = script(dir.path(), "p",
                     "printf '\\n   \\n' >&2\necho 'first problem' >&2\necho second >&2\nexit 3\n");
  auto out = run_program(spec_for({prog}));
  EXPECT_EQ(out.end, ExecOutcome::End::exited);
  EXPECT_EQ(out.code, 3);
  EXPECT_EQ(out.stderr_line, "first problem");
}

TEST(Subprocess, ArgumentsArePassedVerbatim) {
  TempDir dir;
  auto prog =
      script(dir.path(), "p", "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > \"$OUT\"\n");
  auto s = spec_for({prog, "a b", "$(id)", "`id`", ";id", "|id", "'\"", ""});
  s.env.push_back("OUT=" + (dir.path() / "args").string());
  auto out = run_program(s);
  ASSERT_EQ(out.end, ExecOutcome::End::exited);
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(slurp(dir.path() / "args"), "[a b]\n[$(id)]\n[`id`]\n[;id]\n[|id]\n['\"]\n[]\n");
}

TEST(Subprocess, LargeInputWhileTheProgramFillsStderr) {
  TempDir dir;
  // Writes 1 MiB to stderr before reading stdin: a naive write-then-read would deadlock.
  auto prog =
      script(dir.path(), "p", "head -c 1048576 /dev/zero | tr '\\000' x >&2\ncat > \"$1\"\n");
  std::string input(8 << 20, 'm');
  for (std::size_t i = 0; i < input.size(); i += 1000) input[i] = '\n';
  auto out = run_program(spec_for({prog, (dir.path() / "in").string()}, input));
  ASSERT_EQ(out.end, ExecOutcome::End::exited);
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(slurp(dir.path() / "in"), input);
  EXPECT_EQ(out.stderr_line, std::string(200, 'x'));
}

TEST(Subprocess, ProgramThatIgnoresItsInput) {
  TempDir dir;
  auto prog = script(dir.path(), "p", "exit 0\n");
  std::string input(8 << 20, 'm');
  auto out = run_program(spec_for({prog}, input));  // EPIPE, never SIGPIPE
  EXPECT_EQ(out.end, ExecOutcome::End::exited);
  EXPECT_EQ(out.code, 0);
}

TEST(Subprocess, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  auto pidfile = dir.path() / "pid";
  auto prog =
      script(dir.path(), "p", "sleep 1000 &\necho $! > \"$1.tmp\"\nmv \"$1.tmp\" \"$1\"\nwait\n");
  auto s = spec_for({prog, pidfile.string()});
  s.timeout = std::chrono::milliseconds(700);
  auto start = std::chrono::steady_clock::now();
  auto out = run_program(s);
  EXPECT_EQ(out.end, ExecOutcome::End::timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  std::string pid_text = slurp(pidfile);
  ASSERT_FALSE(pid_text.empty()) << "the script did not start its background child in time";
  pid_t bg = std::stoi(pid_text);
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, bg, 0));
  if (fd >= 0) {  // still there: it must be dying (SIGKILL sent), so wait for its exit
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "background child " << bg << " survived the timeout";
    ::close(fd);
  } else {
    EXPECT_EQ(errno, ESRCH);
  }
}

TEST(Subprocess, KilledBySignal) {
  TempDir dir;
  auto prog = script(dir.path(), "p", "echo dying >&2\nkill -KILL $$\n");
  auto out = run_program(spec_for({prog}));
  EXPECT_EQ(out.end, ExecOutcome::End::signaled);
  EXPECT_EQ(out.code, SIGKILL);
  EXPECT_EQ(out.stderr_line, "dying");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
}

TEST(Subprocess, ProgramsThatCannotStart) {
  TempDir dir;
  auto out = run_program(spec_for({"/nonexistent/program"}));
  EXPECT_EQ(out.end, ExecOutcome::End::not_started);
  EXPECT_EQ(out.code, ENOENT);
  out = run_program(spec_for({"sh", "-c", "true"}));  // never a PATH search, never a shell
  EXPECT_EQ(out.end, ExecOutcome::End::not_started);
  EXPECT_EQ(out.code, EINVAL);
  testing::spit(dir.path() / "data", "not a program");
  out = run_program(spec_for({(dir.path() / "data").string()}));
  EXPECT_EQ(out.end, ExecOutcome::End::not_started);
  EXPECT_EQ(out.code, EACCES);
}

TEST(Subprocess, ExactlyTheGivenEnvironmentUmaskAndDirectory) {
  TempDir dir;
  ::setenv("MP_CANARY_ENV", "leaked", 1);
  auto prog = script(dir.path(), "p", "env > \"$1/env\"\numask > \"$1/umask\"\npwd > \"$1/pwd\"\n");
  auto s = spec_for({prog, dir.path().string()});
  s.env.push_back("FOO=bar baz");
  s.cwd = dir.path().string();
  auto out = run_program(s);
  ASSERT_EQ(out.end, ExecOutcome::End::exited);
  std::string env = slurp(dir.path() / "env");
  EXPECT_NE(env.find("FOO=bar baz\n"), std::string::npos);
  EXPECT_NE(env.find("PATH=/usr/bin:/bin\n"), std::string::npos);
  EXPECT_EQ(env.find("MP_CANARY_ENV"), std::string::npos);
  EXPECT_EQ(slurp(dir.path() / "umask"), "0077\n");
  EXPECT_EQ(slurp(dir.path() / "pwd"), dir.path().string() + "\n");
  s.cwd = "/nonexistent/dir";
  run_program(s);
  EXPECT_EQ(slurp(dir.path() / "pwd"), "/\n");
  ::unsetenv("MP_CANARY_ENV");
}

TEST(Subprocess, OnlyStdioIsInherited) {
  TempDir dir;
  auto canary = dir.path() / "canary-open-file";
  int leaked = ::open(canary.c_str(), O_CREAT | O_WRONLY, 0600);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  auto prog = script(dir.path(), "p",
                     "for f in /proc/$$/fd/*; do readlink \"$f\"; done > \"$1\"\n"
                     "[ -p /proc/$$/fd/0 ] && echo stdin-is-a-pipe >> \"$1\"\n");
  auto out = run_program(spec_for({prog, (dir.path() / "fds").string()}, "x"));
  ::close(leaked);
  ASSERT_EQ(out.end, ExecOutcome::End::exited);
  std::string fds = slurp(dir.path() / "fds");
  EXPECT_EQ(fds.find("canary-open-file"), std::string::npos) << fds;
  EXPECT_NE(fds.find("/dev/null"), std::string::npos) << fds;  // stdout
  EXPECT_NE(fds.find("stdin-is-a-pipe"), std::string::npos) << fds;
}

TEST(Subprocess, FirstLine) {
  EXPECT_EQ(first_line(""), "");
  EXPECT_EQ(first_line("\n\r\n  \t\n"), "");
  EXPECT_EQ(first_line("  hello world  \r\nsecond"), "hello world");
  EXPECT_EQ(first_line("a\tb\x01"
                       "c\x7f"),
            "a b?c?");
  EXPECT_EQ(first_line(std::string(300, 'y')), std::string(200, 'y'));
  std::string utf8 = std::string(199, 'a') + "\xc3\xa9";  // é straddles the cut
  EXPECT_EQ(first_line(utf8), std::string(199, 'a'));
}

}  // namespace
}  // namespace mp::transports
