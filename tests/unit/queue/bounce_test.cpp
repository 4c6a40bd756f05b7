// RFC 3464 notifications built by queue/bounce.cpp.
#include "queue/bounce.hpp"

#include <gtest/gtest.h>

namespace mp::queue {
namespace {

Address addr(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

DsnInput failure_input() {
  DsnInput in;
  in.hostname = "mx.test";
  in.queue_id = "ABC123";
  in.arrival = 1700000000;
  in.now = 1700000100;
  in.sender = addr("alice", "example.com");
  in.recipients.push_back({addr("bob", "example.org"), addr("bob", "example.org"),
                           Reply{550, "5.1.1", "<bob@example.org>: User unknown"},
                           "mx.example.org"});
  in.recipients.push_back(
      {addr("carol", "new.example"), addr("carol", "old.example"), Reply{}, ""});
  in.original = "Subject: hello\r\nFrom: alice@example.com\r\n\r\nsecret body\r\n";
  return in;
}

TEST(Bounce, FailureReportHasEveryRfc3464Field) {
  std::string m = make_dsn(failure_input());
  EXPECT_NE(m.find("From: MAILER-DAEMON@mx.test (Mail Delivery System)\r\n"), std::string::npos);
  EXPECT_NE(m.find("To: <alice@example.com>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"),
            std::string::npos);
  EXPECT_NE(m.find("Reporting-MTA: dns; mx.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                   "Remote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 "
                   "<bob@example.org>: User unknown\r\n"),
            std::string::npos);
  // Expired with no reply: 4.4.7 and the original recipient when rewritten.
  EXPECT_NE(m.find("Final-Recipient: rfc822; carol@new.example\r\nOriginal-Recipient: rfc822; "
                   "carol@old.example\r\n"
                   "Action: failed\r\nStatus: 4.4.7\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"),
            std::string::npos);
  EXPECT_EQ(m.find("secret body"), std::string::npos);  // headers only
  EXPECT_TRUE(m.ends_with("--\r\n"));
}

TEST(Bounce, DelayWarning) {
  DsnInput in = failure_input();
  in.kind = DsnInput::Kind::delay;
  in.recipients[0].reply = Reply{451, "4.3.0", "try later"};
  in.retry_until = in.arrival + 5 * 86400;
  std::string m = make_dsn(in);
  EXPECT_NE(m.find("Subject: Delayed Mail (still being retried)"), std::string::npos);
  EXPECT_NE(m.find("Action: delayed\r\nStatus: 4.3.0\r\n"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until: "), std::string::npos);
}

TEST(Bounce, Utf8AddressesUseUtf8Type) {
  DsnInput in = failure_input();
  in.recipients.resize(1);
  in.recipients[0].final_recipient = addr("j\xC3\xB6rg", "example.org");
  in.recipients[0].original_recipient = in.recipients[0].final_recipient;
  EXPECT_NE(make_dsn(in).find("Final-Recipient: utf-8; j\xC3\xB6rg@example.org"),
            std::string::npos);
}

TEST(Bounce, StatusDerivation) {
  EXPECT_EQ(dsn_status(Reply{550, "", "x"}, DsnInput::Kind::failure), "5.0.0");
  EXPECT_EQ(dsn_status(Reply{451, "", "x"}, DsnInput::Kind::failure), "4.0.0");
  EXPECT_EQ(dsn_status(Reply{}, DsnInput::Kind::failure), "4.4.7");
  EXPECT_EQ(dsn_status(Reply{554, "5.4.6", "loop"}, DsnInput::Kind::failure), "5.4.6");
}

TEST(Bounce, HeaderBlock) {
  EXPECT_EQ(header_block("A: b\r\nC: d\r\n\r\nbody\r\n"), "A: b\r\nC: d\r\n\r\n");
  EXPECT_EQ(header_block("A: b\r\n"), "A: b\r\n");
  EXPECT_EQ(header_block("\r\nbody"), "\r\n");
}

// Issue 9, item 2: an NDR shows the reason as the log does; Diagnostic-Code holds the
// next hop's own reply, or our text as "X-Mailproc;" (Postfix: "X-Postfix;").
TEST(Bounce, ReasonsInTheReportAndDiagnosticCode) {
  DsnInput in = failure_input();
  in.recipients[0].reply =
      Reply{0, "5.1.1",
            "host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: User unknown (in "
            "reply to RCPT TO command)"};
  in.recipients[1].reply =
      Reply{0, "4.4.1", "connect to mx.new.example[192.0.2.2]:25: Connection refused"};
  std::string m = make_dsn(in);
  EXPECT_NE(m.find("<bob@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 "
                   "<bob@example.org>: User unknown (in reply to RCPT TO command)\r\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("Status: 5.1.1\r\nRemote-MTA: dns; mx.example.org\r\nDiagnostic-Code: "
                   "smtp; 550 5.1.1 <bob@example.org>: User unknown\r\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("<carol@new.example>: connect to mx.new.example[192.0.2.2]:25: Connection "
                   "refused\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Status: 4.4.1\r\nDiagnostic-Code: X-Mailproc; connect to "
                   "mx.new.example[192.0.2.2]:25: Connection refused\r\n"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("0 4.4.1"), std::string::npos);
}

}  // namespace
}  // namespace mp::queue
