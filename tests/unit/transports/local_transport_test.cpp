// LocalTransport end to end with real programs: pipe and MDA exit statuses, the
// message and headers on stdin, argv injection attempts, maildir delivery, refusals.
// As root, deliveries go through the privileged helper and run as `nobody`.
#include "transports/local_transport.hpp"

#include <sys/stat.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "local_test_util.hpp"

namespace mp::transports {
namespace {

namespace fs = std::filesystem;
using testing::addr;
using testing::request;
using testing::script;
using testing::slurp;
using testing::TempDir;

class LocalTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = dir_.writable("out");
    LocalOptions opts;
    opts.pipe_timeout = std::chrono::seconds(20);
    opts.threads = 2;
    transport_ = std::make_unique<LocalTransport>(testing::test_spawner(), opts);
  }

  // A script that records its argv (one per line) and stdin, then runs `tail`.
  std::string recorder(const std::string& tail = "exit 0\n") {
    return script(dir_.path(), "recorder",
                  "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + (out_ / "argv").string() +
                      "\ncat > " + (out_ / "stdin").string() + "\nenv > " +
                      (out_ / "env").string() + "\n" + tail);
  }

  RecipientResult one(const DeliveryRequest& req) {
    auto results = transport_->deliver_now(req);
    EXPECT_EQ(results.size(), req.recipients.size());
    return results.empty() ? RecipientResult{} : results[0];
  }

  std::vector<std::string> argv_lines() {
    std::vector<std::string> lines;
    std::string all = slurp(out_ / "argv");
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t nl = all.find('\n', pos);
      lines.push_back(all.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return lines;
  }

  TempDir dir_;
  fs::path out_;
  std::unique_ptr<LocalTransport> transport_;
};

TEST_F(LocalTransportTest, PipeDeliversTheMessageWithReturnPathAndDeliveredTo) {
  auto prog = recorder();
  auto req = request("|" + prog + " -r %r -s %s -u %u -i %i", addr("bob", "Example.org"), "",
                     "Subject: hi\r\nX-Bare: a\rb\r\n\r\nline 1\r\nline 2\r\n");
  auto r = one(req);
  EXPECT_EQ(r.outcome, Outcome::ok) << r.reply.line();
  EXPECT_EQ(r.reply.status, "2.0.0");
  EXPECT_EQ(r.relay, "pipe");
  EXPECT_EQ(slurp(out_ / "stdin"),
            "Return-Path: <alice@example.net>\nDelivered-To: bob@Example.org\n"
            "Subject: hi\nX-Bare: a\rb\n\nline 1\nline 2\n");
  EXPECT_EQ(argv_lines(),
            (std::vector<std::string>{"-r", "bob@Example.org", "-s", "alice@example.net", "-u",
                                      "nobody", "-i", "4XyZq1"}));
  std::string env = slurp(out_ / "env");
  for (std::string want : {"SENDER=alice@example.net\n", "RECIPIENT=bob@Example.org\n",
                           "QUEUE_ID=4XyZq1\n", "PATH=/usr/bin:/bin\n"})
    EXPECT_NE(env.find(want), std::string::npos) << want << " in\n" << env;
  if (testing::is_root()) {
    EXPECT_NE(env.find("USER=nobody\n"), std::string::npos) << env;
    EXPECT_NE(env.find("LOGNAME=nobody\n"), std::string::npos) << env;
    EXPECT_NE(env.find("HOME=/nonexistent\n"), std::string::npos) << env;
  }
}

TEST_F(LocalTransportTest, NullSenderAndOriginalRecipient) {
  auto prog = recorder();
  auto req = request("|" + prog + " %s", addr("bob", "new.example"), "nobody");
  req.sender = Address{};
  req.recipients[0].original = addr("bob", "old.example");
  auto r = one(req);
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reply.line();
  EXPECT_EQ(slurp(out_ / "stdin").rfind("Return-Path: <>\nDelivered-To: bob@old.example\n", 0), 0u)
      << slurp(out_ / "stdin");
  EXPECT_EQ(argv_lines(), std::vector<std::string>{"MAILER-DAEMON"});
  EXPECT_NE(slurp(out_ / "env").find("SENDER=\n"), std::string::npos);
}

TEST_F(LocalTransportTest, PipeExitStatuses) {
  auto run = [&](const std::string& body) {
    static int n = 0;
    auto prog = script(dir_.path(), "p" + std::to_string(++n), body);
    return one(request("|" + prog, addr("bob", "example.org"), "nobody"));
  };
  auto r = run("cat >/dev/null\nexit 0\n");
  EXPECT_EQ(r.outcome, Outcome::ok);

  r = run("echo 'mailbox locked' >&2\nexit 75\n");
  EXPECT_EQ(r.outcome, Outcome::tempfail);
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.status, "4.3.0");
  EXPECT_NE(r.reply.text.find("75"), std::string::npos) << r.reply.text;
  EXPECT_NE(r.reply.text.find("mailbox locked"), std::string::npos) << r.reply.text;

  r = run("echo 'no such mailbox: bob' >&2\necho more >&2\nexit 1\n");
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.3.0");
  EXPECT_EQ(r.reply.text, "no such mailbox: bob");

  r = run("exit 67\n");  // no stderr: the text names the status
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_NE(r.reply.text.find("status 67"), std::string::npos) << r.reply.text;

  r = run("kill -TERM $$\n");
  EXPECT_EQ(r.outcome, Outcome::tempfail);
  EXPECT_EQ(r.reply.status, "4.3.0");
  EXPECT_NE(r.reply.text.find("signal 15 (SIGTERM)"), std::string::npos) << r.reply.text;
}

TEST_F(LocalTransportTest, PipeTimeoutDefers) {
  LocalOptions opts;
  opts.pipe_timeout = std::chrono::milliseconds(400);
  LocalTransport t(testing::test_spawner(), opts);
  auto prog = script(dir_.path(), "slow", "exec sleep 1000\n");
  auto start = std::chrono::steady_clock::now();
  auto results = t.deliver_now(request("|" + prog, addr("bob", "example.org"), "nobody"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(results[0].outcome, Outcome::tempfail);
  EXPECT_EQ(results[0].reply.status, "4.3.0");
  EXPECT_NE(results[0].reply.text.find("timed out after 400ms"), std::string::npos)
      << results[0].reply.text;
}

TEST_F(LocalTransportTest, InjectionAttemptsReachTheProgramVerbatim) {
  auto prog = recorder();
  auto pwned = [&](int i) { return (dir_.path() / ("pwned" + std::to_string(i))).string(); };
  std::vector<std::string> locals = {"$(touch " + pwned(1) + ")",
                                     ";touch " + pwned(2),
                                     "`touch " + pwned(3) + "`",
                                     "|touch " + pwned(4),
                                     "&& touch " + pwned(5),
                                     "../x",
                                     "a/b",
                                     ".x"};
  for (const auto& local : locals) {
    auto quoted = "\"" + local + "\"";
    auto r = one(request("|" + prog + " %l %r", addr(quoted, "example.org"), "nobody"));
    ASSERT_EQ(r.outcome, Outcome::ok) << local << ": " << r.reply.line();
    EXPECT_EQ(argv_lines(), (std::vector<std::string>{local, quoted + "@example.org"}));
  }
  for (int i = 1; i <= 5; ++i) EXPECT_FALSE(fs::exists(pwned(i))) << pwned(i);
}

TEST_F(LocalTransportTest, UnsafeValuesAreRefusedBeforeAnythingRuns) {
  auto prog = recorder();
  // Control characters never reach argv; '-' would turn the value into an option.
  for (std::string local : {"\"a\x01z\"", "-oQ/tmp/x"}) {
    auto r = one(request("|" + prog + " %l", addr(local, "example.org"), "nobody"));
    EXPECT_EQ(r.outcome, Outcome::permfail) << local;
    EXPECT_EQ(r.reply.status, "5.1.3");
  }
  // Path segments refuse '/', a leading '.', and controls.
  auto mail = dir_.writable("mail");
  for (std::string local : {"\"../x\"", "\"a/b\"", ".x", "\"..\""}) {
    auto r = one(
        request("maildir:" + mail.string() + "/%l/Maildir", addr(local, "example.org"), "nobody"));
    EXPECT_EQ(r.outcome, Outcome::permfail) << local;
    EXPECT_EQ(r.reply.status, "5.1.3") << local;
  }
  EXPECT_FALSE(fs::exists(out_ / "argv"));
  EXPECT_TRUE(fs::is_empty(mail));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 3)
      << "only out/, mail/ and the recorder script";
}

TEST_F(LocalTransportTest, MaildirDelivery) {
  auto mail = dir_.writable("mail");
  auto hop = "maildir:" + mail.string() + "/%d/%u/Maildir";
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto r = one(request(hop, addr("bob", "Example.ORG"), "nobody",
                         "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n"));
    ASSERT_EQ(r.outcome, Outcome::ok) << r.reply.line();
    EXPECT_EQ(r.relay, "maildir");
  }
  auto md = mail / "example.org" / "nobody" / "Maildir";
  std::set<std::string> bodies;
  for (const auto& e : fs::directory_iterator(md / "new")) {
    names.insert(e.path().filename().string());
    bodies.insert(slurp(e.path()));
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, testing::delivery_uid());
  }
  EXPECT_EQ(names.size(), 3u);
  EXPECT_TRUE(fs::is_empty(md / "tmp"));
  EXPECT_EQ(bodies.count("Return-Path: <alice@example.net>\nDelivered-To: bob@Example.ORG\n"
                         "Subject: 1\n\nbody\n"),
            1u);
}

TEST_F(LocalTransportTest, MdaBarePathGetsDashDUser) {
  auto prog = recorder();
  auto r = one(request(prog, addr("bob", "example.org"), "nobody"));
  ASSERT_EQ(r.outcome, Outcome::ok) << r.reply.line();
  EXPECT_EQ(r.relay, "local");
  EXPECT_EQ(argv_lines(), (std::vector<std::string>{"-d", "nobody"}));
  r = one(request(prog + " -a %l", addr("bob", "example.org"), "nobody"));
  ASSERT_EQ(r.outcome, Outcome::ok);
  EXPECT_EQ(argv_lines(), (std::vector<std::string>{"-a", "bob"}));
  // An MDA needs a mapped unix user; a pipe falls back to nobody.
  r = one(request(prog, addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.1.1");
  r = one(request("|" + prog + " %u", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_EQ(argv_lines(), std::vector<std::string>{"nobody"});
}

TEST_F(LocalTransportTest, NothingIsDeliveredAsRoot) {
  auto prog = recorder();
  auto mail = dir_.writable("mail");
  for (auto hop : {"|" + prog, prog, "maildir:" + mail.string() + "/%u"}) {
    auto r = one(request(hop, addr("root", "example.org"), "root"));
    EXPECT_EQ(r.outcome, Outcome::permfail) << hop << ": " << r.reply.line();
    EXPECT_EQ(r.reply.status, "5.3.5") << hop;
  }
  EXPECT_FALSE(fs::exists(out_ / "argv"));
  EXPECT_TRUE(fs::is_empty(mail));
}

TEST_F(LocalTransportTest, MailLoopIsBounced) {
  auto prog = recorder();
  auto r = one(request("|" + prog, addr("bob", "example.org"), "nobody",
                       "Received: x\r\nDELIVERED-TO:  Bob@Example.org \r\n\r\nbody\r\n"));
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.4.6");
  EXPECT_FALSE(fs::exists(out_ / "argv"));
  // The same text in the body is not a loop.
  r = one(request("|" + prog, addr("bob", "example.org"), "nobody",
                  "Subject: x\r\n\r\nDelivered-To: bob@example.org\r\n"));
  EXPECT_EQ(r.outcome, Outcome::ok) << r.reply.line();
}

TEST_F(LocalTransportTest, DiscardErrorAndForeignHops) {
  auto r = one(request("discard", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_EQ(r.relay, "none");
  EXPECT_EQ(r.reply.text, "discarded");
  r = one(request("error:5.1.1 no such user here", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.1.1");
  EXPECT_EQ(r.reply.text, "no such user here");
  r = one(request("ERROR:4.2.1 try later", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::tempfail);
  EXPECT_EQ(r.reply.status, "4.2.1");
  r = one(request("error", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.0.0");
  r = one(request("error:bounce it", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.reply.status, "5.0.0");
  EXPECT_EQ(r.reply.text, "bounce it");
  r = one(request("mx.example.org:25", addr("bob", "example.org"), ""));
  EXPECT_EQ(r.outcome, Outcome::tempfail);
  EXPECT_FALSE(is_local_next_hop("mx"));
  EXPECT_FALSE(is_local_next_hop("spam:maildir:/x"));
  EXPECT_EQ(local_kind("|/bin/x"), LocalKind::pipe);
  EXPECT_EQ(local_kind("/usr/bin/maildrop"), LocalKind::mda);
  EXPECT_EQ(local_kind("Maildir:/x"), LocalKind::maildir);
  EXPECT_EQ(local_kind("discard:spam trap"), LocalKind::discard);
  EXPECT_FALSE(local_kind("discarded.example"));
}

TEST_F(LocalTransportTest, DeliverIsAsynchronousAndAnswersEveryRecipient) {
  auto prog = script(dir_.path(), "ok", "cat > /dev/null\n");
  auto req = request("|" + prog + " %l", addr("a", "example.org"), "nobody");
  RecipientRef second = req.recipients[0];
  second.address = addr("-bad", "example.org");  // refused; the others still run
  RecipientRef third = req.recipients[0];
  third.address = addr("c", "example.org");
  req.recipients.push_back(second);
  req.recipients.push_back(third);
  std::promise<std::pair<DeliveryResult, std::thread::id>> promise;
  auto future = promise.get_future();
  transport_->deliver(req, [&](DeliveryResult r) {
    promise.set_value({std::move(r), std::this_thread::get_id()});
  });
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto [results, thread] = future.get();
  EXPECT_NE(thread, std::this_thread::get_id());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].outcome, Outcome::ok);
  EXPECT_EQ(results[1].outcome, Outcome::permfail);
  EXPECT_EQ(results[2].outcome, Outcome::ok);
}

TEST(LocalTransportShutdown, QueuedRequestsAreDeferredNotLost) {
  TempDir dir;
  auto prog = script(dir.path(), "slow", "cat > /dev/null\nsleep 0.3\n");
  std::atomic<int> ok{0}, deferred{0}, calls{0};
  {
    LocalOptions opts;
    opts.threads = 1;
    LocalTransport t(testing::test_spawner(), opts);
    for (int i = 0; i < 5; ++i) {
      t.deliver(request("|" + prog, addr("bob", "example.org"), "nobody"), [&](DeliveryResult r) {
        ++calls;
        (r.at(0).outcome == Outcome::ok ? ok : deferred)++;
      });
    }
  }  // destroyed: the running one finishes, the queued ones are deferred
  EXPECT_EQ(calls.load(), 5);
  EXPECT_GE(deferred.load(), 1);
  EXPECT_EQ(ok.load() + deferred.load(), 5);
}

}  // namespace
}  // namespace mp::transports
