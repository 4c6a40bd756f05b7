// The "lmtp" transport against a scripted LMTP server over TCP and over a unix socket:
// LHLO, one reply per accepted recipient after the message, each honoured.
#include <gtest/gtest.h>

#include "queue/delivery_log.hpp"
#include "relay_harness.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

using testing::A;
using testing::request;
using testing::ScriptServer;

// Recipients named after their fate: ok*, full* (452 after data), bad* (550 after data),
// unknown* (550 at RCPT).
void script(ScriptServer& s) {
  s.lmtp = true;
  s.ehlo = "250-lmtp.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME";
  s.rcpt = [](const std::string& line) {
    if (line.find("<unknown") != std::string::npos) return std::string("550 5.1.1 unknown user");
    return std::string("250 2.1.5 Ok");
  };
  s.lmtp_dot = [](const std::string& line) {
    if (line.find("<full") != std::string::npos) return std::string("452 4.2.2 Mailbox full");
    if (line.find("<bad") != std::string::npos) return std::string("550 5.2.0 Delivery failed");
    return std::string("250 2.0.0 Saved");
  };
}

class LmtpTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.settings.mode = DestinationMode::lmtp; }

  void expect_per_recipient(const DeliveryResult& r, const std::string& relay) {
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].outcome, Outcome::ok);
    EXPECT_EQ(r[0].reply.line(), "250 2.0.0 Saved");
    EXPECT_EQ(r[1].outcome, Outcome::tempfail);
    EXPECT_EQ(queue::remote_reply_of(r[1].reply), "452 4.2.2 Mailbox full");
    EXPECT_EQ(r[2].outcome, Outcome::permfail);
    EXPECT_EQ(queue::remote_reply_of(r[2].reply), "550 5.2.0 Delivery failed");
    EXPECT_EQ(r[3].outcome, Outcome::permfail);
    EXPECT_EQ(queue::remote_reply_of(r[3].reply), "550 5.1.1 unknown user");
    for (const auto& x : r) EXPECT_EQ(x.relay, relay);
  }
  std::vector<Address> rcpts() {
    return {A("ok", "d.test"), A("full", "d.test"), A("bad", "d.test"), A("unknown", "d.test")};
  }

  testing::Harness h_;
};

TEST_F(LmtpTest, OverTcpEveryRecipientHasItsReply) {
  ScriptServer s;
  script(s);
  s.start();
  EXPECT_EQ(h_.relay().name(), "lmtp");
  DeliveryResult r = h_.deliver(request("lmtp:127.0.0.1:" + std::to_string(s.port()), rcpts()));
  expect_per_recipient(r, "127.0.0.1[127.0.0.1]:" + std::to_string(s.port()));
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].commands.front(), "LHLO client.test");
  ASSERT_EQ(sessions[0].messages.size(), 1u);
  EXPECT_EQ(sessions[0].messages[0], "Subject: test\r\n\r\nhello\r\n");
}

TEST_F(LmtpTest, OverAUnixSocket) {
  testing::TempDir dir;
  std::string path = (dir.path() / "lmtp.sock").string();
  auto s = ScriptServer::unix_socket(path);
  script(*s);
  s->start();
  DeliveryResult r = h_.deliver(request("lmtp:unix:" + path, rcpts()));
  expect_per_recipient(r, "client.test[" + path + "]");
  EXPECT_EQ(s->connections(), 1u);
  EXPECT_EQ(s->sessions()[0].commands.back(), "QUIT");
}

TEST_F(LmtpTest, MissingSocketDefers) {
  testing::TempDir dir;
  std::string path = (dir.path() / "none.sock").string();
  DeliveryResult r = h_.deliver(request("lmtp:unix:" + path, {A("u", "d.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.text, "connect to client.test[" + path + "]: No such file or directory");
}

TEST_F(LmtpTest, NeverStartsTls) {
  ScriptServer s;
  script(s);
  s.ehlo = "250-lmtp.test\r\n250-STARTTLS\r\n250 PIPELINING";
  s.start();
  h_.settings.tls = SmtpTls::encrypt;  // smtp_tls is about SMTP
  DeliveryResult r =
      h_.deliver(request("lmtp:127.0.0.1:" + std::to_string(s.port()), {A("ok", "d.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_FALSE(s.sessions()[0].tls);
}

TEST_F(LmtpTest, SmtpNextHopsAreRefused) {
  DeliveryResult r = h_.deliver(request("127.0.0.1:24", {A("u", "d.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.3.5");
}

TEST_F(LmtpTest, ConnectionsAreReused) {
  ScriptServer s;
  script(s);
  s.start();
  h_.settings.connection_cache_time = 10s;
  std::string next_hop = "lmtp:127.0.0.1:" + std::to_string(s.port());
  for (int i = 0; i < 5; ++i) {
    DeliveryResult r = h_.deliver(request(next_hop, {A("ok", "d.test"), A("full", "d.test")}));
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].outcome, Outcome::ok);
    EXPECT_EQ(r[1].outcome, Outcome::tempfail);
  }
  EXPECT_EQ(s.connections(), 1u);
  EXPECT_EQ(s.messages(), 5u);
}

}  // namespace
}  // namespace mp::transports
