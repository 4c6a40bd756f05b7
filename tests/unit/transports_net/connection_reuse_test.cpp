// Outbound connection reuse (smtp_connection_cache_time) against a scripted server that
// counts connections: many messages over few connections with RSET between, the
// per-destination concurrency limit still holding, stale connections replaced without
// a trace, idle connections closed with QUIT when they expire or on close_idle().
#include <gtest/gtest.h>

#include "relay_harness.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

using testing::A;
using testing::hop;
using testing::request;
using testing::ScriptServer;

class ReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.settings.tls = SmtpTls::none;
    h_.settings.connection_cache_time = 10s;  // longer than any test: expiry is not in play
  }
  testing::Harness h_;
};

TEST_F(ReuseTest, HundredMessagesOneAfterTheOtherUseOneConnection) {
  ScriptServer s;
  s.start();
  for (int i = 0; i < 100; ++i) {
    DeliveryRequest req = request(hop(s.port()), {A("u" + std::to_string(i), "to.test")});
    DeliveryResult r = h_.deliver(std::move(req));
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  }
  EXPECT_EQ(s.connections(), 1u);
  EXPECT_EQ(s.messages(), 100u);
  EXPECT_EQ(h_.relay().connections_opened(), 1u);
  EXPECT_EQ(h_.relay().connections_reused(), 99u);
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  const auto& c = sessions[0].commands;
  EXPECT_EQ(std::count(c.begin(), c.end(), "RSET"), 99);
  EXPECT_EQ(std::count(c.begin(), c.end(), "EHLO client.test"), 1);
  // Each later transaction starts with RSET.
  for (std::size_t k = 1; k < c.size(); ++k) {
    if (c[k].rfind("MAIL FROM:", 0) == 0) {
      EXPECT_TRUE(c[k - 1] == "RSET" || k == 1) << k;
    }
  }
  h_.finish();
  EXPECT_EQ(s.sessions()[0].commands.back(), "QUIT");
}

TEST_F(ReuseTest, HundredMessagesAtOnceStayWithinTheConcurrencyLimit) {
  ScriptServer s;
  s.start();
  h_.settings.concurrency = 4;
  std::vector<DeliveryRequest> reqs;
  for (int i = 0; i < 100; ++i) reqs.push_back(request(hop(s.port()), {A("u", "to.test")}));
  std::vector<DeliveryResult> results = h_.deliver_all(std::move(reqs));
  ASSERT_EQ(results.size(), 100u);
  for (const auto& r : results) {
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  }
  EXPECT_EQ(s.messages(), 100u);
  EXPECT_LE(s.connections(), 4u);  // far fewer than 100
  EXPECT_LE(s.max_active(), 4);
  EXPECT_EQ(h_.relay().connections_opened(), s.connections());
}

TEST_F(ReuseTest, EachHostOfARoundRobinListKeepsItsConnection) {
  ScriptServer a, b;
  a.start();
  b.start();
  std::string list = hop(a.port()) + "," + hop(b.port());
  std::vector<std::string> relays;
  for (int i = 0; i < 6; ++i) {
    DeliveryResult r = h_.deliver(request(list, {A("u", "to.test")}));
    ASSERT_EQ(r.at(0).outcome, Outcome::ok);
    relays.push_back(r[0].relay);
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(relays[i], relays[i % 2]);  // still alternating
  EXPECT_NE(relays[0], relays[1]);
  EXPECT_EQ(a.connections(), 1u);
  EXPECT_EQ(b.connections(), 1u);
  EXPECT_EQ(a.messages() + b.messages(), 6u);
}

TEST_F(ReuseTest, AStaleConnectionIsReplacedTransparently) {
  ScriptServer s;
  s.close_after_message = true;  // hangs up after each message: every pooled one goes stale
  s.start();
  testing::LogCatcher log;
  for (int i = 0; i < 5; ++i) {
    DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  }
  EXPECT_EQ(s.messages(), 5u);
  EXPECT_EQ(s.connections(), 5u);
  EXPECT_TRUE(log.grep("TESTID:").empty());  // nothing was skipped or retried in the open
}

TEST_F(ReuseTest, DestinationsDoNotShareConnections) {
  ScriptServer s;
  s.start();
  // Two next hops naming the same server are two destinations.
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  EXPECT_EQ(r.at(0).outcome, Outcome::ok);
  r = h_.deliver(request("localhost:" + std::to_string(s.port()), {A("u", "to.test")}));
  EXPECT_EQ(r.at(0).outcome, Outcome::ok);
  EXPECT_EQ(s.connections(), 2u);
}

TEST_F(ReuseTest, IdleConnectionsExpireWithQuit) {
  ScriptServer s;
  s.start();
  h_.settings.connection_cache_time = 100ms;
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  EXPECT_EQ(r.at(0).outcome, Outcome::ok);
  // Nothing else to do: the loop runs until the idle connection has expired and said QUIT.
  auto t0 = std::chrono::steady_clock::now();
  h_.io.restart();
  h_.io.run();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].commands.back(), "QUIT");

  // The next delivery needs a new connection.
  r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  EXPECT_EQ(r.at(0).outcome, Outcome::ok);
  EXPECT_EQ(s.connections(), 2u);
}

TEST_F(ReuseTest, OffMeansQuitAfterEachDelivery) {
  ScriptServer s;
  s.start();
  h_.settings.connection_cache_time = 0ms;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h_.deliver(request(hop(s.port()), {A("u", "to.test")})).at(0).outcome, Outcome::ok);
  }
  EXPECT_EQ(s.connections(), 3u);
  for (const auto& session : s.sessions()) EXPECT_EQ(session.commands.back(), "QUIT");
}

}  // namespace
}  // namespace mp::transports
