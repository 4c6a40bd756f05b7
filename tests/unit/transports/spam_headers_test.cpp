// X-Spam-* headers: forged ones stripped (folded, any case), ours in front, the rest intact.
#include "transports/spam_headers.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

TEST(SpamHeaders, StripsEveryXSpamFieldWithItsContinuationLines) {
  std::string in =
      "Received: from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
      "X-Spam-Flag: NO\r\n"
      "Subject: hello\r\n"
      "x-spam-status: No, score=-100.0 required=5.0 tests=FORGED,\r\n"
      "\tMORE_FORGED autolearn=no\r\n"
      "X-SPAM-SCORE : -100\r\n"
      "X-Spam: No\r\n"
      "X-Spammy-Not-Ours: kept\r\n"
      "X-Spam-Level: \r\n"
      "\r\n"
      "X-Spam-Flag: NO in the body stays\r\n";
  std::string out = strip_spam_headers(in);
  EXPECT_EQ(out,
            "Received: from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
            "Subject: hello\r\n"
            "X-Spammy-Not-Ours: kept\r\n"
            "\r\n"
            "X-Spam-Flag: NO in the body stays\r\n");
}

TEST(SpamHeaders, NothingToStripIsIdentity) {
  for (std::string m : {std::string("Subject: x\r\n\r\nbody\r\n"),
                        std::string("\r\nno headers\r\n"), std::string("Subject: only headers\r\n"),
                        std::string(""), std::string("Subject: no end")}) {
    EXPECT_EQ(strip_spam_headers(m), m);
  }
}

TEST(SpamHeaders, ScoreFormat) {
  EXPECT_EQ(format_score(1000.0), "1000.0");
  EXPECT_EQ(format_score(-0.0), "0.0");
  EXPECT_EQ(format_score(-0.04), "0.0");
  EXPECT_EQ(format_score(-2.34), "-2.3");
  EXPECT_EQ(format_score(5), "5.0");
}

TEST(SpamHeaders, ScannedSpam) {
  SpamVerdict v{true, 1000.0, 5.0, {"GTUBE", "NO_RECEIVED"}};
  std::string out = tag_scanned("X-Spam-Flag: NO\r\nSubject: s\r\n\r\nXJS*C4JDBQADN1\r\n", v);
  EXPECT_EQ(out,
            "X-Spam-Flag: YES\r\n"
            "X-Spam-Score: 1000.0\r\n"
            "X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED\r\n"
            "Subject: s\r\n\r\nXJS*C4JDBQADN1\r\n");
  EXPECT_EQ(count(out, "X-Spam-Flag"), 1u);
}

TEST(SpamHeaders, ScannedHamWithoutTests) {
  SpamVerdict v{false, -0.0, 5.0, {}};
  EXPECT_EQ(spam_header_lines(v),
            "X-Spam-Flag: NO\r\nX-Spam-Score: 0.0\r\n"
            "X-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n");
}

TEST(SpamHeaders, LongTestListsAreFolded) {
  SpamVerdict v{true, 12.0, 5.0, {}};
  for (int i = 0; i < 20; ++i) v.tests.push_back("SOME_RULE_NAME_" + std::to_string(i));
  std::string lines = spam_header_lines(v);
  std::size_t pos = 0, n = 0;
  while (pos < lines.size()) {
    std::size_t end = lines.find("\r\n", pos);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - pos, 78u) << lines.substr(pos, end - pos);
    pos = end + 2;
    ++n;
  }
  EXPECT_GT(n, 4u);
  // Unfolded, the list is intact.
  std::string unfolded;
  for (char c : lines) {
    if (c != '\r' && c != '\n' && c != '\t') unfolded += c;
  }
  EXPECT_NE(unfolded.find("tests=SOME_RULE_NAME_0,SOME_RULE_NAME_1,"), std::string::npos);
  EXPECT_NE(unfolded.find("SOME_RULE_NAME_18,SOME_RULE_NAME_19"), std::string::npos);
}

TEST(SpamHeaders, HostileRuleNamesCannotInjectHeaders) {
  SpamVerdict v{false, 1.0, 5.0, {"A\r\nX-Spam-Flag: NO", "B"}};
  std::string lines = spam_header_lines(v);
  EXPECT_EQ(count(lines, "\r\n"), 3u) << lines;
  EXPECT_EQ(count(lines, "X-Spam-Flag"), 2u);  // ours, and the harmless text inside tests=
  EXPECT_EQ(lines.find("X-Spam-Flag: NO\r\nX-Spam-Score"), 0u);
}

TEST(SpamHeaders, Unscanned) {
  std::string out = tag_unscanned("X-Spam-Flag: YES\r\nSubject: s\r\n\r\nbody\r\n",
                                  "spam check failed\r\nInjected: yes");
  EXPECT_EQ(
      out.rfind("X-Spam-Status: unscanned (spam check failed Injected: yes)\r\nSubject: s\r\n", 0),
      0u)
      << out;
  EXPECT_EQ(count(out, "X-Spam-Flag"), 0u);
  std::string longer = tag_unscanned("\r\nbody", std::string(500, 'x'));
  EXPECT_LE(longer.find("\r\n"), 78u);
  EXPECT_EQ(tag_unscanned("\r\nbody", ""), "X-Spam-Status: unscanned\r\n\r\nbody");
}

}  // namespace
}  // namespace mp::transports
