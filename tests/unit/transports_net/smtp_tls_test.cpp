// Outbound STARTTLS (smtp_tls = none | may | encrypt) against a scripted server with a
// certificate made at test time: the session is encrypted and logged as Postfix does,
// opportunistic TLS falls back to plaintext on the same host when the handshake
// fails, required TLS skips hosts without it and defers when none has it.
#include <gtest/gtest.h>

#include "relay_harness.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

using testing::A;
using testing::hop;
using testing::request;
using testing::ScriptServer;

constexpr const char* kEhloTls =
    "250-script.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      std::tie(cert_, key_) = testing::make_test_certificate(dir_.path());
    } catch (const std::exception& e) {
      GTEST_SKIP() << e.what();
    }
  }
  // A server offering STARTTLS with the test certificate.
  void offer_tls(ScriptServer& s) {
    s.ehlo = kEhloTls;
    s.use_certificate(cert_, key_);
  }
  std::string relay(std::uint16_t port) const {
    return "127.0.0.1[127.0.0.1]:" + std::to_string(port);
  }

  testing::TempDir dir_;
  std::string cert_, key_;
  testing::Harness h_;
};

TEST_F(TlsTest, OpportunisticTlsIsUsedAndLogged) {
  ScriptServer s;
  offer_tls(s);
  s.start();
  h_.settings.tls = SmtpTls::may;
  testing::LogCatcher log;
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(sessions[0].tls);
  EXPECT_EQ(sessions[0].sni, "");  // an address: no SNI
  EXPECT_EQ(sessions[0].commands,
            (std::vector<std::string>{"EHLO client.test", "STARTTLS", "EHLO client.test",
                                      "MAIL FROM:<sender@from.test>", "RCPT TO:<u@to.test>", "DATA",
                                      "QUIT"}));
  ASSERT_EQ(sessions[0].messages.size(), 1u);
  EXPECT_EQ(sessions[0].messages[0], "Subject: test\r\n\r\nhello\r\n");
  auto lines = log.grep("TLS connection established");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("mailprocd/smtp["), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("]: TESTID: Untrusted TLS connection established to " + relay(s.port()) +
                          ": TLSv1."),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find(" with cipher "), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" bits)"), std::string::npos) << lines[0];
}

TEST_F(TlsTest, HostNamesAreSentAsSni) {
  ScriptServer s;
  offer_tls(s);
  s.start();
  h_.settings.tls = SmtpTls::encrypt;
  DeliveryResult r =
      h_.deliver(request("localhost:" + std::to_string(s.port()), {A("u", "t.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(sessions[0].tls);
  EXPECT_EQ(sessions[0].sni, "localhost");
}

TEST_F(TlsTest, FailedHandshakeRetriesTheSameHostInPlaintextUnderMay) {
  ScriptServer s;
  s.ehlo = kEhloTls;
  s.break_tls = true;
  s.start();
  h_.settings.tls = SmtpTls::may;
  testing::LogCatcher log;
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay(s.port()));
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions[0].commands, (std::vector<std::string>{"EHLO client.test", "STARTTLS"}));
  EXPECT_EQ(std::count(sessions[1].commands.begin(), sessions[1].commands.end(), "STARTTLS"), 0);
  EXPECT_EQ(sessions[1].messages.size(), 1u);
  EXPECT_EQ(log.grep("Cannot start TLS: handshake failure").size(), 1u);
}

TEST_F(TlsTest, RefusedStartTlsGoesOnInPlaintextUnderMay) {
  ScriptServer s;
  s.ehlo = kEhloTls;
  s.starttls = "454 4.7.0 TLS not available due to local problem";
  s.start();
  h_.settings.tls = SmtpTls::may;
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(s.connections(), 1u);
}

TEST_F(TlsTest, NoneNeverAsks) {
  ScriptServer s;
  offer_tls(s);
  s.start();
  h_.settings.tls = SmtpTls::none;
  DeliveryResult r = h_.deliver(request(hop(s.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_FALSE(sessions[0].tls);
  EXPECT_EQ(std::count(sessions[0].commands.begin(), sessions[0].commands.end(), "STARTTLS"), 0);
}

TEST_F(TlsTest, EncryptDefersWithoutTlsAndSkipsToAHostWithIt) {
  ScriptServer plain, broken, good;
  broken.ehlo = kEhloTls;
  broken.break_tls = true;
  offer_tls(good);
  plain.start();
  broken.start();
  good.start();
  h_.settings.tls = SmtpTls::encrypt;

  DeliveryResult r = h_.deliver(request(hop(plain.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.7.4");
  EXPECT_EQ(r[0].reply.text, "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]");
  EXPECT_EQ(plain.messages(), 0u);

  r = h_.deliver(request(hop(broken.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.7.5");
  EXPECT_EQ(broken.connections(), 1u);  // no plaintext retry under encrypt
  EXPECT_EQ(broken.messages(), 0u);

  r = h_.deliver(request(hop(plain.port()) + "," + hop(broken.port()) + "," + hop(good.port()),
                         {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay(good.port()));
  ASSERT_EQ(good.sessions().size(), 1u);
  EXPECT_TRUE(good.sessions()[0].tls);
}

}  // namespace
}  // namespace mp::transports
