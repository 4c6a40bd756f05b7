#include "smtpd/session_record.hpp"

#include <gtest/gtest.h>

namespace mp::smtpd {
namespace {

TEST(CommandCounts, PostfixOrderWithFailuresAsOkSlashTotal) {
  CommandCounts c;
  c.count(Verb::quit, true);
  c.count(Verb::rcpt, false);
  c.count(Verb::ehlo, true);
  c.count(Verb::rcpt, true);
  c.count(Verb::mail, true);
  c.count(Verb::unknown, false);
  EXPECT_EQ(c.text(), "ehlo=1 mail=1 rcpt=1/2 quit=1 unknown=0/1 commands=4/6");
}

TEST(CommandCounts, NothingGiven) {
  EXPECT_EQ(CommandCounts().text(), "commands=0");
}

TEST(HeaderScan, FindsAFoldedMessageIdInAnyCase) {
  HeaderScan h;
  h.feed("Subject: x\r\nMESSAGE-ID:\r\n");
  h.feed("  <a@b.test> \r\nTo: y\r\n\r\nMessage-ID: <body@not.header>\r\n");
  EXPECT_EQ(h.message_id(), "<a@b.test>");
}

TEST(HeaderScan, NoneInTheBodyOrWithoutHeaders) {
  HeaderScan h;
  h.feed("Subject: x\r\n\r\nMessage-ID: <in@body>\r\n");
  EXPECT_EQ(h.message_id(), "");
  h.reset();
  h.feed("\r\nMessage-ID: <in@body>\r\n");
  EXPECT_EQ(h.message_id(), "");
}

TEST(HeaderScan, BoundedHeaderSection) {
  HeaderScan h;
  std::string big = "X: " + std::string(HeaderScan::kLimit, 'a') + "\r\n";
  h.feed(big);
  h.feed("Message-ID: <late@x>\r\n\r\n");
  EXPECT_EQ(h.message_id(), "");  // past the bound: not looked at, and memory stays bounded
}

}  // namespace
}  // namespace mp::smtpd
