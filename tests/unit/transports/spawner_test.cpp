// Spawners: running as the delivery user (root helper), refusing root and unknown
// users, the direct spawner when not root, and the helper's handling of bad input.
#include "transports/spawner.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "local_test_util.hpp"
#include "transports/local_helper.hpp"
#include "transports/local_job_wire.hpp"
#include "transports/local_socket.hpp"

namespace mp::transports {
namespace {

namespace fs = std::filesystem;
using testing::is_root;
using testing::script;
using testing::slurp;
using testing::TempDir;

constexpr const char* kNeedsRoot = "needs root: only root can switch to another user";

Job exec_job(std::vector<std::string> argv, std::string user = "nobody", std::string input = "") {
  Job j;
  j.kind = Job::Kind::exec;
  j.user = std::move(user);
  j.argv = std::move(argv);
  j.env = {"SENDER=alice@example.net", "RECIPIENT=bob@example.org", "QUEUE_ID=Q1",
           "PATH=/evil"};  // PATH is the spawner's: this one is dropped
  j.timeout = std::chrono::seconds(20);
  j.data = std::move(input);
  return j;
}

Job maildir_job(std::string path, std::string user = "nobody") {
  Job j;
  j.kind = Job::Kind::maildir;
  j.user = std::move(user);
  j.maildir = std::move(path);
  j.data = "Subject: x\n\nbody\n";
  return j;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st;
}

// ---- DirectSpawner ----

TEST(DirectSpawner, RefusesToRunAnythingAsRoot) {
  if (!is_root()) GTEST_SKIP() << "this checks the behaviour when the process is root";
  TempDir dir;
  auto out = dir.path() / "ran";
  DirectSpawner s;
  auto r = s.run(exec_job({"/usr/bin/touch", out.string()}));
  EXPECT_EQ(r.status, JobResult::Status::refused);
  EXPECT_TRUE(r.temporary);
  EXPECT_FALSE(fs::exists(out));
  r = s.run(maildir_job((dir.path() / "Maildir").string()));
  EXPECT_EQ(r.status, JobResult::Status::refused);
  EXPECT_FALSE(fs::exists(dir.path() / "Maildir"));
}

TEST(DirectSpawner, RunsJobsAsTheCurrentUser) {
  if (is_root()) GTEST_SKIP() << "as root the direct spawner refuses every job (tested above)";
  TempDir dir;
  auto prog =
      script(dir.path(), "p", "id -u > \"$1\"\necho \"$PATH $USER\" >> \"$1\"\ncat >> \"$1\"\n");
  DirectSpawner s;
  auto r = s.run(exec_job({prog, (dir.path() / "out").string()}, "nobody", "stdin bytes\n"));
  ASSERT_EQ(r.status, JobResult::Status::exited) << r.text;
  EXPECT_EQ(r.code, 0);
  std::string out = slurp(dir.path() / "out");
  EXPECT_EQ(out.substr(0, out.find('\n')), std::to_string(::geteuid()));
  EXPECT_NE(out.find("/usr/bin:/bin "), std::string::npos) << out;
  EXPECT_NE(out.find("stdin bytes\n"), std::string::npos);
  r = s.run(maildir_job((dir.path() / "Maildir").string()));
  EXPECT_EQ(r.status, JobResult::Status::maildir_ok) << r.text;
  EXPECT_TRUE(fs::exists(dir.path() / "Maildir" / "new" / r.text));
}

TEST(DirectSpawner, RefusesRootAndUnknownUsers) {
  if (is_root()) GTEST_SKIP() << "as root the direct spawner refuses every job (tested above)";
  TempDir dir;
  DirectSpawner s;
  auto r = s.run(exec_job({"/usr/bin/touch", (dir.path() / "x").string()}, "root"));
  EXPECT_EQ(r.status, JobResult::Status::refused);
  EXPECT_FALSE(r.temporary);
  r = s.run(exec_job({"/usr/bin/touch", (dir.path() / "x").string()}, "mp-no-such-user"));
  EXPECT_EQ(r.status, JobResult::Status::refused);
  EXPECT_FALSE(r.temporary);
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST(PrivilegedSpawner, StartNeedsRoot) {
  if (is_root()) GTEST_SKIP() << "this checks the refusal when not root";
  EXPECT_THROW(PrivilegedSpawner::start(), std::runtime_error);
}

// ---- PrivilegedSpawner (root) ----

TEST(PrivilegedSpawner, RunsProgramsAsTheDeliveryUser) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  auto out_dir = dir.writable("out");
  auto prog = script(dir.path(), "p",
                     "{ id -u; id -g; id -G; echo \"$HOME|$USER|$LOGNAME|$PATH|$SENDER\"; cat; } "
                     "> \"$1\"\n");
  auto s = PrivilegedSpawner::start();
  auto r = s->run(exec_job({prog, (out_dir / "id").string()}, "nobody", "the message\n"));
  ASSERT_EQ(r.status, JobResult::Status::exited) << r.text;
  EXPECT_EQ(r.code, 0);
  std::string nobody_uid = std::to_string(testing::uid_of("nobody"));
  std::string nobody_gid = std::to_string(testing::gid_of("nobody"));
  EXPECT_EQ(slurp(out_dir / "id"),
            nobody_uid + "\n" + nobody_gid + "\n" + nobody_gid + "\n" +
                "/nonexistent|nobody|nobody|/usr/bin:/bin|alice@example.net\n"
                "the message\n");
  EXPECT_EQ(stat_of(out_dir / "id").st_uid, testing::uid_of("nobody"));
}

TEST(PrivilegedSpawner, MaildirBelongsToTheDeliveryUser) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  auto base = dir.writable("mail");
  auto md = base / "nobody" / "Maildir";
  auto s = PrivilegedSpawner::start();
  auto r = s->run(maildir_job(md.string()));
  ASSERT_EQ(r.status, JobResult::Status::maildir_ok) << r.text;
  uid_t nobody = testing::uid_of("nobody");
  for (auto p : {base / "nobody", md, md / "tmp", md / "new", md / "cur", md / "new" / r.text}) {
    EXPECT_EQ(stat_of(p).st_uid, nobody) << p;
  }
  EXPECT_EQ(stat_of(md).st_mode & 07777, 0700u);
  EXPECT_EQ(slurp(md / "new" / r.text), "Subject: x\n\nbody\n");
}

TEST(PrivilegedSpawner, PermissionProblemsAreTemporary) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;  // owned by root, mode 0755: nobody may not create anything in it
  auto s = PrivilegedSpawner::start();
  auto r = s->run(maildir_job((dir.path() / "Maildir").string()));
  EXPECT_EQ(r.status, JobResult::Status::maildir_failed);
  EXPECT_TRUE(r.temporary);
  EXPECT_EQ(r.code, EACCES) << r.text;
  EXPECT_FALSE(fs::exists(dir.path() / "Maildir"));
}

TEST(PrivilegedSpawner, RefusesRootAndUnknownUsers) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  auto out_dir = dir.writable("out");
  auto s = PrivilegedSpawner::start();
  for (std::string user : {"root", "mp-no-such-user"}) {
    auto r = s->run(exec_job({"/usr/bin/touch", (out_dir / "ran").string()}, user));
    EXPECT_EQ(r.status, JobResult::Status::refused) << user;
    EXPECT_FALSE(r.temporary) << user;
    r = s->run(maildir_job((out_dir / "Maildir").string(), user));
    EXPECT_EQ(r.status, JobResult::Status::refused) << user;
  }
  EXPECT_FALSE(fs::exists(out_dir / "ran"));
  EXPECT_FALSE(fs::exists(out_dir / "Maildir"));
}

TEST(PrivilegedSpawner, TimeoutAndExecFailure) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  auto s = PrivilegedSpawner::start();
  auto job = exec_job({"/bin/sleep", "1000"});
  job.timeout = std::chrono::milliseconds(300);
  auto r = s->run(job);
  EXPECT_EQ(r.status, JobResult::Status::timed_out);
  r = s->run(exec_job({"/nonexistent/mda"}));
  EXPECT_EQ(r.status, JobResult::Status::not_started);
  EXPECT_EQ(r.code, ENOENT);
}

TEST(PrivilegedSpawner, ConcurrentJobs) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  TempDir dir;
  auto out_dir = dir.writable("out");
  auto s = PrivilegedSpawner::start();
  std::vector<std::thread> threads;
  std::vector<JobResult> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      std::string input(100000 + i, static_cast<char>('a' + i));
      results[i] = s->run(
          exec_job({"/usr/bin/tee", (out_dir / std::to_string(i)).string()}, "nobody", input));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].status, JobResult::Status::exited) << results[i].text;
    EXPECT_EQ(slurp(out_dir / std::to_string(i)),
              std::string(100000 + i, static_cast<char>('a' + i)));
  }
}

TEST(PrivilegedSpawner, HelperExitsWithTheSpawner) {
  if (!is_root()) GTEST_SKIP() << kNeedsRoot;
  auto s = PrivilegedSpawner::start();
  pid_t helper = s->helper_pid();
  ASSERT_EQ(::kill(helper, 0), 0);
  s.reset();  // closes the control socket, waits for the helper
  EXPECT_EQ(::kill(helper, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// The helper loop, forked here directly: bad input is answered or ignored, never obeyed.
TEST(DeliveryHelper, RejectsMalformedJobsAndMessages) {
  int ctl[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ctl[0]);
    run_delivery_helper(ctl[1]);
  }
  ::close(ctl[1]);
  auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(10); };

  // A control message without a descriptor is ignored.
  ASSERT_EQ(::send(ctl[0], "J", 1, MSG_NOSIGNAL), 1);

  for (std::string garbage :
       {std::string("garbage"), std::string(), encode_job(exec_job({"rel"}))}) {
    int job[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, job), 0);
    ASSERT_EQ(send_fd(ctl[0], job[1]), 0);
    ::close(job[1]);
    ASSERT_EQ(write_all(job[0], garbage, deadline()), 0);
    ::shutdown(job[0], SHUT_WR);
    std::string answer;
    ASSERT_EQ(read_all(job[0], answer, 65536, deadline()), 0);
    ::close(job[0]);
    std::string why;
    auto r = decode_result(answer, why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, JobResult::Status::refused);
    EXPECT_FALSE(r->temporary);
    EXPECT_NE(r->text.find("bad job"), std::string::npos) << r->text;
  }
  ::close(ctl[0]);  // the helper exits when our end closes
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace mp::transports
