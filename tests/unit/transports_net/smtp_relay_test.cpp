// The "smtp" relay transport against real peers on loopback: Postfix's smtp-sink
// (byte-exact content, round robin, failover, all hosts down) and a scripted server
// (per-recipient replies, refused greetings, silence, concurrency limits).
#include "transports/net/smtp_relay.hpp"
#include "queue/delivery_log.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <optional>
#include <thread>

#include "test_servers.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;
using testing::ScriptServer;
using testing::SmtpSink;
using testing::TempDir;

Address A(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

DeliveryRequest request(std::string next_hop, std::vector<Address> rcpts,
                        std::string message = "Subject: test\r\n\r\nhello\r\n") {
  DeliveryRequest r;
  r.queue_id = "TESTID";
  r.sender = A("sender", "from.test");
  for (std::size_t i = 0; i < rcpts.size(); ++i)
    r.recipients.push_back({rcpts[i], rcpts[i], "", i});
  r.next_hop = std::move(next_hop);
  r.message = std::make_shared<const std::string>(std::move(message));
  r.arrival = std::time(nullptr);
  return r;
}

std::string hop(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}
std::string relay(std::uint16_t port) {
  return "127.0.0.1[127.0.0.1]:" + std::to_string(port);
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(testing::kSmtpSink, X_OK) != 0) GTEST_SKIP() << "no " << testing::kSmtpSink;
    settings_.helo_name = "client.test";
    settings_.timeouts.connect = 5s;
    settings_.timeouts.greeting = 5s;
    settings_.timeouts.command = 5s;
    settings_.timeouts.data = 5s;
    settings_.connection_cache_time = 0ms;  // QUIT after each delivery (reuse has its own tests)
  }

  SmtpRelay& relay_() {
    if (!transport_) transport_.emplace(io_, settings_);
    return *transport_;
  }

  // Delivers one request and runs the io_context until everything (QUIT too) is done.
  DeliveryResult deliver(DeliveryRequest req) {
    std::optional<DeliveryResult> out;
    std::thread::id caller = std::this_thread::get_id();
    relay_().deliver(std::move(req), [&](DeliveryResult r) {
      EXPECT_EQ(std::this_thread::get_id(), caller);  // on the io_context's thread
      out = std::move(r);
    });
    io_.restart();
    io_.run();
    EXPECT_TRUE(out.has_value());
    return out.value_or(DeliveryResult{});
  }

  asio::io_context io_;
  RelaySettings settings_;
  std::optional<SmtpRelay> transport_;
};

TEST_F(RelayTest, DeliversToSmtpSinkByteExact) {
  TempDir dump;
  SmtpSink sink(dump.path());
  std::string long_line(3000, 'x');
  std::string message = "From: a@from.test\r\nSubject: dots\r\n\r\n.leading dot\r\n.\r\n..two\r\n" +
                        long_line + "\r\nlast line without CRLF";
  DeliveryResult r =
      deliver(request(hop(sink.port()), {A("one", "to.test"), A("two", "to.test")}, message));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::ok) << x.reply.line();
    EXPECT_EQ(x.reply.code, 250);
    EXPECT_EQ(x.relay, relay(sink.port()));
  }
  auto files = testing::files_in(dump.path());
  ASSERT_EQ(files.size(), 1u);
  std::string dumped = testing::slurp(files[0]);
  // smtp-sink's own headers end with its three-line Received: header; then the message,
  // unstuffed, with LF line ends, and one empty line.
  EXPECT_NE(dumped.find("X-Mail-Args: <sender@from.test>\n"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("X-Rcpt-Args: <one@to.test>\nX-Rcpt-Args: <two@to.test>\n"),
            std::string::npos);
  EXPECT_NE(dumped.find("X-Helo-Args: client.test\n"), std::string::npos);
  std::size_t received = dumped.find("\nReceived: ");
  ASSERT_NE(received, std::string::npos);
  std::size_t body = received + 1;
  for (int i = 0; i < 3; ++i) body = dumped.find('\n', body) + 1;
  std::string expected = "From: a@from.test\nSubject: dots\n\n.leading dot\n.\n..two\n" +
                         long_line + "\nlast line without CRLF\n\n";
  EXPECT_EQ(dumped.substr(body), expected);
}

TEST_F(RelayTest, LargeMessageGoesOutInChunks) {
  ScriptServer s;
  s.ehlo = "250-script.test\r\n250-PIPELINING\r\n250 SIZE 10000000";
  s.start();
  std::string message = "Subject: big\r\n\r\n";
  for (int i = 0; message.size() < 400 * 1024; ++i) {
    message += (i % 7 == 0 ? "." : "") + std::to_string(i) + std::string(i % 1500, 'y') + "\r\n";
  }
  DeliveryResult r = deliver(request(hop(s.port()), {A("u", "to.test")}, message));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].commands[1],
            "MAIL FROM:<sender@from.test> SIZE=" + std::to_string(message.size()));
  ASSERT_EQ(sessions[0].messages.size(), 1u);
  EXPECT_TRUE(sessions[0].messages[0] == message);
}

TEST_F(RelayTest, RoundRobinAcrossTwoSinks) {
  SmtpSink a, b;
  std::string list = hop(a.port()) + "," + hop(b.port());
  std::vector<std::string> relays;
  for (int i = 0; i < 4; ++i) {
    DeliveryResult r = deliver(request(list, {A("u", "to.test")}));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::ok);
    relays.push_back(r[0].relay);
  }
  EXPECT_EQ(relays, (std::vector<std::string>{relay(a.port()), relay(b.port()), relay(a.port()),
                                              relay(b.port())}));
}

TEST_F(RelayTest, FailoverWhenOnePortIsClosed) {
  SmtpSink sink;
  std::uint16_t closed = testing::free_port();
  std::string list = hop(closed) + " " + hop(sink.port());
  for (int i = 0; i < 2; ++i) {  // starting at the closed one, then at the sink
    DeliveryResult r = deliver(request(list, {A("u", "to.test")}));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
    EXPECT_EQ(r[0].relay, relay(sink.port()));
  }
}

TEST_F(RelayTest, AllHostsDownTempfailsWithTheLastReason) {
  std::uint16_t p1 = testing::free_port(), p2 = testing::free_port();
  DeliveryResult r =
      deliver(request(hop(p1) + "," + hop(p2), {A("u", "to.test"), A("v", "to.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::tempfail);
    EXPECT_EQ(x.reply.text, "connect to " + relay(p2) + ": Connection refused");
    EXPECT_EQ(x.reply.status, "4.4.1");
    EXPECT_EQ(x.reply.code, 0);  // issue 9: no "451" of our own invention
    EXPECT_EQ(x.relay, "none");
  }
}

TEST_F(RelayTest, Smtputf8ToASinkWithoutItBounces) {
  TempDir dump;
  SmtpSink sink(dump.path());  // smtp-sink does not offer SMTPUTF8
  DeliveryRequest req = request(hop(sink.port()), {A("j\xc3\xb6rg", "to.test")});
  req.smtputf8 = true;
  DeliveryResult r = deliver(req);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::permfail);
  EXPECT_EQ(r[0].reply.status, "5.6.7");
  EXPECT_TRUE(testing::files_in(dump.path()).empty());
}

TEST_F(RelayTest, SinkRefusingRcptOrTheMessage) {
  SmtpSink soft_rcpt({}, {"-r", "RCPT"});  // 450 to every RCPT (and no PIPELINING)
  DeliveryResult r =
      deliver(request(hop(soft_rcpt.port()), {A("a", "to.test"), A("b", "to.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::tempfail);
    EXPECT_EQ(queue::remote_reply_of(x.reply), "450 4.3.0 Error: command failed");
    // Issue 9: worded as Postfix words it, no code of ours in front.
    EXPECT_EQ(x.reply.code, 0);
    EXPECT_EQ(queue::reason_text(x.reply),
              "host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to "
              "RCPT TO command)");
    EXPECT_EQ(x.relay, relay(soft_rcpt.port()));
  }
  SmtpSink hard_dot({}, {"-f", "."});  // 500 after the message
  r = deliver(request(hop(hard_dot.port()), {A("a", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::permfail);
  EXPECT_EQ(queue::remote_reply_of(r[0].reply), "500 5.3.0 Error: command failed");
  EXPECT_EQ(queue::reason_text(r[0].reply),
            "host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to end "
            "of DATA command)");
}

TEST_F(RelayTest, PerRecipientReplies) {
  ScriptServer s;
  s.rcpt = [](const std::string& line) {
    if (line.find("<temp@") != std::string::npos) return std::string("450 4.2.0 greylisted");
    if (line.find("<gone@") != std::string::npos) return std::string("550 5.1.1 no such user");
    return std::string("250 2.1.5 Ok");
  };
  s.start();
  DeliveryResult r = deliver(
      request(hop(s.port()), {A("ok", "to.test"), A("temp", "to.test"), A("gone", "to.test")}));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  EXPECT_EQ(r[0].reply.line(), "250 2.0.0 Ok: queued as SCRIPT");
  EXPECT_EQ(r[1].outcome, Outcome::tempfail);
  EXPECT_EQ(queue::remote_reply_of(r[1].reply), "450 4.2.0 greylisted");
  EXPECT_EQ(r[2].outcome, Outcome::permfail);
  EXPECT_EQ(queue::remote_reply_of(r[2].reply), "550 5.1.1 no such user");
  for (const auto& x : r) EXPECT_EQ(x.relay, relay(s.port()));
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  ASSERT_EQ(sessions[0].messages.size(), 1u);
  EXPECT_EQ(sessions[0].messages[0], "Subject: test\r\n\r\nhello\r\n");
  EXPECT_EQ(sessions[0].commands.front(), "EHLO client.test");
  EXPECT_EQ(sessions[0].commands.back(), "QUIT");
}

TEST_F(RelayTest, DataRefusedIsFinalForTheAccepted) {
  ScriptServer s;
  s.dot = "554 5.7.1 looks like spam";
  s.start();
  DeliveryResult r = deliver(request(hop(s.port()), {A("a", "to.test"), A("b", "to.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::permfail);
    EXPECT_EQ(x.reply.status, "5.7.1");
  }
}

TEST_F(RelayTest, RefusedGreetingFailsOverButMailRefusalIsFinal) {
  ScriptServer busy, refuses_mail, good;
  busy.greeting = "421 4.3.2 too busy";
  refuses_mail.mail = "553 5.7.1 sender rejected";
  busy.start();
  refuses_mail.start();
  good.start();
  DeliveryResult r =
      deliver(request(hop(busy.port()) + "," + hop(good.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  EXPECT_EQ(r[0].relay, relay(good.port()));
  EXPECT_EQ(busy.connections(), 1u);

  // A 5xx to MAIL: no failover to the (good) second host.
  r = deliver(request(hop(refuses_mail.port()) + "," + hop(good.port()),
                      {A("u", "to.test"), A("v", "to.test")}));
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) {
    EXPECT_EQ(x.outcome, Outcome::permfail);
    EXPECT_EQ(queue::remote_reply_of(x.reply), "553 5.7.1 sender rejected");
    EXPECT_EQ(x.relay, relay(refuses_mail.port()));
  }
  EXPECT_EQ(good.connections(), 1u);
}

TEST_F(RelayTest, HostThatHangsUpIsSkipped) {
  ScriptServer hangs_up, good;
  hangs_up.close_after_mail = true;
  hangs_up.start();
  good.start();
  DeliveryResult r =
      deliver(request(hop(hangs_up.port()) + "," + hop(good.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, relay(good.port()));
  EXPECT_EQ(hangs_up.connections(), 1u);
}

TEST_F(RelayTest, SilentServerTimesOut) {
  settings_.timeouts.greeting = 200ms;
  ScriptServer silent;
  silent.greeting = "";
  silent.start();
  auto t0 = std::chrono::steady_clock::now();
  DeliveryResult r = deliver(request(hop(silent.port()), {A("u", "to.test")}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.text,
            "conversation with 127.0.0.1[127.0.0.1] timed out while receiving the "
            "initial server greeting");
  EXPECT_EQ(r[0].relay, relay(silent.port()));
}

TEST_F(RelayTest, ConnectTimeout) {
  // A listener that never accepts, its backlog filled: the kernel drops further SYNs.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::uint16_t port = ntohs(a.sin_port);
  int filler = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);

  settings_.timeouts.connect = 200ms;
  DeliveryResult r = deliver(request(hop(port), {A("u", "to.test")}));
  ::close(filler);
  ::close(listener);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.text, "connect to " + relay(port) + ": Connection timed out");
  EXPECT_EQ(r[0].relay, "none");
}

TEST_F(RelayTest, SilentServerThenAGoodOne) {
  settings_.timeouts.greeting = 200ms;
  ScriptServer silent, good;
  silent.greeting = "";
  silent.start();
  good.start();
  DeliveryResult r =
      deliver(request(hop(silent.port()) + "," + hop(good.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  EXPECT_EQ(r[0].relay, relay(good.port()));
}

TEST_F(RelayTest, NoReplyToTheFinalDotIsNotRetriedElsewhere) {
  settings_.timeouts.data = 200ms;
  ScriptServer mute, good;
  mute.dot = "";
  mute.start();
  good.start();
  DeliveryResult r =
      deliver(request(hop(mute.port()) + "," + hop(good.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.text,
            "conversation with 127.0.0.1[127.0.0.1] timed out while sending end of data -- message "
            "may be sent more than once");
  EXPECT_EQ(good.connections(), 0u);
}

TEST_F(RelayTest, ConcurrencyLimitPerNextHopInFifoOrder) {
  settings_.concurrency = 1;
  ScriptServer s;
  s.start();
  std::vector<std::string> order;
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    DeliveryRequest req = request(hop(s.port()), {A("u", "to.test")});
    req.sender = A("s" + std::to_string(i), "from.test");
    relay_().deliver(req, [&](DeliveryResult r) {
      ASSERT_EQ(r.size(), 1u);
      EXPECT_EQ(r[0].outcome, Outcome::ok);
      ++done;
    });
  }
  io_.run();
  EXPECT_EQ(done, 3);
  // Connections may overlap for a moment (the next one opens while the last QUIT is in
  // flight); transactions never do.
  EXPECT_EQ(s.max_in_transaction(), 1);
  auto sessions = s.sessions();
  ASSERT_EQ(sessions.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_GE(sessions[i].commands.size(), 2u);
    EXPECT_EQ(sessions[i].commands[1].rfind("MAIL FROM:<s" + std::to_string(i) + "@from.test>", 0),
              0u)
        << sessions[i].commands[1];
  }
}

TEST_F(RelayTest, ParallelWithinTheLimit) {
  settings_.concurrency = 3;
  ScriptServer s;
  s.start();
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    relay_().deliver(request(hop(s.port()), {A("u", "to.test")}), [&](DeliveryResult r) {
      EXPECT_EQ(r.at(0).outcome, Outcome::ok);
      ++done;
    });
  }
  io_.run();
  EXPECT_EQ(done, 3);
  EXPECT_EQ(s.connections(), 3u);
}

TEST_F(RelayTest, Ipv6LiteralAndHostNames) {
  std::optional<ScriptServer> v6;
  try {
    v6.emplace("::1");
  } catch (const std::exception&) {
    GTEST_SKIP() << "no IPv6 loopback";
  }
  v6->start();
  DeliveryResult r = deliver(request("[::1]:" + std::to_string(v6->port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, "::1[::1]:" + std::to_string(v6->port()));

  // A name: every address of it is tried ("localhost" may be ::1 and 127.0.0.1).
  ScriptServer v4;
  v4.start();
  r = deliver(request("localhost:" + std::to_string(v4.port()), {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.line();
  EXPECT_EQ(r[0].relay, "localhost[127.0.0.1]:" + std::to_string(v4.port()));
}

TEST_F(RelayTest, DefaultPortAndBadNextHop) {
  ScriptServer s;
  s.start();
  settings_.default_port = s.port();
  DeliveryResult r = deliver(request("127.0.0.1", {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::ok);
  EXPECT_EQ(r[0].relay, relay(s.port()));

  r = deliver(request("[nonsense", {A("u", "to.test")}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::tempfail);
  EXPECT_EQ(r[0].reply.status, "4.3.5");
}

}  // namespace
}  // namespace mp::transports
