#include "rewrite/variables.hpp"

#include <gtest/gtest.h>

using namespace mp::rewrite;
using mp::ConfigLine;

namespace {

std::vector<ConfigLine> lines(std::initializer_list<const char*> texts) {
  std::vector<ConfigLine> out;
  int n = 0;
  for (const char* t : texts) out.push_back({++n, t});
  return out;
}

TEST(Variables, ParseAndExpand) {
  std::vector<std::string> errors;
  auto vars = Variables::parse(lines({"splunkmta 10.0.0.7:2525", "mda /usr/bin/procmail -d %u",
                                      "both $splunkmta,${splunkmta}x"}),
                               "vars", errors);
  ASSERT_TRUE(errors.empty()) << errors[0];
  ASSERT_NE(vars.find("mda"), nullptr);
  EXPECT_EQ(*vars.find("mda"), "/usr/bin/procmail -d %u");
  EXPECT_EQ(*vars.find("both"), "10.0.0.7:2525,10.0.0.7:2525x");
  std::string error;
  EXPECT_EQ(vars.expand("$splunkmta", error), "10.0.0.7:2525");
  EXPECT_EQ(vars.expand("a${mda}b", error), "a/usr/bin/procmail -d %ub");
  EXPECT_EQ(vars.expand("pre $splunkmta.post", error), "pre 10.0.0.7:2525.post");
}

TEST(Variables, DollarsThatAreNotReferences) {
  Variables vars;
  std::string error;
  EXPECT_EQ(vars.expand("/^a$|b$/", error), "/^a$|b$/");
  EXPECT_EQ(vars.expand("$1 $ $", error), "$1 $ $");
  EXPECT_EQ(vars.expand("cost $$5 $$name", error), "cost $5 $name");
}

TEST(Variables, UndefinedVariable) {
  Variables vars;
  vars.define("a", "x");
  std::string error;
  EXPECT_FALSE(vars.expand("$a $nope", error));
  EXPECT_EQ(error, "undefined variable '$nope'");
  EXPECT_FALSE(vars.expand("${ab}", error));
  EXPECT_EQ(error, "undefined variable '$ab'");
  EXPECT_FALSE(vars.expand("${a", error));
  EXPECT_NE(error.find("unterminated"), std::string::npos);
  EXPECT_FALSE(vars.expand("${a-b}", error));
  EXPECT_NE(error.find("bad variable name"), std::string::npos);
}

TEST(Variables, NamesAreCaseSensitive) {
  Variables vars;
  vars.define("Relay", "x");
  std::string error;
  EXPECT_FALSE(vars.expand("$relay", error));
  EXPECT_EQ(vars.expand("$Relay", error), "x");
}

TEST(Variables, FileErrorsNameTheLine) {
  std::vector<std::string> errors;
  auto vars = Variables::parse(
      lines({"good 1", "9bad 2", "novalue", "good 3", "uses $missing", "later $good"}), "v",
      errors);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0],
            "v:2: bad variable name '9bad' (letters, digits and '_', not starting with a digit)");
  EXPECT_EQ(errors[1], "v:3: variable 'novalue' has no value");
  EXPECT_EQ(errors[2], "v:4: variable 'good' is already defined at line 1");
  EXPECT_EQ(errors[3], "v:5: undefined variable '$missing'");
  EXPECT_EQ(*vars.find("later"), "1");  // the first definition stands
}

TEST(Variables, UnreadableFile) {
  std::vector<std::string> errors;
  Variables::load("/nonexistent/mailproc/variables", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("/nonexistent/mailproc/variables: cannot read: ", 0), 0u) << errors[0];
}

}  // namespace
