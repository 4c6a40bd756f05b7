// The SMTP/LMTP client state machine against scripted server replies: reply parsing,
// extensions, dot-stuffing, pipelining, per-recipient outcomes, failover signals.
#include "transports/smtp_client_protocol.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

Reply R(std::string_view wire) {
  ParsedReply p = parse_reply(wire);
  EXPECT_EQ(p.status, ParsedReply::Status::ok) << wire << ": " << p.error;
  EXPECT_EQ(p.consumed, wire.size()) << wire;
  return p.reply;
}

Address A(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

// Takes what the client wants to send (and reports it written).
std::string take(SmtpClientProtocol& c) {
  std::string out = c.output();
  c.written();
  return out;
}

std::string feed(SmtpClientProtocol& c, std::string_view wire) {
  c.on_reply(R(wire));
  return take(c);
}

constexpr std::string_view kEhloPipelining =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 "
    "ENHANCEDSTATUSCODES\r\n";
constexpr std::string_view kEhloPlain = "250-mx.test\r\n250 8BITMIME\r\n";

Transaction tx(std::vector<Address> rcpts, std::string message = "Subject: t\r\n\r\nhello\r\n") {
  Transaction t;
  t.sender = A("s", "from.test");
  t.recipients = std::move(rcpts);
  t.message = std::make_shared<const std::string>(std::move(message));
  return t;
}

// A client past the greeting and EHLO, ready for a transaction.
SmtpClientProtocol open(std::string_view ehlo, ClientSettings s = {}) {
  s.helo_name = "me.test";
  s.peer = "mx.test[192.0.2.1]:25";
  SmtpClientProtocol c(s);
  EXPECT_EQ(c.step(), ClientStep::reply);
  EXPECT_EQ(c.wait(), ClientWait::greeting);
  EXPECT_EQ(feed(c, "220 mx.test ESMTP\r\n"), s.lmtp ? "LHLO me.test\r\n" : "EHLO me.test\r\n");
  EXPECT_EQ(c.wait(), ClientWait::command);
  EXPECT_EQ(feed(c, ehlo), "");
  EXPECT_EQ(c.step(), ClientStep::ready);
  return c;
}

// ---- replies

TEST(ParseReply, SingleAndMultiLineWithEnhancedStatus) {
  Reply r = R("250 2.1.5 Ok\r\n");
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.status, "2.1.5");
  EXPECT_EQ(r.text, "Ok");
  r = R("550-5.1.1 no such user\r\n550-5.1.1 really\r\n550 5.1.1 gone\r\n");
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(r.status, "5.1.1");
  EXPECT_EQ(r.text, "no such user\nreally\ngone");
  EXPECT_EQ(r.line(), "550 5.1.1 no such user really gone");
}

TEST(ParseReply, StatusDerivedWhenAbsent) {
  Reply r = R("451 try later\r\n");
  EXPECT_EQ(r.status, "4.0.0");
  EXPECT_EQ(r.text, "try later");
  EXPECT_EQ(R("250\r\n").status, "2.0.0");
  EXPECT_EQ(R("250\r\n").text, "");
  EXPECT_EQ(R("354 go ahead\r\n").status, "");
  // A status of another class than the code is text, not a status.
  r = R("250 5.1.1 odd\r\n");
  EXPECT_EQ(r.status, "2.0.0");
  EXPECT_EQ(r.text, "5.1.1 odd");
  EXPECT_EQ(R("550 5.1.10\r\n").status, "5.1.10");
  EXPECT_EQ(R("550 5.1.1x y\r\n").text, "5.1.1x y");
}

TEST(ParseReply, IncompleteUntilTheLastLine) {
  EXPECT_EQ(parse_reply("").status, ParsedReply::Status::incomplete);
  EXPECT_EQ(parse_reply("250 Ok").status, ParsedReply::Status::incomplete);
  EXPECT_EQ(parse_reply("250-a\r\n250-b\r\n").status, ParsedReply::Status::incomplete);
  EXPECT_EQ(parse_reply("250-a\r\n250 b\r").status, ParsedReply::Status::incomplete);
}

TEST(ParseReply, ConsumesOneReplyOfSeveral) {
  std::string in = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";
  ParsedReply p = parse_reply(in);
  ASSERT_EQ(p.status, ParsedReply::Status::ok);
  EXPECT_EQ(p.consumed, 14u);
  EXPECT_EQ(p.reply.status, "2.1.0");
  p = parse_reply(std::string_view(in).substr(14));
  EXPECT_EQ(p.reply.status, "2.1.5");
}

TEST(ParseReply, BareLfTolerated) {
  ParsedReply p = parse_reply("250-x\n250 y\n");
  ASSERT_EQ(p.status, ParsedReply::Status::ok);
  EXPECT_EQ(p.reply.text, "x\ny");
}

TEST(ParseReply, Malformed) {
  for (std::string_view bad :
       {"hello\r\n", "25\r\n", "250x\r\n", "650 no\r\n", "250-a\r\n251 b\r\n", "abc def\r\n"}) {
    EXPECT_EQ(parse_reply(bad).status, ParsedReply::Status::malformed) << bad;
  }
  std::string huge = "250-" + std::string(kMaxReplySize, 'x');
  EXPECT_EQ(parse_reply(huge).status, ParsedReply::Status::malformed);
  EXPECT_EQ(parse_reply(huge + "\r\n").status, ParsedReply::Status::malformed);
}

TEST(ParseReply, ControlCharactersNeverReachTheText) {
  EXPECT_EQ(R("550 5.0.0 a\x01"
              "b\tc\r\n")
                .text,
            "a?b\tc");
}

TEST(Extensions, ParsedCaseInsensitively) {
  Extensions e = parse_extensions(
      R("250-smtp-sink\r\n250-pipelining\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
        "250-STARTTLS\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n250 \r\n"));
  EXPECT_TRUE(e.esmtp);
  EXPECT_TRUE(e.pipelining);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.size_limit, 1000u);
  EXPECT_TRUE(e.eightbitmime);
  EXPECT_TRUE(e.smtputf8);
  EXPECT_TRUE(e.starttls);
  EXPECT_TRUE(e.chunking);
  EXPECT_TRUE(e.enhancedstatuscodes);
  Extensions none = parse_extensions(R("250 mx.test greets you\r\n"));
  EXPECT_TRUE(none.esmtp);
  EXPECT_FALSE(none.pipelining);
  EXPECT_FALSE(none.size);
  Extensions bare_size = parse_extensions(R("250-mx\r\n250 SIZE\r\n"));
  EXPECT_TRUE(bare_size.size);
  EXPECT_EQ(bare_size.size_limit, 0u);
}

// ---- message data

TEST(DotStuff, LeadingDotsDoubledAndTerminated) {
  EXPECT_EQ(dot_stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  EXPECT_EQ(dot_stuff("a\r\n.\r\nb\r\n"), "a\r\n..\r\nb\r\n.\r\n");  // a line with only "."
  EXPECT_EQ(dot_stuff("x. y\r\n"), "x. y\r\n.\r\n");
}

TEST(DotStuff, MissingFinalCrlfAdded) {
  EXPECT_EQ(dot_stuff("a\r\nlast"), "a\r\nlast\r\n.\r\n");
  EXPECT_EQ(dot_stuff("a\r\n."), "a\r\n..\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
}

TEST(DotStuff, BareLfBecomesCrlfAndLongLinesKept) {
  EXPECT_EQ(dot_stuff("a\n.b\nc"), "a\r\n..b\r\nc\r\n.\r\n");
  std::string long_line(5000, 'x');
  EXPECT_EQ(dot_stuff(long_line + "\r\n." + long_line + "\r\n"),
            long_line + "\r\n.." + long_line + "\r\n.\r\n");
}

TEST(NeedsSmtputf8, AddressesOrRequestedWithUtf8Headers) {
  Address ascii = A("a", "b.test"), utf8 = A("j\xc3\xb6rg", "b.test");
  EXPECT_FALSE(needs_smtputf8(ascii, {ascii}, "Subject: x\r\n\r\nbody\r\n", true));
  EXPECT_TRUE(needs_smtputf8(utf8, {ascii}, "", false));
  EXPECT_TRUE(needs_smtputf8(ascii, {ascii, utf8}, "", false));
  EXPECT_TRUE(needs_smtputf8(ascii, {ascii}, "Subject: \xc3\xa9\r\n\r\nbody\r\n", true));
  EXPECT_FALSE(needs_smtputf8(ascii, {ascii}, "Subject: \xc3\xa9\r\n\r\nbody\r\n", false));
  EXPECT_FALSE(needs_smtputf8(ascii, {ascii}, "Subject: x\r\n\r\nb\xc3\xa9\r\n", true));
}

// ---- conversations

TEST(Client, WithoutPipeliningOneCommandAtATime) {
  SmtpClientProtocol c = open(kEhloPlain);
  EXPECT_FALSE(c.extensions().pipelining);
  c.begin(tx({A("a", "x.test"), A("b", "x.test")}, "Subject: t\r\n\r\n.dot\r\n"));
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test>\r\n");
  EXPECT_EQ(feed(c, "250 2.1.0 Ok\r\n"), "RCPT TO:<a@x.test>\r\n");
  EXPECT_EQ(feed(c, "250 2.1.5 Ok\r\n"), "RCPT TO:<b@x.test>\r\n");
  EXPECT_EQ(feed(c, "550 5.1.1 <b@x.test>: unknown\r\n"), "DATA\r\n");
  EXPECT_EQ(c.wait(), ClientWait::command);
  EXPECT_EQ(feed(c, "354 go ahead\r\n"), "Subject: t\r\n\r\n..dot\r\n.\r\n");
  EXPECT_EQ(c.wait(), ClientWait::data);
  EXPECT_EQ(feed(c, "250 2.0.0 Ok: queued as ABC\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  ASSERT_EQ(c.results().size(), 2u);
  EXPECT_TRUE(c.results()[0].decided);
  EXPECT_EQ(c.results()[0].outcome, Outcome::ok);
  EXPECT_EQ(c.results()[0].reply.line(), "250 2.0.0 Ok: queued as ABC");
  EXPECT_EQ(c.results()[0].command, "end of DATA");
  EXPECT_TRUE(c.results()[0].remote);
  EXPECT_EQ(c.results()[1].outcome, Outcome::permfail);
  EXPECT_EQ(c.results()[1].reply.status, "5.1.1");
  EXPECT_EQ(c.results()[1].command, "RCPT TO");
  c.quit();
  EXPECT_EQ(take(c), "QUIT\r\n");
  EXPECT_EQ(feed(c, "221 2.0.0 Bye\r\n"), "");
  EXPECT_EQ(c.step(), ClientStep::closed);
  EXPECT_FALSE(c.failure());
}

TEST(Client, PipeliningSendsTheEnvelopeInOneBatch) {
  SmtpClientProtocol c = open(kEhloPipelining);
  c.begin(tx({A("a", "x.test"), A("b", "x.test"), A("c", "x.test")}));
  EXPECT_EQ(take(c),
            "MAIL FROM:<s@from.test> SIZE=21\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
            "RCPT TO:<c@x.test>\r\nDATA\r\n");
  EXPECT_EQ(feed(c, "250 2.1.0 Ok\r\n"), "");
  EXPECT_EQ(feed(c, "250 2.1.5 Ok\r\n"), "");
  EXPECT_EQ(feed(c, "450 4.2.0 greylisted\r\n"), "");
  EXPECT_EQ(feed(c, "250 2.1.5 Ok\r\n"), "");
  EXPECT_EQ(feed(c, "354 go\r\n"), "Subject: t\r\n\r\nhello\r\n.\r\n");
  EXPECT_EQ(feed(c, "250 2.0.0 Ok\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  EXPECT_EQ(c.results()[0].outcome, Outcome::ok);
  EXPECT_EQ(c.results()[1].outcome, Outcome::tempfail);
  EXPECT_EQ(c.results()[1].reply.line(), "450 4.2.0 greylisted");
  EXPECT_EQ(c.results()[2].outcome, Outcome::ok);
}

TEST(Client, EhloRefusedFallsBackToHelo) {
  ClientSettings s;
  s.helo_name = "me.test";
  SmtpClientProtocol c(s);
  EXPECT_EQ(feed(c, "220 old.test\r\n"), "EHLO me.test\r\n");
  EXPECT_EQ(feed(c, "502 5.5.2 what?\r\n"), "HELO me.test\r\n");
  EXPECT_EQ(feed(c, "250 old.test\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  EXPECT_FALSE(c.extensions().esmtp);
  Transaction t = tx({A("a", "x.test")});
  t.eightbit = true;
  c.begin(t);
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test>\r\n");  // no SIZE, no BODY: not offered
}

TEST(Client, HeloRefusedIsPermanentForTheMessage) {
  SmtpClientProtocol c{ClientSettings{}};
  feed(c, "220 x\r\n");
  feed(c, "500 no\r\n");
  EXPECT_EQ(feed(c, "554 5.7.1 go away\r\n"), "QUIT\r\n");
  ASSERT_TRUE(c.failure());
  EXPECT_FALSE(c.failure()->try_next_host);
  EXPECT_TRUE(c.failure()->remote);
  EXPECT_EQ(c.failure()->reply.status, "5.7.1");
  EXPECT_EQ(feed(c, "221 bye\r\n"), "");
  EXPECT_EQ(c.step(), ClientStep::closed);
}

TEST(Client, RefusedGreetingTriesTheNextHost) {
  SmtpClientProtocol c{ClientSettings{}};
  EXPECT_EQ(feed(c, "421 4.3.2 busy\r\n"), "");  // 421: the server hangs up, no QUIT
  EXPECT_EQ(c.step(), ClientStep::closed);
  ASSERT_TRUE(c.failure());
  EXPECT_TRUE(c.failure()->try_next_host);
  EXPECT_EQ(c.failure()->reply.line(), "421 4.3.2 busy");

  SmtpClientProtocol d{ClientSettings{}};
  EXPECT_EQ(feed(d, "554 no service\r\n"), "QUIT\r\n");
  ASSERT_TRUE(d.failure());
  EXPECT_TRUE(d.failure()->try_next_host);

  SmtpClientProtocol e{ClientSettings{}};
  feed(e, "220 x\r\n");
  EXPECT_EQ(feed(e, "451 4.3.0 ehlo trouble\r\n"), "QUIT\r\n");
  EXPECT_TRUE(e.failure()->try_next_host);
}

TEST(Client, MailRefusedAppliesToEveryRecipient) {
  SmtpClientProtocol c = open(kEhloPipelining);
  c.begin(tx({A("a", "x.test"), A("b", "x.test")}));
  take(c);
  feed(c, "452 4.3.1 full\r\n");
  feed(c, "503 5.5.1 need MAIL\r\n");
  EXPECT_EQ(c.step(), ClientStep::reply);  // still reading the pipelined replies
  feed(c, "503 5.5.1 need MAIL\r\n");
  feed(c, "503 5.5.1 need RCPT\r\n");
  ASSERT_EQ(c.step(), ClientStep::ready);
  for (const auto& r : c.results()) {
    EXPECT_EQ(r.outcome, Outcome::tempfail);
    EXPECT_EQ(r.reply.line(), "452 4.3.1 full");
    EXPECT_EQ(r.command, "MAIL FROM");
  }

  SmtpClientProtocol d = open(kEhloPlain);
  d.begin(tx({A("a", "x.test"), A("b", "x.test")}));
  take(d);
  EXPECT_EQ(feed(d, "553 5.1.8 bad sender\r\n"), "");  // no RCPT after a refused MAIL
  ASSERT_EQ(d.step(), ClientStep::ready);
  EXPECT_EQ(d.results()[0].outcome, Outcome::permfail);
  EXPECT_EQ(d.results()[1].outcome, Outcome::permfail);
}

TEST(Client, NoRecipientAcceptedMeansNoData) {
  SmtpClientProtocol c = open(kEhloPlain);
  c.begin(tx({A("a", "x.test")}));
  take(c);
  feed(c, "250 ok\r\n");
  EXPECT_EQ(feed(c, "550 5.1.1 unknown\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  EXPECT_EQ(c.results()[0].outcome, Outcome::permfail);

  // Pipelined, the server says 354 anyway: an empty message ends it, its reply is ignored.
  SmtpClientProtocol d = open(kEhloPipelining);
  d.begin(tx({A("a", "x.test")}));
  take(d);
  feed(d, "250 ok\r\n");
  feed(d, "550 5.1.1 unknown\r\n");
  EXPECT_EQ(feed(d, "354 go\r\n"), ".\r\n");
  EXPECT_EQ(feed(d, "250 2.0.0 queued\r\n"), "");
  ASSERT_EQ(d.step(), ClientStep::ready);
  EXPECT_EQ(d.results()[0].outcome, Outcome::permfail);
  EXPECT_EQ(d.results()[0].reply.line(), "550 5.1.1 unknown");
}

TEST(Client, DataRefusedAndFinalReplies) {
  SmtpClientProtocol c = open(kEhloPipelining);
  c.begin(tx({A("a", "x.test"), A("b", "x.test")}));
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "550 5.1.1 no\r\n");
  EXPECT_EQ(feed(c, "451 4.3.0 data later\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  EXPECT_EQ(c.results()[0].outcome, Outcome::tempfail);
  EXPECT_EQ(c.results()[0].command, "DATA");
  EXPECT_EQ(c.results()[1].outcome, Outcome::permfail);  // keeps its RCPT reply

  for (auto [wire, outcome] : {std::pair{"554 5.7.1 spam\r\n", Outcome::permfail},
                               std::pair{"452 4.3.1 disk full\r\n", Outcome::tempfail}}) {
    SmtpClientProtocol d = open(kEhloPipelining);
    d.begin(tx({A("a", "x.test")}));
    take(d);
    feed(d, "250 ok\r\n");
    feed(d, "250 ok\r\n");
    feed(d, "354 go\r\n");
    feed(d, wire);
    ASSERT_EQ(d.step(), ClientStep::ready);
    EXPECT_EQ(d.results()[0].outcome, outcome) << wire;
    EXPECT_EQ(d.results()[0].command, "end of DATA");
  }
}

TEST(Client, Smtputf8NotOfferedBouncesWithoutMail) {
  SmtpClientProtocol c = open(kEhloPipelining);
  c.begin(tx({A("j\xc3\xb6rg", "x.test"), A("b", "x.test")}));
  EXPECT_EQ(take(c), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  for (const auto& r : c.results()) {
    EXPECT_EQ(r.outcome, Outcome::permfail);
    EXPECT_EQ(r.reply.status, "5.6.7");
    EXPECT_FALSE(r.remote);
    EXPECT_EQ(r.reply.text,
              "SMTPUTF8 is required, but was not offered by host mx.test[192.0.2.1]:25");
  }
  // Requested by the submitter but not needed: delivered without it.
  SmtpClientProtocol d = open(kEhloPlain);
  Transaction t = tx({A("a", "x.test")});
  t.smtputf8 = true;
  d.begin(t);
  EXPECT_EQ(take(d), "MAIL FROM:<s@from.test>\r\n");
}

TEST(Client, Smtputf8AndBodyParametersWhenOffered) {
  std::string ehlo = "250-mx\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n";
  SmtpClientProtocol c = open(ehlo);
  Transaction t = tx({A("j\xc3\xb6rg", "x.test")});
  t.smtputf8 = true;
  c.begin(t);
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test> BODY=8BITMIME SMTPUTF8\r\n");

  SmtpClientProtocol d = open(ehlo);
  Transaction e = tx({A("a", "x.test")});
  e.eightbit = true;
  d.begin(e);
  EXPECT_EQ(take(d), "MAIL FROM:<s@from.test> BODY=8BITMIME\r\n");
}

TEST(Client, OverTheServersSizeLimitBounces) {
  SmtpClientProtocol c = open("250-mx\r\n250 SIZE 10\r\n");
  c.begin(tx({A("a", "x.test")}));
  EXPECT_EQ(take(c), "");
  EXPECT_EQ(c.results()[0].outcome, Outcome::permfail);
  EXPECT_EQ(c.results()[0].reply.status, "5.3.4");
}

TEST(Client, Reply421MidTransactionLeavesUndecidedForTheNextHost) {
  SmtpClientProtocol c = open(kEhloPipelining);
  c.begin(tx({A("a", "x.test"), A("b", "x.test"), A("c", "x.test")}));
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "550 5.1.1 no\r\n");
  EXPECT_EQ(feed(c, "421 4.4.2 shutting down\r\n"), "");
  EXPECT_EQ(c.step(), ClientStep::closed);
  ASSERT_TRUE(c.failure());
  EXPECT_TRUE(c.failure()->try_next_host);
  EXPECT_EQ(c.failure()->command, "RCPT TO");
  EXPECT_FALSE(c.results()[0].decided);  // accepted, but no data yet
  EXPECT_TRUE(c.results()[1].decided);
  EXPECT_FALSE(c.results()[2].decided);
}

TEST(Client, TimeoutAndLostConnectionTexts) {
  ClientSettings s;
  s.peer = "mx.test[192.0.2.1]:25";
  SmtpClientProtocol c(s);
  c.on_failure(Broken::timeout);
  EXPECT_EQ(c.step(), ClientStep::closed);
  ASSERT_TRUE(c.failure());
  EXPECT_TRUE(c.failure()->try_next_host);
  EXPECT_FALSE(c.failure()->remote);
  EXPECT_EQ(c.failure()->reply.line(),
            "451 4.4.2 conversation with mx.test[192.0.2.1]:25 timed out while receiving the "
            "initial server greeting");

  // Lost while the message was still being written: nothing delivered, next host.
  SmtpClientProtocol d = open(kEhloPipelining);
  d.begin(tx({A("a", "x.test")}));
  take(d);
  feed(d, "250 ok\r\n");
  feed(d, "250 ok\r\n");
  d.on_reply(R("354 go\r\n"));
  EXPECT_EQ(d.phase(), "sending message body");
  d.on_failure(Broken::lost_connection);
  EXPECT_TRUE(d.failure()->try_next_host);
  EXPECT_FALSE(d.results()[0].decided);
  EXPECT_EQ(d.failure()->reply.text,
            "lost connection with mx.test[192.0.2.1]:25 while sending message body");

  // Lost after the final "." went out: may have been delivered, a tempfail here.
  SmtpClientProtocol e = open(kEhloPipelining);
  e.begin(tx({A("a", "x.test")}));
  take(e);
  feed(e, "250 ok\r\n");
  feed(e, "250 ok\r\n");
  feed(e, "354 go\r\n");
  e.on_failure(Broken::timeout);
  EXPECT_FALSE(e.failure()->try_next_host);
  ASSERT_TRUE(e.results()[0].decided);
  EXPECT_EQ(e.results()[0].outcome, Outcome::tempfail);
  EXPECT_EQ(e.results()[0].reply.text,
            "conversation with mx.test[192.0.2.1]:25 timed out while sending end of data -- "
            "message may be sent more than once");

  SmtpClientProtocol f{ClientSettings{}};
  f.on_failure(Broken::malformed_reply, "bad reply line 'x'");
  EXPECT_EQ(f.failure()->reply.text,
            "unknown sent a malformed reply while receiving the initial server greeting: bad reply "
            "line 'x'");
}

TEST(Client, LmtpOneReplyPerAcceptedRecipient) {
  ClientSettings s;
  s.lmtp = true;
  SmtpClientProtocol c = open("250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n", s);
  c.begin(tx({A("a", "x.test"), A("b", "x.test"), A("c", "x.test")}));
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "550 5.1.1 no\r\n");
  feed(c, "250 ok\r\n");
  EXPECT_EQ(feed(c, "354 go\r\n"), "Subject: t\r\n\r\nhello\r\n.\r\n");
  EXPECT_EQ(feed(c, "250 2.0.0 a delivered\r\n"), "");
  EXPECT_EQ(c.step(), ClientStep::reply);
  EXPECT_EQ(feed(c, "452 4.2.2 c over quota\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  EXPECT_EQ(c.results()[0].outcome, Outcome::ok);
  EXPECT_EQ(c.results()[1].outcome, Outcome::permfail);
  EXPECT_EQ(c.results()[2].outcome, Outcome::tempfail);
  EXPECT_EQ(c.results()[2].reply.text, "c over quota");

  SmtpClientProtocol d(s);
  EXPECT_EQ(feed(d, "220 x\r\n"), "LHLO localhost\r\n");
  EXPECT_EQ(feed(d, "500 5.5.1 no\r\n"), "QUIT\r\n");  // no HELO in LMTP
  EXPECT_FALSE(d.failure()->try_next_host);
}

TEST(Client, StartTlsPlaces) {
  ClientSettings s;
  s.starttls = StartTls::if_offered;
  SmtpClientProtocol c(s);
  feed(c, "220 x\r\n");
  EXPECT_EQ(feed(c, "250-x\r\n250 STARTTLS\r\n"), "STARTTLS\r\n");
  EXPECT_EQ(feed(c, "220 2.0.0 go\r\n"), "");
  EXPECT_EQ(c.step(), ClientStep::start_tls);
  c.tls_started();
  EXPECT_TRUE(c.tls_active());
  EXPECT_EQ(take(c), "EHLO localhost\r\n");
  EXPECT_EQ(feed(c, "250-x\r\n250 PIPELINING\r\n"), "");  // no STARTTLS twice
  EXPECT_EQ(c.step(), ClientStep::ready);
  EXPECT_TRUE(c.extensions().pipelining);

  SmtpClientProtocol d(s);
  feed(d, "220 x\r\n");
  EXPECT_EQ(feed(d, "250 x\r\n"), "");  // not offered: plaintext
  EXPECT_EQ(d.step(), ClientStep::ready);

  s.starttls = StartTls::required;
  SmtpClientProtocol e(s);
  feed(e, "220 x\r\n");
  EXPECT_EQ(feed(e, "250 x\r\n"), "QUIT\r\n");
  ASSERT_TRUE(e.failure());
  EXPECT_EQ(e.failure()->reply.status, "4.7.4");
  EXPECT_TRUE(e.failure()->try_next_host);
}

TEST(Client, TlsHandshakeFailureAndRefusal) {
  ClientSettings s;
  s.starttls = StartTls::if_offered;
  s.peer = "mx.test[192.0.2.1]";
  SmtpClientProtocol c(s);
  feed(c, "220 x\r\n");
  EXPECT_EQ(feed(c, "250-x\r\n250 STARTTLS\r\n"), "STARTTLS\r\n");
  EXPECT_EQ(feed(c, "220 2.0.0 go\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::start_tls);
  c.tls_failed("wrong version number");
  EXPECT_EQ(c.step(), ClientStep::closed);
  EXPECT_EQ(take(c), "");  // no QUIT over a broken stream
  ASSERT_TRUE(c.failure());
  EXPECT_EQ(c.failure()->reply.status, "4.7.5");
  EXPECT_EQ(c.failure()->reply.text,
            "Cannot start TLS: handshake failure with mx.test[192.0.2.1]: wrong version number");
  EXPECT_EQ(c.failure()->command, "STARTTLS");
  EXPECT_TRUE(c.failure()->try_next_host);
  c.tls_failed("again");  // only while a handshake is due
  EXPECT_EQ(c.failure()->reply.text.find("again"), std::string::npos);

  // Opportunistic: a refused STARTTLS goes on in plaintext; required: the host is skipped.
  SmtpClientProtocol d(s);
  feed(d, "220 x\r\n");
  feed(d, "250-x\r\n250 STARTTLS\r\n");
  EXPECT_EQ(feed(d, "454 4.7.0 TLS not available\r\n"), "");
  EXPECT_EQ(d.step(), ClientStep::ready);
  EXPECT_FALSE(d.tls_active());
  s.starttls = StartTls::required;
  SmtpClientProtocol e(s);
  feed(e, "220 x\r\n");
  feed(e, "250-x\r\n250 STARTTLS\r\n");
  EXPECT_EQ(feed(e, "454 4.7.0 TLS not available\r\n"), "QUIT\r\n");
  EXPECT_EQ(e.failure()->reply.status, "4.7.4");
  EXPECT_TRUE(e.failure()->try_next_host);
}

TEST(Client, ResetFailureEndsTheSession) {
  SmtpClientProtocol c = open(kEhloPlain);
  c.reset();
  EXPECT_EQ(take(c), "RSET\r\n");
  c.on_failure(Broken::lost_connection);
  EXPECT_EQ(c.step(), ClientStep::closed);
  EXPECT_TRUE(c.failure()->try_next_host);
  SmtpClientProtocol d = open(kEhloPlain);
  d.reset();
  take(d);
  EXPECT_EQ(feed(d, "421 4.4.2 idle too long\r\n"), "");
  EXPECT_EQ(d.step(), ClientStep::closed);
}

TEST(Client, ResetAllowsASecondTransaction) {
  SmtpClientProtocol c = open(kEhloPlain);
  c.begin(tx({A("a", "x.test")}));
  take(c);
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "354 go\r\n");
  feed(c, "250 ok\r\n");
  ASSERT_EQ(c.step(), ClientStep::ready);
  c.reset();
  EXPECT_EQ(take(c), "RSET\r\n");
  EXPECT_EQ(feed(c, "250 2.0.0 ok\r\n"), "");
  ASSERT_EQ(c.step(), ClientStep::ready);
  c.begin(tx({A("b", "x.test")}));
  EXPECT_EQ(take(c), "MAIL FROM:<s@from.test>\r\n");
  ASSERT_EQ(c.results().size(), 1u);
  EXPECT_FALSE(c.results()[0].decided);
}

TEST(Client, NullSenderAndDerivedStatus) {
  SmtpClientProtocol c = open(kEhloPlain);
  Transaction t = tx({A("a", "x.test")});
  t.sender = Address{};
  c.begin(t);
  EXPECT_EQ(take(c), "MAIL FROM:<>\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "250 ok\r\n");
  feed(c, "354 go\r\n");
  feed(c, "250 queued\r\n");
  EXPECT_EQ(c.results()[0].reply.status, "2.0.0");
  EXPECT_EQ(c.results()[0].outcome, Outcome::ok);
}

}  // namespace
}  // namespace mp::transports
