// MX delivery ("mx", "mx:domain") through a scripted Resolver (no DNS) to real peers on
// loopback: MX hosts are 127.0.0.2 and 127.0.0.3 on one shared port (smtp_port), as on
// the Internet. Preference order, failover, A fallback, null MX and NXDOMAIN bounces,
// DNS trouble deferring, recipients of several domains, address literals.
#include <gtest/gtest.h>

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <thread>

#include "../transports/fake_resolver.hpp"
#include "queue/delivery_log.hpp"
#include "relay_harness.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

using testing::A;
using testing::FakeResolver;
using testing::request;
using testing::ScriptServer;
using testing::SmtpSink;

class MxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::free_port();
    h_.settings.default_port = port_;
    h_.settings.resolver = &dns_;
    h_.settings.tls = SmtpTls::none;
  }
  std::string relay(const std::string& host, const std::string& ip) const {
    return host + "[" + ip + "]:" + std::to_string(port_);
  }

  std::uint16_t port_ = 0;
  FakeResolver dns_;
  testing::Harness h_;
};

TEST_F(MxTest, PreferenceOrderThenFailoverToTheSecondMx) {
  ScriptServer primary("127.0.0.2", port_), backup("127.0.0.3", port_);
  primary.start();
  backup.start();
  // Listed out of order: the lower preference value wins.
  dns_.set_mx("example.test", {{20, "mx2.example.test"}, {10, "mx1.example.test."}});
  dns_.set_addresses("mx1.example.test", {"127.0.0.2"});
  dns_.set_addresses("mx2.example.test", {"127.0.0.3"});
  for (int i = 0; i < 3; ++i) {
    DeliveryResult r = h_.deliver(request("mx", {A("u", "Example.TEST")}));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
    EXPECT_EQ(r[0].relay, relay("mx1.example.test", "127.0.0.2"));
  }
  EXPECT_EQ(primary.messages(), 3u);
  EXPECT_EQ(backup.connections(), 0u);

  // The primary is gone: the backup takes the mail (one refused connect, logged, skipped).
  dns_.set_addresses("mx1.example.test", {"127.0.0.4"});  // nobody listens there
  testing::LogCatcher log;
  DeliveryResult r = h_.deliver(request("mx", {A("u", "example.test"), A("v", "example.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::ok) << x.reply.line();
    EXPECT_EQ(x.relay, relay("mx2.example.test", "127.0.0.3"));
  }
  EXPECT_EQ(backup.messages(), 1u);
  auto skipped = log.grep("TESTID: connect to " + relay("mx1.example.test", "127.0.0.4") +
                          ": Connection refused");
  EXPECT_EQ(skipped.size(), 1u);
}

TEST_F(MxTest, TempfailAtOneMxGoesToTheNextButAPermfailIsFinal) {
  ScriptServer greylists("127.0.0.2", port_), good("127.0.0.3", port_);
  greylists.rcpt = [](const std::string& line) {
    if (line.find("<gone@") != std::string::npos) return std::string("550 5.1.1 no such user");
    return std::string("450 4.2.0 greylisted");
  };
  greylists.start();
  good.start();
  dns_.set_mx("example.test", {{10, "mx1.example.test"}, {20, "mx2.example.test"}});
  dns_.set_addresses("mx1.example.test", {"127.0.0.2"});
  dns_.set_addresses("mx2.example.test", {"127.0.0.3"});
  DeliveryResult r = h_.deliver(request("mx", {A("u", "example.test"), A("gone", "example.test")}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay("mx2.example.test", "127.0.0.3"));
  EXPECT_EQ(r[1].outcome, Outcome::permfail);
  EXPECT_EQ(queue::remote_reply_of(r[1].reply), "550 5.1.1 no such user");
  EXPECT_EQ(r[1].relay, relay("mx1.example.test", "127.0.0.2"));
  auto got = good.sessions();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(
      std::count(got[0].commands.begin(), got[0].commands.end(), "RCPT TO:<gone@example.test>"), 0);

  // Every MX answers 4xx: the recipient's own last 4xx, deferred.
  good.rcpt = greylists.rcpt;
  r = h_.deliver(request("mx", {A("u", "example.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(queue::remote_reply_of(r[0].reply), "450 4.2.0 greylisted");
}

TEST_F(MxTest, NoMxFallsBackToTheAddressOfTheDomain) {
  if (::access(testing::kSmtpSink, X_OK) != 0) GTEST_SKIP() << "no " << testing::kSmtpSink;
  testing::TempDir dump;
  SmtpSink sink(dump.path(), {}, "127.0.0.2", port_);
  dns_.set_mx("plain.test", FakeResolver::mx_status(DnsStatus::nodata));
  dns_.set_addresses("plain.test", {"127.0.0.2"});
  DeliveryResult r = h_.deliver(request("mx", {A("u", "plain.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay("plain.test", "127.0.0.2"));
  EXPECT_EQ(testing::files_in(dump.path()).size(), 1u);
  EXPECT_EQ(dns_.calls(), (std::vector<std::string>{"MX plain.test", "ADDR plain.test"}));
}

TEST_F(MxTest, NullMxAndNxdomainBounceWithoutConnecting) {
  ScriptServer s("127.0.0.2", port_);
  s.start();
  MxAnswer null_mx;
  null_mx.status = DnsStatus::ok;
  null_mx.records = {{0, ""}};
  dns_.set_mx("nomail.test", null_mx);
  DeliveryResult r = h_.deliver(request("mx", {A("u", "nomail.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::permfail);
  EXPECT_EQ(r[0].reply.status, "5.1.10");
  EXPECT_EQ(r[0].relay, "none");

  r = h_.deliver(request("mx", {A("u", "nowhere.test"), A("v", "nowhere.test")}));  // no script
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::permfail);
    EXPECT_EQ(x.reply.status, "5.1.2");
  }
  EXPECT_EQ(s.connections(), 0u);
}

TEST_F(MxTest, DnsTroubleDefersNeverBounces) {
  dns_.set_mx("broken.test", FakeResolver::mx_status(DnsStatus::tempfail, "SERVFAIL"));
  DeliveryResult r = h_.deliver(request("mx", {A("u", "broken.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.4.3");
  EXPECT_NE(r[0].reply.text.find("SERVFAIL"), std::string::npos) << r[0].reply.text;

  // MX hosts whose addresses cannot be looked up now: deferred, even if another has none.
  dns_.set_mx("half.test", {{10, "a.half.test"}, {20, "b.half.test"}});
  dns_.set_addresses("a.half.test", FakeResolver::address_status(DnsStatus::tempfail, "timeout"));
  dns_.set_addresses("b.half.test", FakeResolver::address_status(DnsStatus::nodata));
  r = h_.deliver(request("mx", {A("u", "half.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.4.3");

  // No MX host has an address at all: bounced.
  dns_.set_addresses("a.half.test", FakeResolver::address_status(DnsStatus::nxdomain));
  r = h_.deliver(request("mx", {A("u", "half.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::permfail);
  EXPECT_EQ(r[0].reply.status, "5.1.2");
}

TEST_F(MxTest, AllMxHostsDownDefersWithTheLastReason) {
  dns_.set_mx("down.test", {{10, "mx1.down.test"}, {20, "mx2.down.test"}});
  dns_.set_addresses("mx1.down.test", {"127.0.0.2"});
  dns_.set_addresses("mx2.down.test", {"127.0.0.3"});
  DeliveryResult r = h_.deliver(request("mx", {A("u", "down.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.4.1");
  EXPECT_EQ(r[0].reply.text,
            "connect to " + relay("mx2.down.test", "127.0.0.3") + ": Connection refused");
}

TEST_F(MxTest, RecipientsOfSeveralDomainsAreSplit) {
  ScriptServer a("127.0.0.2", port_), b("127.0.0.3", port_);
  a.start();
  b.start();
  dns_.set_mx("a.test", {{10, "mx.a.test"}});
  dns_.set_addresses("mx.a.test", {"127.0.0.2"});
  dns_.set_mx("b.test", {{10, "mx.b.test"}});
  dns_.set_addresses("mx.b.test", {"127.0.0.3"});
  DeliveryResult r = h_.deliver(request(
      "mx", {A("one", "a.test"), A("two", "b.test"), A("three", "A.test"), A("four", "c.test")}));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  EXPECT_EQ(r[0].relay, relay("mx.a.test", "127.0.0.2"));
  EXPECT_EQ(r[1].outcome, Outcome::ok);
  EXPECT_EQ(r[1].relay, relay("mx.b.test", "127.0.0.3"));
  EXPECT_EQ(r[2].outcome, Outcome::ok);
  EXPECT_EQ(r[2].relay, relay("mx.a.test", "127.0.0.2"));
  EXPECT_EQ(r[3].outcome, Outcome::permfail);  // c.test does not exist
  auto sa = a.sessions();
  ASSERT_EQ(sa.size(), 1u);  // one transaction for both a.test recipients
  EXPECT_NE(std::find(sa[0].commands.begin(), sa[0].commands.end(), "RCPT TO:<three@A.test>"),
            sa[0].commands.end());
  EXPECT_EQ(b.messages(), 1u);
}

TEST_F(MxTest, MxOfAnotherDomainAndAddressLiterals) {
  ScriptServer s("127.0.0.3", port_);
  s.start();
  dns_.set_mx("hub.test", {{5, "in.hub.test"}});
  dns_.set_addresses("in.hub.test", {"127.0.0.3"});
  DeliveryResult r = h_.deliver(request("mx:hub.test", {A("u", "a.test"), A("v", "b.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::ok) << x.reply.line();
    EXPECT_EQ(x.relay, relay("in.hub.test", "127.0.0.3"));
  }
  EXPECT_EQ(dns_.calls(), (std::vector<std::string>{"MX hub.test", "ADDR in.hub.test"}));

  dns_.clear_calls();
  r = h_.deliver(request("mx", {A("u", "[127.0.0.3]")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay("127.0.0.3", "127.0.0.3"));
  EXPECT_TRUE(dns_.calls().empty());
}

TEST_F(MxTest, PooledConnectionsServeTheDomainAndATempfailMovesOn) {
  ScriptServer primary("127.0.0.2", port_), backup("127.0.0.3", port_);
  primary.start();
  backup.start();
  h_.settings.connection_cache_time = 10s;
  dns_.set_mx("example.test", {{10, "mx1.example.test"}, {20, "mx2.example.test"}});
  dns_.set_addresses("mx1.example.test", {"127.0.0.2"});
  dns_.set_addresses("mx2.example.test", {"127.0.0.3"});
  for (int i = 0; i < 3; ++i) {
    DeliveryResult r = h_.deliver(request("mx", {A("u", "example.test")}));
    EXPECT_EQ(r.at(0).outcome, Outcome::ok) << r[0].reply.line();
  }
  EXPECT_EQ(primary.connections(), 1u);
  EXPECT_EQ(primary.messages(), 3u);
  // The pooled connection to the primary answers 4xx: the backup is tried, the primary
  // is not connected to again in the same delivery.
  primary.rcpt = [](const std::string&) { return std::string("451 4.3.0 try later"); };
  DeliveryResult r = h_.deliver(request("mx", {A("u", "example.test")}));
  EXPECT_EQ(r.at(0).outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay("mx2.example.test", "127.0.0.3"));
  EXPECT_EQ(primary.connections(), 1u);
  EXPECT_EQ(backup.connections(), 1u);
  auto cmds = primary.sessions().at(0).commands;
  EXPECT_EQ(std::count(cmds.begin(), cmds.end(), "RCPT TO:<u@example.test>"), 4);  // 3 + 1 try
}

TEST_F(MxTest, MailLoopingBackToMyselfBounces) {
  dns_.set_mx("self.test", {{10, "client.test"}});  // our own name (myhostname)
  DeliveryResult r = h_.deliver(request("mx", {A("u", "self.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::permfail);
  EXPECT_EQ(r[0].reply.status, "5.4.6");
}

TEST_F(MxTest, NoResolverDefers) {
  h_.settings.resolver = nullptr;
  DeliveryResult r = h_.deliver(request("mx", {A("u", "example.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
}

TEST_F(MxTest, SlowResolverAnswersFromAnotherThread) {
  ScriptServer s("127.0.0.2", port_);
  s.start();
  dns_.set_mx("example.test", {{10, "mx1.example.test"}});
  dns_.set_addresses("mx1.example.test", {"127.0.0.2"});
  dns_.set_deferred(true);
  std::optional<DeliveryResult> out;
  h_.relay().deliver(request("mx", {A("u", "example.test")}),
                     [&](DeliveryResult r) { out = std::move(r); });
  // The transport waits for DNS without blocking its thread; the answers come from here.
  auto work = asio::make_work_guard(h_.io);
  std::thread loop([&] { h_.io.run(); });
  while (dns_.run_pending() == 0) std::this_thread::yield();  // MX
  while (dns_.run_pending() == 0) std::this_thread::yield();  // the MX host's addresses
  work.reset();
  loop.join();
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].outcome, Outcome::ok) << (*out)[0].reply.line();
}

}  // namespace
}  // namespace mp::transports
