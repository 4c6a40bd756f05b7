// The spamd protocol: request heads, and replies recorded from Debian's spamd 4.0.1
// (SYMBOLS, CHECK, REPORT_IFSPAM, PING, errors), plus odd spacing, LF-only lines,
// a missing trailing CRLF, Rspamd's status line, and replies cut at every byte.
#include "transports/spam_protocol.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

using Status = SpamdParse::Status;

// Recorded from `spamd -L` (SpamAssassin 4.0.1) on loopback.
const std::string kSymbolsHam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 33\r\nSpam: False ; -0.0 / 5.0\r\n\r\n"
    "MSGID_SHORT,NO_RECEIVED,NO_RELAYS";
const std::string kSymbolsSpam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 55\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
    "GTUBE,MSGID_SHORT,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO";
const std::string kCheckSpam = "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n";
const std::string kReportIfSpamHam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; -0.0 / 5.0\r\n\r\n";
const std::string kPong = "SPAMD/1.5 0 PONG\r\n";
const std::string kBadHeader =
    "SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 5 bytes, got 2 bytes)\r\n";
const std::string kBadCommand = "SPAMD/1.0 76 Bad header line: BOGUS SPAMC/1.5\r\n";

SpamdParse parse(const std::string& s, bool eof = true) {
  return parse_spamd_reply(s, eof);
}

TEST(SpamProtocol, RequestHead) {
  EXPECT_EQ(spamd_request_head("SYMBOLS", "alice", 195),
            "SYMBOLS SPAMC/1.5\r\nContent-length: 195\r\nUser: alice\r\n\r\n");
  EXPECT_EQ(spamd_request_head("CHECK", "", 0), "CHECK SPAMC/1.5\r\nContent-length: 0\r\n\r\n");
}

TEST(SpamProtocol, SafeUser) {
  EXPECT_TRUE(safe_spamd_user("alice"));
  EXPECT_TRUE(safe_spamd_user("first.last@example.org"));
  EXPECT_FALSE(safe_spamd_user(""));
  EXPECT_FALSE(safe_spamd_user("a b"));
  EXPECT_FALSE(safe_spamd_user("a\r\nUser: root"));
  EXPECT_FALSE(safe_spamd_user(std::string(129, 'a')));
}

TEST(SpamProtocol, RecordedHam) {
  SpamdParse p = parse(kSymbolsHam);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.major, 1);
  EXPECT_EQ(p.reply.minor, 1);
  EXPECT_EQ(p.reply.code, 0);
  EXPECT_EQ(p.reply.message, "EX_OK");
  EXPECT_TRUE(p.reply.has_spam);
  EXPECT_FALSE(p.reply.spam);
  EXPECT_DOUBLE_EQ(p.reply.score, 0.0);
  EXPECT_DOUBLE_EQ(p.reply.threshold, 5.0);
  EXPECT_EQ(p.reply.symbols(),
            (std::vector<std::string>{"MSGID_SHORT", "NO_RECEIVED", "NO_RELAYS"}));
  SpamCheck c = spamd_verdict(p.reply);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_FALSE(c.verdict.spam);
  EXPECT_EQ(c.verdict.tests.size(), 3u);
}

TEST(SpamProtocol, RecordedSpam) {
  // The body has no trailing CRLF: Content-length says where it ends, no EOF needed.
  SpamdParse p = parse(kSymbolsSpam, false);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  SpamCheck c = spamd_verdict(p.reply);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_TRUE(c.verdict.spam);
  EXPECT_DOUBLE_EQ(c.verdict.score, 1000.0);
  EXPECT_DOUBLE_EQ(c.verdict.threshold, 5.0);
  ASSERT_EQ(c.verdict.tests.size(), 5u);
  EXPECT_EQ(c.verdict.tests[0], "GTUBE");
  EXPECT_EQ(c.verdict.tests[4], "TVD_SPACE_RATIO");
}

TEST(SpamProtocol, RecordedCheckWithoutLengthNeedsEof) {
  // No Content-length: the body (empty here) runs until the server closes.
  EXPECT_EQ(parse(kCheckSpam, false).status, Status::need_more);
  SpamdParse p = parse(kCheckSpam, true);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_TRUE(p.reply.spam);
  EXPECT_TRUE(spamd_verdict(p.reply).verdict.tests.empty());
}

TEST(SpamProtocol, RecordedYesNoFlags) {
  SpamdParse p = parse(kReportIfSpamHam, false);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_FALSE(p.reply.spam);
  EXPECT_TRUE(p.reply.body.empty());
  p = parse("SPAMD/1.1 0 EX_OK\r\nSpam: Yes ; 7.5 / 5.0\r\n\r\n");
  ASSERT_EQ(p.status, Status::complete);
  EXPECT_TRUE(p.reply.spam);
  EXPECT_DOUBLE_EQ(p.reply.score, 7.5);
}

TEST(SpamProtocol, RecordedPong) {
  SpamdParse p = parse(kPong);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.minor, 5);
  EXPECT_EQ(p.reply.message, "PONG");
  EXPECT_FALSE(p.reply.has_spam);
  SpamCheck c = spamd_verdict(p.reply);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "spamd reply has no Spam: header");
}

TEST(SpamProtocol, RecordedErrorsAreCompleteAtOnce) {
  for (const std::string& r : {kBadHeader, kBadCommand}) {
    SpamdParse p = parse(r, false);  // an error reply is whole after its status line
    ASSERT_EQ(p.status, Status::complete) << r;
    EXPECT_EQ(p.reply.code, 76);
    SpamCheck c = spamd_verdict(p.reply);
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.error.rfind("spamd said: 76 Bad header line: ", 0), 0u) << c.error;
  }
}

TEST(SpamProtocol, OddSpacingAndCase) {
  SpamdParse p = parse(
      "SPAMD/1.3   0    EX_OK  \r\ncontent-LENGTH:5\r\n  spam :True;12.25/ 5 \r\n\r\nA, B\r\n");
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.minor, 3);
  EXPECT_EQ(p.reply.message, "EX_OK");
  EXPECT_TRUE(p.reply.spam);
  EXPECT_DOUBLE_EQ(p.reply.score, 12.25);
  EXPECT_DOUBLE_EQ(p.reply.threshold, 5.0);
  EXPECT_EQ(p.reply.symbols(), (std::vector<std::string>{"A", "B"}));
  p = parse("SPAMD/1.1\t0\tEX_OK\nSpam:\tfalse\t;\t-3.1\t/\t5.0\n\n");
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_FALSE(p.reply.spam);
  EXPECT_DOUBLE_EQ(p.reply.score, -3.1);
}

TEST(SpamProtocol, MissingTrailingCrlf) {
  // The server closed right after the Spam: line: no CRLF, no blank line.
  SpamdParse p = parse("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0", true);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_TRUE(p.reply.spam);
  // Still open: it may go on.
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0", false).status,
            Status::need_more);
  // A status line alone, closed without CRLF.
  p = parse("SPAMD/1.5 0 PONG", true);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.message, "PONG");
  p = parse("SPAMD/1.0 76 Bad header line", true);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.code, 76);
}

TEST(SpamProtocol, VersionsAreGeneric) {
  for (std::string v : {"SPAMD/1.0", "SPAMD/1.1", "SPAMD/1.5", "SPAMD/1.42", "spamd/1.1",
                        "RSPAMD/1.3", "SPAMD/1"}) {
    SpamdParse p = parse(v + " 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n");
    EXPECT_EQ(p.status, Status::complete) << v << ": " << p.error;
  }
  for (std::string v : {"SPAMD/2.0", "SPAMC/1.5", "HTTP/1.1", "SPAMD/x.1", "SPAMD1.1", ""}) {
    SpamdParse p = parse(v + " 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n");
    EXPECT_EQ(p.status, Status::malformed) << v;
  }
}

TEST(SpamProtocol, MalformedReplies) {
  EXPECT_EQ(parse("").status, Status::malformed);  // closed without a word
  EXPECT_EQ(parse("", false).status, Status::need_more);
  EXPECT_EQ(parse("SPAMD/1.1 x EX_OK\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nSpam: True 1 / 5\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 5\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nSpam: True ; nan / 5\r\n\r\n").status, Status::malformed);
  EXPECT_EQ(parse("SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n\r\n").status, Status::malformed);
  SpamdParse p = parse("SPAMD/1.1 0 EX_OK\r\nContent-length: 10\r\nSpam: True ; 1 / 5\r\n\r\nabc");
  EXPECT_EQ(p.status, Status::malformed);
  EXPECT_NE(p.error.find("truncated"), std::string::npos) << p.error;
  EXPECT_EQ(parse(std::string(kMaxSpamdReply + 1, 'x'), false).status, Status::malformed);
  // Control characters from the server never reach error texts.
  p = parse("SPAMD/1.1 0 OK\r\nbad\x1b[31mline\r\n\r\n");
  ASSERT_EQ(p.status, Status::malformed);
  EXPECT_EQ(p.error.find('\x1b'), std::string::npos);
}

TEST(SpamProtocol, EveryPrefixOfARecordedReplyNeedsMore) {
  for (const std::string& r : {kSymbolsHam, kSymbolsSpam}) {
    for (std::size_t n = 0; n < r.size(); ++n) {
      SpamdParse p = parse_spamd_reply(std::string_view(r).substr(0, n), false);
      EXPECT_EQ(p.status, Status::need_more) << n << ": " << p.error;
    }
    EXPECT_EQ(parse_spamd_reply(r, false).status, Status::complete);
  }
}

TEST(SpamProtocol, ExtraBytesAfterTheBodyAreIgnored) {
  SpamdParse p = parse(kSymbolsSpam + "\r\ntrailing", true);
  ASSERT_EQ(p.status, Status::complete) << p.error;
  EXPECT_EQ(p.reply.symbols().size(), 5u);
}

TEST(SpamProtocol, HeaderLookupIsCaseInsensitive) {
  SpamdParse p = parse("SPAMD/1.1 0 EX_OK\r\nX-Thing: one\r\nx-thing: two\r\n\r\n");
  ASSERT_EQ(p.status, Status::complete) << p.error;
  ASSERT_NE(p.reply.header("X-THING"), nullptr);
  EXPECT_EQ(*p.reply.header("X-THING"), "one");
  EXPECT_EQ(p.reply.header("Spam"), nullptr);
}

}  // namespace
}  // namespace mp::transports
