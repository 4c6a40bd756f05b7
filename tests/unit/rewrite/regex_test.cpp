#include "rewrite/regex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using mp::rewrite::Regex;

namespace {

Regex compile(const char* pattern) {
  std::string error;
  auto re = Regex::compile(pattern, error);
  EXPECT_TRUE(re) << pattern << ": " << error;
  return *re;
}

TEST(Regex, AnchoredAtBothEnds) {
  Regex re = compile("foo\\.bar");
  EXPECT_TRUE(re.matches("foo.bar"));
  EXPECT_FALSE(re.matches("xfoo.bar"));
  EXPECT_FALSE(re.matches("foo.barx"));
  EXPECT_FALSE(re.matches("foo-bar"));
}

TEST(Regex, AlternationIsAnchoredAsAWhole) {
  Regex re = compile("a|b");
  EXPECT_TRUE(re.matches("a"));
  EXPECT_TRUE(re.matches("b"));
  EXPECT_FALSE(re.matches("ab"));
  EXPECT_FALSE(re.matches("xb"));
}

TEST(Regex, CaseInsensitive) {
  Regex re = compile(".*spl-[0-9]{6}\\.foo\\.bar");
  EXPECT_TRUE(re.matches("host.SPL-123456.Foo.BAR"));
  EXPECT_FALSE(re.matches("host.spl-12345.foo.bar"));
}

TEST(Regex, Utf8SubjectsAndPatterns) {
  Regex re = compile("ü.*");
  EXPECT_TRUE(re.matches("übung"));
  EXPECT_TRUE(re.matches("Übung"));  // caseless in UTF mode
  Regex dot = compile("x.y");
  EXPECT_TRUE(dot.matches("xüy"));  // one character, two octets
  // Invalid UTF-8 is matched in byte mode, never rejected or crashing.
  EXPECT_FALSE(dot.matches(std::string("x\xff\xfey")));
  EXPECT_TRUE(compile("x..y").matches(std::string("x\xff\xfey")));
}

TEST(Regex, BadPatternGivesPcre2MessageAndOffset) {
  std::string error;
  EXPECT_FALSE(Regex::compile("(abc", error));
  EXPECT_EQ(error, "missing closing parenthesis at offset 4");
  EXPECT_FALSE(Regex::compile("a{2,1}", error));
  EXPECT_NE(error.find("at offset"), std::string::npos);
}

TEST(Regex, ConcurrentMatching) {
  Regex re = compile("user[0-9]+@example\\.org");
  std::atomic<int> matched{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (re.matches("user" + std::to_string(i) + "@example.org")) ++matched;
        if (re.matches("nobody@example.org")) --matched;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(matched.load(), 2000);
}

}  // namespace
