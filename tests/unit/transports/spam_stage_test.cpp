// SpamStage with a fake scanner and a fake NEXTHOP transport: marked copies, junk,
// per-user scans and verdicts, shared scans, spam_failure defer/pass, the size cap,
// unknown next hops, and shutdown.
#include "transports/spam_stage.hpp"

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

class FakeScanner final : public SpamScanner {
 public:
  // Verdicts by user; users not listed get ham, "fail" gets an error.
  std::map<std::string, SpamVerdict> verdicts;
  bool fail = false;

  SpamCheck scan(std::string_view user, std::string_view message) override {
    std::unique_lock lock(mutex_);
    calls_.emplace_back(user, message);
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_ || aborted_; });
    if (aborted_) return SpamCheck{false, {}, "aborted"};
    if (fail) return SpamCheck{false, {}, "spamd 127.0.0.1:783: connect: Connection refused"};
    auto it = verdicts.find(std::string(user));
    return SpamCheck{true, it != verdicts.end() ? it->second : SpamVerdict{false, 0.5, 5.0, {"X"}},
                     ""};
  }
  void abort() override {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    changed_.notify_all();
  }
  std::string describe() const override { return "fake"; }

  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  bool wait_calls(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return calls_.size() >= n; });
  }
  std::vector<std::pair<std::string, std::string>> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true, aborted_ = false;
  std::vector<std::pair<std::string, std::string>> calls_;
};

class FakeNext final : public Transport {
 public:
  std::size_t answer_count = std::string::npos;  // npos: one per recipient

  std::string_view name() const override { return "fake"; }
  void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) override {
    DeliveryResult out;
    for (std::size_t i = 0; i < request.recipients.size() && i < answer_count; ++i)
      out.push_back(
          {Outcome::ok, Reply{250, "2.0.0", "ok " + request.recipients[i].address.str()}, "fake"});
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(request));
    }
    done(std::move(out));
  }
  std::vector<DeliveryRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  std::mutex mutex_;
  std::vector<DeliveryRequest> requests_;
};

const std::string kMessage =
    "Received: from x by mx.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-99\r\n\tforged=yes\r\n"
    "Subject: hi\r\n\r\nbody\r\n";

Address addr_of(const std::string& s) {
  std::size_t at = s.find('@');
  return Address{s.substr(0, at), s.substr(at + 1)};
}

RecipientRef rcpt(const std::string& addr, const std::string& user, std::size_t index) {
  return RecipientRef{addr_of(addr), addr_of(addr), user, index};
}

DeliveryRequest request(std::vector<RecipientRef> rcpts, std::string hop = "spam:maildir:/m/%u",
                        std::shared_ptr<const std::string> msg = nullptr) {
  DeliveryRequest r;
  r.queue_id = "ABC123";
  r.sender = addr_of("s@example.org");
  r.recipients = std::move(rcpts);
  r.next_hop = std::move(hop);
  r.message = msg ? msg : std::make_shared<const std::string>(kMessage);
  r.arrival = 1700000000;
  return r;
}

struct Rig {
  std::shared_ptr<FakeScanner> scanner = std::make_shared<FakeScanner>();
  FakeNext next;
  std::vector<std::string> asked;  // next-hop texts the stage looked up
  std::unique_ptr<SpamStage> stage;

  explicit Rig(SpamSettings s = {}) {
    s.default_user = "mailproc";
    stage = std::make_unique<SpamStage>(
        s,
        [this](std::string_view hop) -> Transport* {
          asked.emplace_back(hop);
          return hop == "nowhere" ? nullptr : &next;
        },
        scanner);
  }

  std::future<DeliveryResult> send(DeliveryRequest r) {
    auto p = std::make_shared<std::promise<DeliveryResult>>();
    auto f = p->get_future();
    stage->deliver(std::move(r), [p](DeliveryResult res) { p->set_value(std::move(res)); });
    return f;
  }
  DeliveryResult run(DeliveryRequest r) {
    auto f = send(std::move(r));
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }
};

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

TEST(SpamStage, SpamThen) {
  EXPECT_EQ(spam_then("spam:maildir:/x"), "maildir:/x");
  EXPECT_EQ(spam_then(" SPAM:10.0.0.1:10026 "), "10.0.0.1:10026");
  EXPECT_FALSE(spam_then("maildir:/x"));
  EXPECT_FALSE(spam_then("spam:"));
}

TEST(SpamStage, HamGoesOnMarkedAndNotJunk) {
  Rig rig;
  DeliveryResult res = rig.run(request({rcpt("alice@local.test", "alice", 3)}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::ok);
  EXPECT_EQ(res[0].reply.text, "ok alice@local.test");
  auto calls = rig.scanner->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, "alice");
  EXPECT_EQ(calls[0].second, kMessage);  // spamd sees the message as it came
  auto reqs = rig.next.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const DeliveryRequest& r = reqs[0];
  EXPECT_EQ(rig.asked, std::vector<std::string>{"maildir:/m/%u"});
  EXPECT_EQ(r.next_hop, "maildir:/m/%u");
  EXPECT_FALSE(r.junk);
  EXPECT_EQ(r.queue_id, "ABC123");
  EXPECT_EQ(r.arrival, 1700000000);
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].index, 3u);
  EXPECT_EQ(*r.message,
            "X-Spam-Flag: NO\r\nX-Spam-Score: 0.5\r\n"
            "X-Spam-Status: No, score=0.5 required=5.0 tests=X\r\n"
            "Received: from x by mx.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            "Subject: hi\r\n\r\nbody\r\n");
}

TEST(SpamStage, SpamIsJunkAndForgedHeadersDoNotSurvive) {
  Rig rig;
  rig.scanner->verdicts["alice"] = SpamVerdict{true, 1000.0, 5.0, {"GTUBE"}};
  DeliveryResult res = rig.run(request({rcpt("alice@local.test", "alice", 0)}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::ok);
  auto reqs = rig.next.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].junk);
  const std::string& m = *reqs[0].message;
  EXPECT_EQ(m.rfind("X-Spam-Flag: YES\r\nX-Spam-Score: 1000.0\r\n", 0), 0u) << m;
  EXPECT_EQ(count(m, "X-Spam-Flag"), 1u);
  EXPECT_EQ(count(m, "X-Spam-Status"), 1u);
  EXPECT_EQ(m.find("forged"), std::string::npos);
}

TEST(SpamStage, OneScanPerUserAndEachCopyWithItsUsersVerdict) {
  Rig rig;
  rig.scanner->verdicts["bob"] = SpamVerdict{true, 8.0, 5.0, {"BAYES_99"}};
  DeliveryResult res =
      rig.run(request({rcpt("alice@local.test", "alice", 0), rcpt("bob@local.test", "bob", 1),
                       rcpt("al@local.test", "alice", 2), rcpt("x@relay.test", "", 3)},
                      "spam:10.0.0.1:10026"));
  ASSERT_EQ(res.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(res[i].outcome, Outcome::ok) << i;
  EXPECT_EQ(res[0].reply.text, "ok alice@local.test");
  EXPECT_EQ(res[1].reply.text, "ok bob@local.test");
  EXPECT_EQ(res[2].reply.text, "ok al@local.test");
  EXPECT_EQ(res[3].reply.text, "ok x@relay.test");
  std::map<std::string, int> users;
  for (const auto& c : rig.scanner->calls()) ++users[c.first];
  EXPECT_EQ(users, (std::map<std::string, int>{{"alice", 1}, {"bob", 1}, {"mailproc", 1}}));
  std::map<std::string, DeliveryRequest> by_first;
  for (const auto& r : rig.next.requests()) by_first[r.recipients[0].address.str()] = r;
  ASSERT_EQ(by_first.size(), 3u);
  const DeliveryRequest& alice = by_first["alice@local.test"];
  ASSERT_EQ(alice.recipients.size(), 2u);
  EXPECT_EQ(alice.recipients[1].index, 2u);
  EXPECT_FALSE(alice.junk);
  EXPECT_EQ(alice.next_hop, "10.0.0.1:10026");
  EXPECT_EQ(alice.message->rfind("X-Spam-Flag: NO\r\n", 0), 0u);
  const DeliveryRequest& bob = by_first["bob@local.test"];
  EXPECT_TRUE(bob.junk);
  EXPECT_EQ(bob.message->rfind("X-Spam-Flag: YES\r\n", 0), 0u);
  EXPECT_FALSE(by_first["x@relay.test"].junk);
}

TEST(SpamStage, FailureDefers) {
  Rig rig;
  rig.scanner->fail = true;
  DeliveryResult res = rig.run(request({rcpt("alice@local.test", "alice", 0)}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::tempfail);
  EXPECT_EQ(res[0].reply.code, 451);
  EXPECT_EQ(res[0].reply.status, "4.3.0");
  EXPECT_EQ(res[0].reply.text,
            "spam check failed: spamd 127.0.0.1:783: connect: Connection refused");
  EXPECT_TRUE(rig.next.requests().empty());
}

TEST(SpamStage, FailurePassesUnscanned) {
  SpamSettings s;
  s.pass_on_failure = true;
  Rig rig(s);
  rig.scanner->fail = true;
  DeliveryResult res = rig.run(request({rcpt("alice@local.test", "alice", 0)}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::ok);
  auto reqs = rig.next.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_FALSE(reqs[0].junk);
  const std::string& m = *reqs[0].message;
  EXPECT_EQ(m.rfind("X-Spam-Status: unscanned (spam check failed)\r\nReceived:", 0), 0u) << m;
  EXPECT_EQ(count(m, "X-Spam-"), 1u);
}

TEST(SpamStage, TooLargeIsNotScanned) {
  SpamSettings s;
  s.max_size = 20;
  Rig rig(s);
  DeliveryResult res = rig.run(request({rcpt("alice@local.test", "alice", 0)}));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::ok);
  EXPECT_TRUE(rig.scanner->calls().empty());
  auto reqs = rig.next.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].message->rfind("X-Spam-Status: unscanned (message too large: " +
                                       std::to_string(kMessage.size()) + " bytes)\r\n",
                                   0),
            0u)
      << *reqs[0].message;
}

TEST(SpamStage, NoTransportForTheNextHop) {
  Rig rig;
  DeliveryResult res =
      rig.run(request({rcpt("a@x.test", "", 0), rcpt("b@x.test", "", 1)}, "spam:nowhere"));
  ASSERT_EQ(res.size(), 2u);
  for (const auto& r : res) {
    EXPECT_EQ(r.outcome, Outcome::tempfail);
    EXPECT_EQ(r.reply.status, "4.3.5");
  }
  res = rig.run(request({rcpt("a@x.test", "", 0)}, "maildir:/x"));
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].outcome, Outcome::tempfail);
  EXPECT_TRUE(rig.scanner->calls().empty());
}

TEST(SpamStage, MissingResultsOfTheNextHopAreDeferred) {
  Rig rig;
  rig.next.answer_count = 1;
  DeliveryResult res =
      rig.run(request({rcpt("a@x.test", "", 0), rcpt("b@x.test", "", 1)}, "spam:10.0.0.1:25"));
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].outcome, Outcome::ok);
  EXPECT_EQ(res[1].outcome, Outcome::tempfail);
}

TEST(SpamStage, RequestsForTheSameMessageAndUserShareOneScan) {
  Rig rig;
  rig.scanner->close();
  auto msg = std::make_shared<const std::string>(kMessage);
  auto f1 = rig.send(request({rcpt("a@local.test", "alice", 0)}, "spam:maildir:/m/%u", msg));
  ASSERT_TRUE(rig.scanner->wait_calls(1));
  auto f2 = rig.send(request({rcpt("b@local.test", "alice", 1)}, "spam:maildir:/m/%u", msg));
  auto f3 = rig.send(request({rcpt("c@local.test", "carol", 2)}, "spam:maildir:/m/%u", msg));
  rig.scanner->open();
  ASSERT_EQ(f1.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f3.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f1.get()[0].outcome, Outcome::ok);
  EXPECT_EQ(f2.get()[0].outcome, Outcome::ok);
  EXPECT_EQ(f3.get()[0].outcome, Outcome::ok);
  std::map<std::string, int> users;
  for (const auto& c : rig.scanner->calls()) ++users[c.first];
  EXPECT_EQ(users, (std::map<std::string, int>{{"alice", 1}, {"carol", 1}}));
  EXPECT_EQ(rig.next.requests().size(), 3u);
}

TEST(SpamStage, ShutdownDefersRunningAndQueuedScansEvenWithPass) {
  SpamSettings s;
  s.pass_on_failure = true;
  s.workers = SpamWorkerLimits{1, 1, 60000ms};
  Rig rig(s);
  rig.scanner->close();
  std::vector<std::future<DeliveryResult>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(rig.send(request({rcpt("a@local.test", "alice", 0)}, "spam:maildir:/m/%u",
                                  std::make_shared<const std::string>(kMessage))));
  ASSERT_TRUE(rig.scanner->wait_calls(1));
  rig.stage.reset();  // aborts the running scan, cancels the queued ones
  for (auto& f : fs) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    DeliveryResult r = f.get();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::tempfail);
    EXPECT_EQ(r[0].reply.text, "spam check not done: shutting down");
  }
  EXPECT_TRUE(rig.next.requests().empty());
}

TEST(SpamStage, CancelQueuedDefersWhatHasNotStarted) {
  SpamSettings s;
  s.workers = SpamWorkerLimits{1, 1, 60000ms};
  Rig rig(s);
  rig.scanner->close();
  std::vector<std::future<DeliveryResult>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(rig.send(request({rcpt("a@local.test", "alice", 0)}, "spam:maildir:/m/%u",
                                  std::make_shared<const std::string>(kMessage))));
  ASSERT_TRUE(rig.scanner->wait_calls(1));
  rig.stage->cancel_queued();
  for (std::size_t i = 1; i < 3; ++i) {
    ASSERT_EQ(fs[i].wait_for(10s), std::future_status::ready);
    EXPECT_EQ(fs[i].get()[0].outcome, Outcome::tempfail);
  }
  rig.scanner->open();
  ASSERT_EQ(fs[0].wait_for(10s), std::future_status::ready);
  EXPECT_EQ(fs[0].get()[0].outcome, Outcome::ok);
  EXPECT_EQ(rig.next.requests().size(), 1u);
}

TEST(SpamStage, SettingsFromConfig) {
  Config c = default_config();
  c.spamd = "unix:/run/spamd.sock";
  c.spam_workers_per_user = 3;
  c.spam_worker_idle = std::chrono::seconds(7);
  c.spam_failure = SpamFailure::pass;
  c.user = "mailproc";
  SpamSettings s = SpamSettings::from(c);
  EXPECT_EQ(s.spamd, "unix:/run/spamd.sock");
  EXPECT_EQ(s.workers.per_user, 3u);
  EXPECT_EQ(s.workers.total, 5u);
  EXPECT_EQ(s.workers.idle, 7000ms);
  EXPECT_TRUE(s.pass_on_failure);
  EXPECT_EQ(s.default_user, "mailproc");
  c.spam_workers_per_user = 9;
  EXPECT_EQ(SpamSettings::from(c).workers.total, 9u);
}

}  // namespace
}  // namespace mp::transports
