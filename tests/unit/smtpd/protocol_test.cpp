// The SMTP/LMTP state machine on its own: every state transition and reply code.
#include "smtpd/protocol.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "queue/writer.hpp"

namespace mp::smtpd {
namespace {

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("proto-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    layout_.emplace(root_);
    writer_.emplace(*layout_);
  }
  void TearDown() override {
    writer_.reset();
    std::filesystem::remove_all(root_);
  }

  Protocol& make(ProtocolSettings s = {}) {
    s.hostname = "mx.test";
    ProtocolHooks hooks;
    hooks.check_recipient = [this](const Address&, const Address& r) -> std::optional<Reply> {
      if (r.domain == "refused.test")
        return Reply{554, "5.7.1", r.bracketed() + ": Relay access denied"};
      ++checked_;
      return std::nullopt;
    };
    hooks.begin_draft = [this](Envelope e) { return writer_->begin(std::move(e)); };
    hooks.date = [] { return std::string("Sun, 22 Nov 2026 10:00:00 +0000"); };
    proto_.emplace(s, ClientInfo{"192.0.2.1", "unknown"}, hooks);
    proto_->greet();
    take();
    return *proto_;
  }

  // Feeds everything (as the session would, re-feeding the unconsumed rest) and returns the output.
  std::string send(std::string_view in) {
    std::string buf(in);
    while (!buf.empty() && proto_->action() == Action::none) {
      std::size_t n = proto_->consume(buf);
      if (n == 0) break;
      buf.erase(0, n);
    }
    rest_ = buf;
    return take();
  }
  std::string take() { return std::exchange(proto_->output(), std::string()); }

  std::filesystem::path root_;
  std::optional<queue::Layout> layout_;
  std::optional<queue::Writer> writer_;
  std::optional<Protocol> proto_;
  std::string rest_;
  int checked_ = 0;
};

TEST_F(ProtocolTest, GreetingIs220) {
  ProtocolSettings s;
  s.hostname = "mx.test";
  Protocol p(s, ClientInfo{"192.0.2.1", "unknown"}, ProtocolHooks{});
  p.greet();
  EXPECT_EQ(p.output(), "220 mx.test ESMTP\r\n");
}

TEST_F(ProtocolTest, EhloAdvertisesExtensions) {
  make();
  EXPECT_EQ(send("EHLO client.test\r\n"),
            "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
}

TEST_F(ProtocolTest, EhloOffersStartTlsOnlyWhenConfigured) {
  ProtocolSettings s;
  s.tls_offered = true;
  make(s);
  EXPECT_NE(send("EHLO c\r\n").find("250 STARTTLS\r\n"), std::string::npos);
}

TEST_F(ProtocolTest, HeloAnswersHostnameOnly) {
  make();
  EXPECT_EQ(send("HELO c\r\n"), "250 mx.test\r\n");
}

TEST_F(ProtocolTest, MailNeedsHelloFirst) {
  make();
  EXPECT_EQ(send("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

TEST_F(ProtocolTest, WholeTransactionPipelined) {
  make();
  std::string out = send(
      "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<z@y.test>\r\nDATA\r\n"
      "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_NE(out.find("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data"),
            std::string::npos);
  ASSERT_EQ(proto_->action(), Action::commit);
  EXPECT_EQ(rest_, "QUIT\r\n");  // nothing consumed while the commit is pending
  auto draft = proto_->take_draft();
  ASSERT_TRUE(draft);
  EXPECT_EQ(draft->envelope().sender.str(), "a@b.test");
  ASSERT_EQ(draft->envelope().recipients.size(), 2u);
  EXPECT_EQ(draft->envelope().protocol, "ESMTP");
  const std::string& body = draft->body();
  EXPECT_TRUE(body.starts_with(
      "Received: from c (unknown [192.0.2.1])\r\n\tby mx.test (mailproc) with ESMTP id " +
      draft->id() + "; Sun, 22 Nov 2026 10:00:00 +0000\r\n"));
  EXPECT_TRUE(body.ends_with("Subject: hi\r\n\r\n.dot\r\nbody\r\n"));
  proto_->committed(queue::CommitResult{true, draft->id(), ""});
  EXPECT_EQ(take(), "250 2.0.0 Ok: queued as " + draft->id() + "\r\n");
  EXPECT_EQ(send(rest_), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(proto_->action(), Action::close);
}

TEST_F(ProtocolTest, ReceivedNamesTheSingleRecipient) {
  make();
  send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nhi\r\n.\r\n");
  auto draft = proto_->take_draft();
  EXPECT_NE(draft->body().find("\r\n\tfor <x@y.test>; "), std::string::npos);
  EXPECT_TRUE(draft->envelope().sender.is_null());
}

TEST_F(ProtocolTest, CommitFailureIs451) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nhi\r\n.\r\n");
  auto draft = proto_->take_draft();
  proto_->committed(queue::CommitResult{false, draft->id(), "No space left on device"});
  EXPECT_EQ(take(), "451 4.3.0 Error: queue file write error\r\n");
  EXPECT_FALSE(proto_->in_transaction());
}

TEST_F(ProtocolTest, SequenceErrors) {
  make();
  send("EHLO c\r\n");
  EXPECT_EQ(send("RCPT TO:<x@y.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b.test>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(send("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(send("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_FALSE(proto_->in_transaction());
}

TEST_F(ProtocolTest, SimpleCommands) {
  make();
  EXPECT_EQ(send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(send("VRFY root\r\n"), "252 2.0.0 Cannot VRFY user, but will accept message\r\n");
  EXPECT_EQ(send("EXPN staff\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_TRUE(send("HELP\r\n").starts_with("214 "));
  EXPECT_EQ(send("FOO\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(send("STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "502 5.5.1 Error: authentication not enabled\r\n");
}

TEST_F(ProtocolTest, RecipientCheckRefusalIsPassedOn) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(send("RCPT TO:<x@refused.test>\r\n"),
            "554 5.7.1 <x@refused.test>: Relay access denied\r\n");
  EXPECT_EQ(send("RCPT TO:<x@ok.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(checked_, 1);
}

TEST_F(ProtocolTest, MaxRecipients) {
  ProtocolSettings s;
  s.max_recipients = 2;
  make(s);
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\n");
  EXPECT_EQ(send("RCPT TO:<3@y.test>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
}

TEST_F(ProtocolTest, SizeParameterOverLimit) {
  ProtocolSettings s;
  s.message_size_limit = 100;
  make(s);
  send("EHLO c\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b.test> SIZE=101\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b.test> SIZE=100\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ProtocolTest, MessageOverLimitIsRefusedAfterData) {
  ProtocolSettings s;
  s.message_size_limit = 100;
  make(s);
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  std::string out = send(std::string(200, 'x') + "\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(out, "552 5.3.4 Error: message file too big\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(proto_->action(), Action::none);
}

TEST_F(ProtocolTest, BareLineFeedRejectedInRejectMode) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  std::string out = send("a\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n");
  EXPECT_EQ(out, "550 5.6.0 Error: bare <CR> or <LF> in message; use CRLF line ends\r\n");
  EXPECT_EQ(proto_->action(), Action::none);
  EXPECT_FALSE(proto_->in_transaction());
}

TEST_F(ProtocolTest, BareLineFeedNormalizedIsOneMessage) {
  ProtocolSettings s;
  s.bare_newline = BareNewline::normalize;
  make(s);
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  send("a\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n");
  ASSERT_EQ(proto_->action(), Action::commit);
  auto draft = proto_->take_draft();
  EXPECT_NE(draft->body().find("MAIL FROM:<evil@x.test>"), std::string::npos);
}

TEST_F(ProtocolTest, ZeroSizeLimitMeansNoLimit) {
  ProtocolSettings s;
  s.message_size_limit = 0;
  make(s);
  EXPECT_NE(send("EHLO c\r\n").find("250-SIZE 0\r\n"), std::string::npos);
  EXPECT_EQ(send("MAIL FROM:<a@b.test> SIZE=99999999999\r\n"), "250 2.1.0 Ok\r\n");
  send("RCPT TO:<x@y.test>\r\nDATA\r\n");
  send(std::string(300000, 'x') + "\r\n.\r\n");
  ASSERT_EQ(proto_->action(), Action::commit);
}

TEST_F(ProtocolTest, LongCommandLine) {
  make();
  EXPECT_EQ(send("NOOP " + std::string(1100, 'x') + "\r\n"), "500 5.5.2 Error: line too long\r\n");
  EXPECT_EQ(send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(ProtocolTest, LongLineArrivingInPieces) {
  make();
  EXPECT_EQ(send(std::string(1500, 'x')), "500 5.5.2 Error: line too long\r\n");
  EXPECT_EQ(send(std::string(600, 'y') + "\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(ProtocolTest, TwentyErrorsClose) {
  make();
  std::string in;
  for (int i = 0; i < 25; ++i) in += "BOGUS\r\n";
  std::string out = send(in);
  EXPECT_NE(out.find("421 4.7.0 mx.test Error: too many errors\r\n"), std::string::npos);
  EXPECT_EQ(proto_->action(), Action::close);
}

TEST_F(ProtocolTest, StartTlsResetsSession) {
  ProtocolSettings s;
  s.tls_offered = true;
  make(s);
  send("EHLO c\r\n");
  EXPECT_EQ(send("STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n"),
            "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(proto_->action(), Action::start_tls);
  proto_->tls_started();  // the session drops buffered plaintext (RFC 3207)
  EXPECT_EQ(send("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  std::string ehlo = send("EHLO c\r\n");
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(send("STARTTLS\r\n"), "554 5.5.1 Error: TLS already active\r\n");
  send("MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nhi\r\n.\r\n");
  EXPECT_EQ(proto_->take_draft()->envelope().protocol, "ESMTPS");
}

TEST_F(ProtocolTest, TimeoutCloses) {
  make();
  proto_->timed_out();
  EXPECT_EQ(take(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_EQ(proto_->action(), Action::close);
}

TEST_F(ProtocolTest, WhatTheSessionNeedsForDeadlinesAndTimeoutLogs) {
  make();
  EXPECT_EQ(proto_->last_command(), "CONNECT");
  EXPECT_EQ(proto_->lines_read(), 0u);
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bad address>\r\n");
  EXPECT_EQ(proto_->last_command(), "RCPT");  // named even when refused
  EXPECT_EQ(proto_->lines_read(), 3u);
  EXPECT_FALSE(proto_->reading_message());
  send("RCPT TO:<x@y.test>\r\nDATA\r\nhello\r\n");
  EXPECT_EQ(proto_->last_command(), "DATA");
  EXPECT_TRUE(proto_->reading_message());
  send(".\r\n");
  EXPECT_EQ(proto_->last_command(), "END-OF-MESSAGE");
  EXPECT_FALSE(proto_->reading_message());
  proto_->committed(queue::CommitResult{true, "X", ""});
  take();
  send("BDAT 10\r\nabc");
  EXPECT_EQ(proto_->last_command(), "BDAT");
  EXPECT_TRUE(proto_->reading_message());
  send("defghij" + std::string(1500, 'x'));
  EXPECT_FALSE(proto_->reading_message());
  EXPECT_TRUE(proto_->in_long_line());
  EXPECT_EQ(send("\r\nBOGUS\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(proto_->last_command(), "UNKNOWN");
  EXPECT_FALSE(proto_->in_long_line());
}

TEST_F(ProtocolTest, LmtpNeedsLhloAndRepliesPerRecipient) {
  ProtocolSettings s;
  s.lmtp = true;
  make(s);
  EXPECT_EQ(send("EHLO c\r\n"), "500 5.5.1 Error: LMTP needs LHLO\r\n");
  EXPECT_TRUE(send("LHLO c\r\n").starts_with("250-mx.test\r\n"));
  send(
      "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<x@refused.test>\r\nRCPT "
      "TO:<z@y.test>\r\n");
  send("DATA\r\nhi\r\n.\r\n");
  auto draft = proto_->take_draft();
  EXPECT_EQ(draft->envelope().protocol, "LMTP");
  proto_->committed(queue::CommitResult{true, draft->id(), ""});
  EXPECT_EQ(take(), "250 2.0.0 <x@y.test> Ok: queued as " + draft->id() +
                        "\r\n250 2.0.0 <z@y.test> Ok: queued as " + draft->id() + "\r\n");
}

TEST_F(ProtocolTest, BdatChunks) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  EXPECT_EQ(send("BDAT 5\r\nab\r\nc"), "250 2.0.0 Ok: 5 octets received\r\n");
  send("BDAT 3 LAST\r\n.\r\n");
  ASSERT_EQ(proto_->action(), Action::commit);
  auto draft = proto_->take_draft();
  EXPECT_TRUE(draft->body().ends_with("\r\nab\r\nc.\r\n"));
}

TEST_F(ProtocolTest, BdatWithoutMailStillReadsTheChunk) {
  make();
  send("EHLO c\r\n");
  EXPECT_EQ(send("BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n"),
            "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
}

// The bare_newline rule holds for BDAT as for DATA (SMTP smuggling through chunks).
constexpr std::string_view kBareReply =
    "550 5.6.0 Error: bare <CR> or <LF> in message; use CRLF line ends\r\n";

TEST_F(ProtocolTest, BdatBareCrRejectedInRejectMode) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  std::string chunk = "A\r.\r\nMAIL FROM:<x@evil.test>\r\n";
  EXPECT_EQ(send("BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk), kBareReply);
  EXPECT_EQ(proto_->action(), Action::none);
  EXPECT_FALSE(proto_->in_transaction());
  EXPECT_EQ(send("NOOP\r\n"), "250 2.0.0 Ok\r\n");  // still in sync
}

TEST_F(ProtocolTest, BdatBareLineFeedInAnEarlierChunkRefusesAtLast) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  send("BDAT 3\r\na\nb");
  EXPECT_EQ(send("BDAT 3 LAST\r\nc\r\n"), kBareReply);
  EXPECT_EQ(proto_->action(), Action::none);
}

TEST_F(ProtocolTest, BdatCrLfSplitAcrossChunksIsNotBare) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  EXPECT_EQ(send("BDAT 2\r\na\r"), "250 2.0.0 Ok: 1 octets received\r\n");
  EXPECT_EQ(send("BDAT 4 LAST\r\n\nb\r\n"), "");
  ASSERT_EQ(proto_->action(), Action::commit);
  EXPECT_TRUE(proto_->take_draft()->body().ends_with("\r\na\r\nb\r\n"));
}

TEST_F(ProtocolTest, BdatCrEndingTheLastChunkIsBare) {
  make();
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  EXPECT_EQ(send("BDAT 2 LAST\r\na\r"), kBareReply);
  send("MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  send("BDAT 2\r\na\r");
  EXPECT_EQ(send("BDAT 0 LAST\r\n"), kBareReply);
}

TEST_F(ProtocolTest, BdatBareNewlinesNormalizedIsOneMessage) {
  ProtocolSettings s;
  s.bare_newline = BareNewline::normalize;
  make(s);
  send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  send("BDAT 4\r\nA\r.\r");
  send("BDAT 25 LAST\r\n\nMAIL FROM:<x@evil.test>\n");
  ASSERT_EQ(proto_->action(), Action::commit);
  EXPECT_TRUE(proto_->take_draft()->body().ends_with("\r\nA\r\n.\r\nMAIL FROM:<x@evil.test>\r\n"));
}

TEST_F(ProtocolTest, DataAndBdatAcrossManyFeeds) {
  make();
  std::string in =
      "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nline1\r\n..x\r\n.\r\n";
  std::string buf;
  for (char c : in) {  // one byte at a time, as a slow client would send it
    buf += c;
    buf.erase(0, proto_->consume(buf));
  }
  ASSERT_EQ(proto_->action(), Action::commit);
  EXPECT_TRUE(proto_->take_draft()->body().ends_with("line1\r\n.x\r\n"));
}

}  // namespace
}  // namespace mp::smtpd
