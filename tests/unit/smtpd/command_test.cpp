// parse_command: accepted lines and the reply for refused lines, as tables.
#include "smtpd/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mp::smtpd {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

struct Accepted {
  std::string line;
  Verb verb;
  std::string arg;
  std::string path;  // Address::str()
  Params params = {};
  bool smtputf8 = false;  // ParseOptions
};

// "\xc3\xa9" is é, "\xc3\xbc" is ü (UTF-8).
const Accepted kAccepted[] = {
    {"HELO mx.example.org", Verb::helo, "mx.example.org", ""},
    {"helo mx.example.org", Verb::helo, "mx.example.org", ""},
    {"EHLO [127.0.0.1]", Verb::ehlo, "[127.0.0.1]", ""},
    {"eHlO client", Verb::ehlo, "client", ""},
    {"EHLO  spaced  ", Verb::ehlo, "spaced", ""},
    {"EHLO two words", Verb::ehlo, "two words", ""},
    {"LHLO lmtp.client", Verb::lhlo, "lmtp.client", ""},
    {"MAIL FROM:<a@b.example>", Verb::mail, "FROM:<a@b.example>", "a@b.example"},
    {"mail from:<a@b.example>", Verb::mail, "from:<a@b.example>", "a@b.example"},
    {"MAIL FROM: <a@b.example>", Verb::mail, "FROM: <a@b.example>", "a@b.example"},
    {"MAIL FROM:<>", Verb::mail, "FROM:<>", ""},
    {"MAIL FROM:<> SIZE=0", Verb::mail, "FROM:<> SIZE=0", "", {{"SIZE", "0"}}},
    {"MAIL FROM:<a@b.example>   ", Verb::mail, "FROM:<a@b.example>", "a@b.example"},
    {"MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME",
     Verb::mail,
     "FROM:<a@b.example> SIZE=1000 BODY=8BITMIME",
     "a@b.example",
     {{"SIZE", "1000"}, {"BODY", "8BITMIME"}}},
    {"MAIL FROM:<a@b.example>  size=10   body=7bit",
     Verb::mail,
     "FROM:<a@b.example>  size=10   body=7bit",
     "a@b.example",
     {{"SIZE", "10"}, {"BODY", "7bit"}}},
    {"MAIL FROM:<a@b.example> SIZE=18446744073709551615",
     Verb::mail,
     "FROM:<a@b.example> SIZE=18446744073709551615",
     "a@b.example",
     {{"SIZE", "18446744073709551615"}}},
    {"MAIL FROM:<@r1.example,@r2.example:a@b.example>", Verb::mail,
     "FROM:<@r1.example,@r2.example:a@b.example>", "a@b.example"},
    {"MAIL FROM:<pel\xc3\xa9@b.example> SMTPUTF8",
     Verb::mail,
     "FROM:<pel\xc3\xa9@b.example> SMTPUTF8",
     "pel\xc3\xa9@b.example",
     {{"SMTPUTF8", ""}}},
    {"MAIL FROM:<a@b.example> smtputf8 BODY=8BITMIME",
     Verb::mail,
     "FROM:<a@b.example> smtputf8 BODY=8BITMIME",
     "a@b.example",
     {{"SMTPUTF8", ""}, {"BODY", "8BITMIME"}}},
    {"RCPT TO:<c@d.example>", Verb::rcpt, "TO:<c@d.example>", "c@d.example"},
    {"rcpt to: <c@d.example>", Verb::rcpt, "to: <c@d.example>", "c@d.example"},
    {"RCPT TO:<\"john doe\"@d.example>", Verb::rcpt, "TO:<\"john doe\"@d.example>",
     "\"john doe\"@d.example"},
    {"RCPT TO:<Postmaster>", Verb::rcpt, "TO:<Postmaster>", "Postmaster"},
    {"RCPT TO:<postmaster@d.example>", Verb::rcpt, "TO:<postmaster@d.example>",
     "postmaster@d.example"},
    {"RCPT TO:<\xc3\xbc@d.example>",
     Verb::rcpt,
     "TO:<\xc3\xbc@d.example>",
     "\xc3\xbc@d.example",
     {},
     true},
    {"DATA", Verb::data, "", ""},
    {"data", Verb::data, "", ""},
    {"DATA ", Verb::data, "", ""},
    {"RSET", Verb::rset, "", ""},
    {"QUIT", Verb::quit, "", ""},
    {"STARTTLS", Verb::starttls, "", ""},
    {"NOOP", Verb::noop, "", ""},
    {"NOOP hello there", Verb::noop, "hello there", ""},
    {"HELP", Verb::help, "", ""},
    {"help MAIL", Verb::help, "MAIL", ""},
    {"VRFY user", Verb::vrfy, "user", ""},
    {"EXPN staff", Verb::expn, "staff", ""},
    {"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", Verb::auth, "PLAIN dGVzdAB0ZXN0AHRlc3Q=", ""},
    {"AUTH", Verb::auth, "", ""},
};

TEST(ParseCommand, AcceptedLines) {
  for (const Accepted& t : kAccepted) {
    SCOPED_TRACE(t.line);
    ParseOptions opts;
    opts.smtputf8 = t.smtputf8;
    const ParseResult r = parse_command(t.line, opts);
    ASSERT_TRUE(r.command.has_value()) << r.error.line();
    EXPECT_EQ(r.command->verb, t.verb);
    EXPECT_EQ(r.command->arg, t.arg);
    EXPECT_EQ(r.command->path.str(), t.path);
    EXPECT_EQ(r.command->params, t.params);
  }
}

struct Refused {
  std::string line;
  int code;
  std::string status;
  bool smtputf8 = false;
};

const Refused kRefused[] = {
    // Unknown or malformed verbs.
    {"", 500, "5.5.2"},
    {" ", 500, "5.5.2"},
    {"FOO", 500, "5.5.2"},
    {"MAILX FROM:<a@b.example>", 500, "5.5.2"},
    {" MAIL FROM:<a@b.example>", 500, "5.5.2"},
    {"ETRN example.org", 500, "5.5.2"},
    {"DAT", 500, "5.5.2"},
    // Control characters anywhere.
    {std::string("NOOP a\0b", 8), 500, "5.5.2"},
    {std::string("\0DATA", 5), 500, "5.5.2"},
    {"HELO a\tb", 500, "5.5.2"},
    {"DATA\r", 500, "5.5.2"},
    {"MAIL FROM:<a@b.example>\n", 500, "5.5.2"},
    {"NOOP \x01", 500, "5.5.2"},
    {"NOOP \x7f", 500, "5.5.2"},
    {"MAIL FROM:<a\x1b@b.example>", 500, "5.5.2"},
    // Missing or extra arguments.
    {"HELO", 501, "5.5.4"},
    {"EHLO   ", 501, "5.5.4"},
    {"LHLO", 501, "5.5.4"},
    {"DATA now", 501, "5.5.4"},
    {"RSET all", 501, "5.5.4"},
    {"QUIT bye", 501, "5.5.4"},
    {"STARTTLS x", 501, "5.5.4"},
    {"VRFY", 501, "5.5.4"},
    {"EXPN", 501, "5.5.4"},
    // MAIL syntax.
    {"MAIL", 501, "5.5.4"},
    {"MAIL FROM", 501, "5.5.4"},
    {"MAIL FROM:", 501, "5.5.4"},
    {"MAIL FROM: ", 501, "5.5.4"},
    {"MAIL TO:<a@b.example>", 501, "5.5.4"},
    {"MAIL FROM :<a@b.example>", 501, "5.5.4"},
    {"MAIL FROM:a@b.example", 501, "5.1.7"},
    {"MAIL FROM:  <a@b.example>", 501, "5.1.7"},
    {"MAIL FROM:<a@b.example", 501, "5.1.7"},
    {"MAIL FROM:<a@b.example>x", 501, "5.1.7"},
    {"MAIL FROM:<a@@b.example>", 501, "5.1.7"},
    {"MAIL FROM:<a b@b.example>", 501, "5.1.7"},
    {"MAIL FROM:<pel\xc3\xa9@b.example>", 553, "5.6.7"},
    {"MAIL FROM:<pel\xc3\xa9@b.example> BODY=8BITMIME", 553, "5.6.7"},
    {"MAIL FROM:<a\xff@b.example> SMTPUTF8", 501, "5.1.7"},  // not UTF-8
    // MAIL parameters.
    {"MAIL FROM:<a@b.example> FOO=bar", 555, "5.5.4"},
    {"MAIL FROM:<a@b.example> RET=HDRS", 555, "5.5.4"},
    {"MAIL FROM:<a@b.example> ENVID=x", 555, "5.5.4"},
    {"MAIL FROM:<a@b.example> AUTH=<>", 555, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=abc", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=-1", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=18446744073709551616", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=123456789012345678901", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SIZE=1 size=1", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> BODY=BINARYMIME", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> BODY", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> SMTPUTF8=yes", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> =x", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> -A=1", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> A=b=c", 501, "5.5.4"},
    {"MAIL FROM:<a@b.example> A_B=1", 501, "5.5.4"},
    // RCPT.
    {"RCPT", 501, "5.5.4"},
    {"RCPT FROM:<c@d.example>", 501, "5.5.4"},
    {"RCPT TO:", 501, "5.5.4"},
    {"RCPT TO:<>", 501, "5.1.3"},
    {"RCPT TO:c@d.example", 501, "5.1.3"},
    {"RCPT TO:<c@d.example>>", 501, "5.1.3"},
    {"RCPT TO:<c@>", 501, "5.1.3"},
    {"RCPT TO:<\xc3\xbc@d.example>", 553, "5.6.7"},
    {"RCPT TO:<c@d.example> NOTIFY=NEVER", 555, "5.5.4"},
    {"RCPT TO:<c@d.example> ORCPT=rfc822;c@d.example", 555, "5.5.4"},
    {"RCPT TO:<c@d.example> FOO", 555, "5.5.4"},
    {"RCPT TO:<c@d.example> SIZE=1", 555, "5.5.4"},
    {"RCPT TO:<c@d.example> =", 501, "5.5.4"},
    // BDAT.
    {"BDAT", 501, "5.5.4"},
    {"BDAT x", 501, "5.5.4"},
    {"BDAT -1", 501, "5.5.4"},
    {"BDAT +1", 501, "5.5.4"},
    {"BDAT 10 FIRST", 501, "5.5.4"},
    {"BDAT 10 LAST x", 501, "5.5.4"},
    {"BDAT LAST", 501, "5.5.4"},
    {"BDAT 18446744073709551616", 501, "5.5.4"},
};

TEST(ParseCommand, RefusedLines) {
  for (const Refused& t : kRefused) {
    SCOPED_TRACE(testing::PrintToString(t.line));
    ParseOptions opts;
    opts.smtputf8 = t.smtputf8;
    const ParseResult r = parse_command(t.line, opts);
    ASSERT_FALSE(r.command.has_value());
    EXPECT_EQ(r.error.code, t.code) << r.error.line();
    EXPECT_EQ(r.error.status, t.status) << r.error.line();
    EXPECT_FALSE(r.error.text.empty());
  }
}

struct Bdat {
  std::string line;
  std::uint64_t size;
  bool last;
};

const Bdat kBdat[] = {
    {"BDAT 100", 100, false}, {"BDAT 0 LAST", 0, true},
    {"bdat 5 last", 5, true}, {"BDAT  7   Last  ", 7, true},
    {"BDAT 0", 0, false},     {"BDAT 18446744073709551615", 18446744073709551615ull, false},
};

TEST(ParseCommand, Bdat) {
  for (const Bdat& t : kBdat) {
    SCOPED_TRACE(t.line);
    const ParseResult r = parse_command(t.line);
    ASSERT_TRUE(r.command.has_value()) << r.error.line();
    EXPECT_EQ(r.command->verb, Verb::bdat);
    EXPECT_EQ(r.command->chunk_size, t.size);
    EXPECT_EQ(r.command->last, t.last);
  }
}

TEST(ParseCommand, ParamLookupIsCaseInsensitive) {
  const ParseResult r = parse_command("MAIL FROM:<a@b.example> size=42 SmtpUtf8");
  ASSERT_TRUE(r.command.has_value()) << r.error.line();
  ASSERT_NE(r.command->param("SIZE"), nullptr);
  EXPECT_EQ(*r.command->param("size"), "42");
  ASSERT_NE(r.command->param("smtputf8"), nullptr);
  EXPECT_EQ(*r.command->param("SMTPUTF8"), "");
  EXPECT_EQ(r.command->param("BODY"), nullptr);
}

TEST(ParseCommand, RcptUtf8DependsOnTheTransaction) {
  const std::string line = "RCPT TO:<\xc3\xbc@d\xc3\xa9.example>";
  EXPECT_FALSE(parse_command(line).command.has_value());
  ParseOptions utf8;
  utf8.smtputf8 = true;
  const ParseResult r = parse_command(line, utf8);
  ASSERT_TRUE(r.command.has_value()) << r.error.line();
  EXPECT_TRUE(r.command->path.needs_smtputf8());
}

TEST(ParseCommand, ErrorRepliesCarryAReason) {
  const ParseResult r = parse_command("MAIL FROM:<a@@b.example>");
  ASSERT_FALSE(r.command.has_value());
  EXPECT_EQ(r.error.line().rfind("501 5.1.7 Bad sender address syntax", 0), 0u) << r.error.line();
  const ParseResult u = parse_command("MAIL FROM:<a@b.example> XFOO=1");
  EXPECT_EQ(u.error.line(), "555 5.5.4 Unsupported option: XFOO");
}

}  // namespace
}  // namespace mp::smtpd
