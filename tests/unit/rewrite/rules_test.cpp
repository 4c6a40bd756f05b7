#include "rewrite/rules.hpp"

#include <gtest/gtest.h>

using namespace mp::rewrite;
using mp::Address;
using mp::ConfigLine;

namespace {

std::vector<ConfigLine> lines(std::initializer_list<const char*> texts) {
  std::vector<ConfigLine> out;
  int n = 0;
  for (const char* t : texts) out.push_back({++n, t});
  return out;
}

RewriteRules parse_ok(std::initializer_list<const char*> texts) {
  std::vector<std::string> errors;
  auto rules = RewriteRules::parse(lines(texts), "rw", errors);
  EXPECT_TRUE(errors.empty()) << errors[0];
  return rules;
}

std::string rewrite(const RewriteRules& rules, const char* local, const char* domain, Direction d,
                    std::string* where = nullptr) {
  const RewriteRule* applied = nullptr;
  Address out = rules.apply(Address{local, domain}, d, &applied);
  if (where) *where = applied ? applied->where : "";
  return out.str();
}

TEST(RewriteRules, DomainIsExact) {
  auto rules = parse_ok({"both example.org example.net"});
  EXPECT_EQ(rewrite(rules, "u", "example.org", Direction::to), "u@example.net");
  EXPECT_EQ(rewrite(rules, "u", "EXAMPLE.Org", Direction::from), "u@example.net");
  EXPECT_EQ(rewrite(rules, "u", "xexample.org", Direction::to), "u@xexample.org");
  EXPECT_EQ(rewrite(rules, "u", "sub.example.org", Direction::to), "u@sub.example.org");
}

TEST(RewriteRules, WildcardIsSubdomainsOnly) {
  auto rules = parse_ok({"from *.servers.company.foo company.foo"});
  EXPECT_EQ(rewrite(rules, "cron", "web1.servers.company.foo", Direction::from),
            "cron@company.foo");
  EXPECT_EQ(rewrite(rules, "cron", "a.b.Servers.Company.foo", Direction::from), "cron@company.foo");
  EXPECT_EQ(rewrite(rules, "cron", "servers.company.foo", Direction::from),
            "cron@servers.company.foo");
  EXPECT_EQ(rewrite(rules, "cron", "xservers.company.foo", Direction::from),
            "cron@xservers.company.foo");
}

TEST(RewriteRules, RegexIsAnchoredAndCaseInsensitive) {
  auto rules = parse_ok({"to /host[0-9]+\\.lan/ lan.example"});
  EXPECT_EQ(rewrite(rules, "u", "HOST12.lan", Direction::to), "u@lan.example");
  EXPECT_EQ(rewrite(rules, "u", "host12.lan.org", Direction::to), "u@host12.lan.org");
  EXPECT_EQ(rewrite(rules, "u", "xhost12.lan", Direction::to), "u@xhost12.lan");
}

TEST(RewriteRules, DirectionsAndFirstMatchWins) {
  auto rules = parse_ok({"from a.example from.example", "to a.example to.example",
                         "both a.example both.example", "both b.example b1.example",
                         "both b.example b2.example"});
  std::string where;
  EXPECT_EQ(rewrite(rules, "u", "a.example", Direction::from, &where), "u@from.example");
  EXPECT_EQ(where, "rw:1");
  EXPECT_EQ(rewrite(rules, "u", "a.example", Direction::to, &where), "u@to.example");
  EXPECT_EQ(where, "rw:2");
  EXPECT_EQ(rewrite(rules, "u", "b.example", Direction::to, &where), "u@b1.example");
  EXPECT_EQ(where, "rw:4");
  EXPECT_EQ(rewrite(rules, "u", "c.example", Direction::to, &where), "u@c.example");
  EXPECT_EQ(where, "");
}

TEST(RewriteRules, NullAndDomainlessAreLeftAlone) {
  auto rules = parse_ok({"both /.*/ x.example"});
  EXPECT_TRUE(rules.apply(Address{}, Direction::from).is_null());
  EXPECT_EQ(rules.apply(Address{"postmaster", ""}, Direction::to).str(), "postmaster");
  // Only the domain changes; a quoted local part is kept as is.
  EXPECT_EQ(rewrite(rules, "\"a b\"", "y.example", Direction::to), "\"a b\"@x.example");
}

TEST(RewriteRules, Errors) {
  std::vector<std::string> errors;
  RewriteRules::parse(
      lines({"sideways a.example b.example", "from a.example", "to (x) b.example",
             "to /(x/ b.example", "from a.example b..example", "from a.example b.example extra",
             "to /unclosed b.example", "to // b.example"}),
      "rw", errors);
  ASSERT_EQ(errors.size(), 8u);
  EXPECT_EQ(errors[0], "rw:1: bad direction 'sideways' (expected from, to or both)");
  EXPECT_EQ(errors[1],
            "rw:2: expected 'DIRECTION OLD NEW' (e.g. 'from *.servers.example.org example.org')");
  EXPECT_EQ(errors[2], "rw:3: bad domain '(x)' (expected a domain, *.domain or /regex/)");
  EXPECT_EQ(errors[3], "rw:4: bad regex '/(x/': missing closing parenthesis at offset 2");
  EXPECT_EQ(errors[4], "rw:5: bad new domain 'b..example'");
  EXPECT_EQ(errors[5], "rw:6: unexpected text after the new domain: 'extra'");
  EXPECT_EQ(errors[6].rfind("rw:7: regex /unclosed is not closed", 0), 0u) << errors[6];
  EXPECT_EQ(errors[7], "rw:8: empty regex '//'");
}

}  // namespace
