#include "rewrite/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace mp::rewrite;
using mp::ConfigLine;

namespace {

RewriteRules rules() {
  std::vector<std::string> errors;
  auto r = RewriteRules::parse({{1, "from *.servers.example.org example.org"},
                                {2, "to old.example new.example"},
                                {3, "both both.example b.example"}},
                               "rw", errors);
  EXPECT_TRUE(errors.empty());
  return r;
}

TEST(HeaderRewrite, FromUsesSenderRulesToUsesRecipientRules) {
  std::string in =
      "Received: from x by y\r\n"
      "From: Cron Daemon <root@web1.servers.example.org>\r\n"
      "To: a@old.example, \"B\" <b@old.example>\r\n"
      "Cc: c@web1.servers.example.org\r\n"
      "Reply-To: r@both.example\r\n"
      "Subject: mail from root@web1.servers.example.org\r\n"
      "\r\n"
      "body root@web1.servers.example.org\r\n";
  std::string want =
      "Received: from x by y\r\n"
      "From: Cron Daemon <root@example.org>\r\n"
      "To: a@new.example, \"B\" <b@new.example>\r\n"
      "Cc: c@web1.servers.example.org\r\n"
      "Reply-To: r@b.example\r\n"
      "Subject: mail from root@web1.servers.example.org\r\n"
      "\r\n"
      "body root@web1.servers.example.org\r\n";
  EXPECT_EQ(rewrite_header_addresses(in, rules()), want);
}

TEST(HeaderRewrite, FoldedFieldsAndLfLineEndings) {
  std::string in =
      "to: first@old.example,\n"
      "\tsecond@old.example (Second\n"
      "  Person),\n"
      "  Third <third@OLD.example>\n"
      "X-Other: x@old.example\n";
  std::string want =
      "to: first@new.example,\n"
      "\tsecond@new.example (Second\n"
      "  Person),\n"
      "  Third <third@new.example>\n"
      "X-Other: x@old.example\n";
  EXPECT_EQ(rewrite_header_addresses(in, rules()), want);
}

TEST(HeaderRewrite, QuotedStringsAndCommentsAreNotAddresses) {
  auto r = rules();
  EXPECT_EQ(rewrite_address_list(" \"x@old.example, y\" <z@old.example>", r, Direction::to),
            " \"x@old.example, y\" <z@new.example>");
  EXPECT_EQ(rewrite_address_list(" z@other.example (was z@old.example)", r, Direction::to),
            " z@other.example (was z@old.example)");
  EXPECT_EQ(rewrite_address_list(" (c (nested@old.example) \\) x@old.example) a@old.example", r,
                                 Direction::to),
            " (c (nested@old.example) \\) x@old.example) a@new.example");
  // An unquoted '@' in a display name: only the angle address is the address.
  EXPECT_EQ(rewrite_address_list(" bob@old.example <bob@old.example>", r, Direction::to),
            " bob@old.example <bob@new.example>");
  // A quoted local part.
  EXPECT_EQ(rewrite_address_list(" \"a b\"@old.example", r, Direction::to), " \"a b\"@new.example");
}

TEST(HeaderRewrite, GroupsSourceRoutesAndOddities) {
  auto r = rules();
  EXPECT_EQ(
      rewrite_address_list(" Team: a@old.example, b@old.example;, c@old.example", r, Direction::to),
      " Team: a@new.example, b@new.example;, c@new.example");
  EXPECT_EQ(rewrite_address_list(" undisclosed-recipients:;", r, Direction::to),
            " undisclosed-recipients:;");
  EXPECT_EQ(rewrite_address_list(" <@relay.example,@old.example:u@old.example>", r, Direction::to),
            " <@relay.example,@old.example:u@new.example>");
  EXPECT_EQ(rewrite_address_list(" x@[192.0.2.1], y@old.example.", r, Direction::to),
            " x@[192.0.2.1], y@new.example.");
  // Malformed: copied, never lost.
  for (const char* odd : {" \"unterminated@old.example", " (open@old.example", " <a@old.example",
                          " @", " a@", "", " ,,,", " <>", " a@@old.example"}) {
    std::string out = rewrite_address_list(odd, r, Direction::to);
    if (std::string_view(odd) == " a@@old.example") {
      EXPECT_EQ(out, " a@@new.example");
    } else {
      EXPECT_EQ(out, odd);
    }
  }
}

TEST(HeaderRewrite, NoRulesOrNoMatchIsIdentity) {
  std::string in = "From: a@x.example\r\nTo: b@y.example\r\n\r\nbody";
  EXPECT_EQ(rewrite_header_addresses(in, RewriteRules{}), in);
  EXPECT_EQ(rewrite_header_addresses(in, rules()), in);
  // Header block without a body and without a final newline.
  EXPECT_EQ(rewrite_header_addresses("To: a@old.example", rules()), "To: a@new.example");
  // A name with blanks before the colon (obsolete syntax) still counts.
  EXPECT_EQ(rewrite_header_addresses("To : a@old.example\n", rules()), "To : a@new.example\n");
  // Fields whose names only start like ours are left alone.
  EXPECT_EQ(rewrite_header_addresses("To-Do: a@old.example\n", rules()), "To-Do: a@old.example\n");
}

// Random structured junk: never crashes, identity when no rule matches, and rewriting
// twice changes nothing more (no replacement domain matches a rule).
TEST(HeaderRewrite, RandomInputIsSafe) {
  auto r = rules();
  std::vector<std::string> none_errors;
  auto none = RewriteRules::parse({{1, "both never.example x.example"}}, "rw", none_errors);
  const std::vector<std::string> atoms = {
      "a", "@", "old.example", "both.example", "<",         ">", "\"",   "\\",       "(", ")", ",",
      ";", ":", " ",           "\r\n ",        "[1.2.3.4]", ".", "\x01", "\xc3\xbc", "\n"};
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) in += atoms[rng() % atoms.size()];
    EXPECT_EQ(rewrite_address_list(in, none, Direction::to), in);
    std::string once = rewrite_address_list(in, r, Direction::to);
    EXPECT_EQ(rewrite_address_list(once, r, Direction::to), once) << in;
    std::string block = "To:" + in + "\nFrom:" + in + "\n\nbody";
    std::string out = rewrite_header_addresses(block, r);
    EXPECT_TRUE(out.ends_with("\n\nbody")) << in;
  }
}

}  // namespace
