// Issue 9, item 7: the SMTP client never emits a line-start dot a next hop could take
// for the end of data (bare CRs), and a conversation that falls out of step (a reply no
// command in flight can have, bytes nobody asked for) ends the connection instead of
// pairing a smuggled transaction's replies with our next commands.
#include <gtest/gtest.h>

#include "transports/smtp_client_protocol.hpp"

namespace mp::transports {
namespace {

Reply R(std::string_view wire) {
  ParsedReply p = parse_reply(wire);
  EXPECT_EQ(p.status, ParsedReply::Status::ok) << wire << ": " << p.error;
  return p.reply;
}

std::string take(SmtpClientProtocol& c) {
  std::string out = c.output();
  c.written();
  return out;
}

std::string feed(SmtpClientProtocol& c, std::string_view wire) {
  c.on_reply(R(wire));
  return take(c);
}

Transaction tx(std::string message = "Subject: t\r\n\r\nhello\r\n") {
  Transaction t;
  t.sender = Address{"s", "from.test"};
  t.recipients = {Address{"a", "x.test"}};
  t.message = std::make_shared<const std::string>(std::move(message));
  return t;
}

SmtpClientProtocol open(std::string_view ehlo) {
  ClientSettings s;
  s.helo_name = "me.test";
  s.peer = "mx.test[192.0.2.1]";
  SmtpClientProtocol c(s);
  feed(c, "220 mx.test ESMTP\r\n");
  feed(c, ehlo);
  EXPECT_EQ(c.step(), ClientStep::ready);
  return c;
}

constexpr std::string_view kPlain = "250-mx.test\r\n250 8BITMIME\r\n";
constexpr std::string_view kPipelining = "250-mx.test\r\n250 PIPELINING\r\n";

// What a next hop that ends lines at a bare CR, a bare LF or CRLF would take for the end
// of the data: a line holding only "." under any of those line ends.
bool lenient_end_before_last(std::string_view data) {
  std::string_view body = data.substr(0, data.size() - 3);  // without our ".\r\n"
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '.') continue;
    bool starts = i == 0 || body[i - 1] == '\r' || body[i - 1] == '\n';
    bool ends = i + 1 < body.size() && (body[i + 1] == '\r' || body[i + 1] == '\n');
    if (starts && ends) return true;
  }
  return false;
}

TEST(DotStuffSmuggling, BareCrNeverStartsALineWithADot) {
  std::string smuggle = "A\r.\r\nMAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nforged\r\n";
  std::string out = dot_stuff(smuggle);
  EXPECT_EQ(out, "A .\r\nMAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\nforged\r\n.\r\n");
  EXPECT_FALSE(lenient_end_before_last(out)) << out;
  // Every bare CR or LF shape of "<end>.<end>" is harmless once stuffed.
  for (std::string shape : {"a\r.\rb\r\n", "a\n.\nb\r\n", "a\r\n.\rb\r\n", "a\r.\nb\r\n",
                            "a\n.\r\nb\r\n", "\r.\r\n", "a\r\r.\r\n"}) {
    std::string o = dot_stuff(shape);
    EXPECT_FALSE(lenient_end_before_last(o)) << "from " << shape << " got " << o;
    for (std::size_t i = 0; i + 1 < o.size(); ++i) {  // only CRLF pairs remain
      if (o[i] == '\r') {
        EXPECT_EQ(o[i + 1], '\n') << o;
      }
      if (o[i + 1] == '\n') {
        EXPECT_EQ(o[i], '\r') << o;
      }
    }
  }
  EXPECT_EQ(dot_stuff("x\r"), "x\r\n.\r\n");  // a CR at the very end ends the line
}

TEST(OutOfStep, A354ToRcptClosesWithoutDeciding) {
  SmtpClientProtocol c = open(kPipelining);
  c.begin(tx());
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n");
  feed(c, "250 2.1.0 Ok\r\n");
  EXPECT_EQ(feed(c, "354 go\r\n"), "");  // to RCPT: a smuggled transaction's DATA reply
  EXPECT_EQ(c.step(), ClientStep::closed);
  ASSERT_TRUE(c.failure());
  EXPECT_TRUE(c.failure()->try_next_host);
  EXPECT_EQ(c.failure()->reply.text,
            "lost synchronization with mx.test[192.0.2.1] while sending RCPT TO: unexpected "
            "reply '354 go'");
  EXPECT_FALSE(c.results()[0].decided);  // not deferred as "354 go", not sent
}

TEST(OutOfStep, A250ToDataNeverSendsTheMessage) {
  SmtpClientProtocol c = open(kPlain);
  c.begin(tx());
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test>\r\n");
  EXPECT_EQ(feed(c, "250 ok\r\n"), "RCPT TO:<a@x.test>\r\n");
  EXPECT_EQ(feed(c, "250 ok\r\n"), "DATA\r\n");
  EXPECT_EQ(feed(c, "250 2.0.0 Ok: queued as X\r\n"), "");  // no body follows
  EXPECT_EQ(c.step(), ClientStep::closed);
  EXPECT_FALSE(c.results()[0].decided);
  EXPECT_TRUE(c.failure()->try_next_host);
}

TEST(OutOfStep, AfterTheFinalDotItIsATempfailNotAnotherHost) {
  SmtpClientProtocol c = open(kPlain);
  c.begin(tx());
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  EXPECT_NE(feed(c, "354 go\r\n").find("\r\n.\r\n"), std::string::npos);
  feed(c, "354 go\r\n");  // to the final dot
  EXPECT_EQ(c.step(), ClientStep::closed);
  ASSERT_TRUE(c.results()[0].decided);
  EXPECT_EQ(c.results()[0].outcome, Outcome::tempfail);
  EXPECT_FALSE(c.failure()->try_next_host);
}

TEST(OutOfStep, UnsolicitedBytesWhenReadyClose) {
  SmtpClientProtocol c = open(kPlain);
  c.on_out_of_step("unexpected data");
  EXPECT_EQ(c.step(), ClientStep::closed);
  EXPECT_EQ(c.failure()->reply.text,
            "lost synchronization with mx.test[192.0.2.1] while waiting for the next "
            "transaction: unexpected data");
  EXPECT_EQ(take(c), "");  // no QUIT into a stream out of step
}

TEST(OutOfStep, ValidRepliesStillPass) {
  SmtpClientProtocol c = open(kPlain);
  c.begin(tx());
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "251 will forward\r\n");
  feed(c, "354 go\r\n");
  feed(c, "250 queued\r\n");
  EXPECT_EQ(c.step(), ClientStep::ready);
  EXPECT_EQ(c.results()[0].outcome, Outcome::ok);
}

}  // namespace
}  // namespace mp::transports
