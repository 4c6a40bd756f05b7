#include "rewrite/map_syntax.hpp"

#include <gtest/gtest.h>

using namespace mp::rewrite;

namespace {

std::vector<std::string> fields(std::string_view text, bool regex_aware,
                                std::string* error = nullptr) {
  std::vector<std::string> out;
  std::string why;
  while (auto f = next_field(text, regex_aware, why)) out.push_back(*f);
  if (error) *error = why;
  return out;
}

TEST(MapSyntax, PlainFields) {
  EXPECT_EQ(fields("  a\tb   c ", false), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(fields("   ", false).empty());
}

TEST(MapSyntax, RegexFieldMayHoldBlanksAndSlashes) {
  EXPECT_EQ(fields("/a b/ next", true), (std::vector<std::string>{"/a b/", "next"}));
  std::string_view rest = "/a\\/ b/ /usr/bin/x";
  std::string error;
  EXPECT_EQ(next_field(rest, true, error), "/a\\/ b/");
  EXPECT_EQ(next_field(rest, false, error), "/usr/bin/x");
  EXPECT_EQ(fields("/x/y/ z", true), (std::vector<std::string>{"/x/y/", "z"}));
  EXPECT_EQ(fields("/only/", true), (std::vector<std::string>{"/only/"}));
  // Not regex-aware: a path is a plain word.
  EXPECT_EQ(fields("/usr/bin/procmail -d", false),
            (std::vector<std::string>{"/usr/bin/procmail", "-d"}));
}

TEST(MapSyntax, UnterminatedRegex) {
  std::string error;
  auto f = fields("/abc/x next", true, &error);
  EXPECT_TRUE(f.empty());
  EXPECT_NE(error.find("/abc/x is not closed"), std::string::npos) << error;
}

TEST(MapSyntax, RegexField) {
  EXPECT_TRUE(is_regex_field("/a/"));
  EXPECT_FALSE(is_regex_field("//"));
  EXPECT_FALSE(is_regex_field("/a"));
  EXPECT_EQ(regex_body("/a.b/"), "a.b");
}

TEST(MapSyntax, Domains) {
  EXPECT_TRUE(valid_domain("example.org"));
  EXPECT_TRUE(valid_domain("Mail-1.Example.ORG"));
  EXPECT_TRUE(valid_domain("localhost"));
  EXPECT_TRUE(valid_domain("[192.0.2.1]"));
  EXPECT_TRUE(valid_domain("bücher.example"));
  EXPECT_FALSE(valid_domain(""));
  EXPECT_FALSE(valid_domain("a..b"));
  EXPECT_FALSE(valid_domain(".a"));
  EXPECT_FALSE(valid_domain("a."));
  EXPECT_FALSE(valid_domain("-a.b"));
  EXPECT_FALSE(valid_domain("a b"));
  EXPECT_FALSE(valid_domain("*.a"));
  EXPECT_FALSE(valid_domain("a/b"));
  EXPECT_FALSE(valid_domain("[]"));
}

TEST(MapSyntax, CaseHelpers) {
  EXPECT_EQ(ascii_lower("AbC.ORG"), "abc.org");
  EXPECT_TRUE(iequals("Example.ORG", "example.org"));
  EXPECT_FALSE(iequals("example.org", "example.orgx"));
  EXPECT_EQ(where("/etc/x", 3), "/etc/x:3");
}

}  // namespace
