#include "rewrite/transport_table.hpp"

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

TransportTable table(std::initializer_list<const char*> texts, const Variables& vars = {}) {
  std::vector<std::string> errors;
  auto t = TransportTable::parse(lines(texts), "tr", vars, errors);
  EXPECT_TRUE(errors.empty()) << errors[0];
  return t;
}

// "tr:N" of the matching rule, or "-" when none.
std::string match(const TransportTable& t, const char* local, const char* domain) {
  const TransportRule* r = t.find(Address{local, domain});
  return r ? r->where : "-";
}

TEST(TransportTable, DomainKeyIsExactlyThatDomain) {
  auto t = table({"example.org mx"});
  EXPECT_EQ(match(t, "u", "example.org"), "tr:1");
  EXPECT_EQ(match(t, "u", "EXAMPLE.ORG"), "tr:1");
  EXPECT_EQ(match(t, "u", "xexample.org"), "-");
  EXPECT_EQ(match(t, "u", "sub.example.org"), "-");
  EXPECT_EQ(match(t, "u", "example.org.evil"), "-");
  EXPECT_EQ(match(t, "u", "exampleXorg"), "-");  // the dot is not a pattern
}

TEST(TransportTable, WildcardIsSubdomainsOnly) {
  auto t = table({"*.example.org mx"});
  EXPECT_EQ(match(t, "u", "a.example.org"), "tr:1");
  EXPECT_EQ(match(t, "u", "a.b.Example.Org"), "tr:1");
  EXPECT_EQ(match(t, "u", "example.org"), "-");
  EXPECT_EQ(match(t, "u", "xexample.org"), "-");
  EXPECT_EQ(match(t, "u", ".example.org"), "-");
}

TEST(TransportTable, AddressKey) {
  auto t = table({"User@Example.org discard", "\"John\"@example.net discard"});
  EXPECT_EQ(match(t, "user", "example.org"), "tr:1");
  EXPECT_EQ(match(t, "USER", "EXAMPLE.ORG"), "tr:1");
  EXPECT_EQ(match(t, "user", "sub.example.org"), "-");
  EXPECT_EQ(match(t, "user2", "example.org"), "-");
  EXPECT_EQ(match(t, "\"user\"", "example.org"), "tr:1");  // compared unquoted
  EXPECT_EQ(match(t, "john", "example.net"), "tr:2");
}

TEST(TransportTable, RegexIsWholeAddressAnchoredCaseInsensitive) {
  auto t = table({"/.*spl-[0-9]{6}\\.foo\\.bar/ 10.0.0.7:2525", "/admin@.*/ discard"});
  EXPECT_EQ(match(t, "x", "host.spl-123456.foo.bar"), "tr:1");
  EXPECT_EQ(match(t, "x", "HOST.SPL-123456.FOO.BAR"), "tr:1");
  EXPECT_EQ(match(t, "x", "host.spl-123456.foo.bar.org"), "-");
  EXPECT_EQ(match(t, "admin", "a.example"), "tr:2");
  EXPECT_EQ(match(t, "xadmin", "a.example"), "-");  // anchored at the start
}

TEST(TransportTable, StarAndFirstMatchWins) {
  auto t = table({"a.example mx", "*.example mx:other.example", "a.example discard", "* 10.1.1.1"});
  EXPECT_EQ(match(t, "u", "a.example"), "tr:1");
  EXPECT_EQ(match(t, "u", "b.example"), "tr:2");
  EXPECT_EQ(match(t, "u", "example"), "tr:4");
  EXPECT_EQ(match(t, "u", "anything.else"), "tr:4");
  EXPECT_EQ(t.find(Address{"u", "z.org"})->hop.text, "10.1.1.1");
}

TEST(TransportTable, VariablesExpandInKeysAndNextHops) {
  Variables vars;
  vars.define("splunkmta", "10.0.0.7:2525");
  vars.define("dom", "example\\.org");
  vars.define("local", "lmtp:unix:/run/lmtp");
  auto t = table({"/.*@$dom/ $splunkmta", "other.example ${local}"}, vars);
  const TransportRule* r = t.find(Address{"a", "example.org"});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->key_text, "/.*@example\\.org/");
  EXPECT_EQ(r->hop.kind, HopKind::relay);
  EXPECT_EQ(r->hop.text, "10.0.0.7:2525");
  EXPECT_EQ(t.find(Address{"a", "other.example"})->hop.socket, "/run/lmtp");
}

TEST(TransportTable, Errors) {
  std::vector<std::string> errors;
  Variables vars;
  TransportTable::parse(
      lines({"example.org", "/(bad/ mx", "a..b mx", "x.example $undefined", "$nokey mx",
             "x.example foo:bar", "/unclosed mx", "@example.org mx", "user@ mx", "// mx"}),
      "tr", vars, errors);
  ASSERT_EQ(errors.size(), 10u);
  EXPECT_EQ(errors[0], "tr:1: missing next hop after 'example.org'");
  EXPECT_EQ(errors[1], "tr:2: bad regex '/(bad/': missing closing parenthesis at offset 4");
  EXPECT_EQ(errors[2],
            "tr:3: bad destination 'a..b' (expected user@domain, domain, *.domain, * or /regex/)");
  EXPECT_EQ(errors[3], "tr:4: undefined variable '$undefined'");
  EXPECT_EQ(errors[4], "tr:5: undefined variable '$nokey'");
  EXPECT_EQ(errors[5].rfind("tr:6: bad next hop 'foo:bar': unknown transport 'foo:'", 0), 0u)
      << errors[5];
  EXPECT_EQ(errors[6].rfind("tr:7: regex /unclosed is not closed", 0), 0u) << errors[6];
  EXPECT_EQ(errors[7].rfind("tr:8: bad destination address '@example.org': ", 0), 0u) << errors[7];
  EXPECT_EQ(errors[8].rfind("tr:9: bad destination address 'user@': ", 0), 0u) << errors[8];
  EXPECT_EQ(errors[9], "tr:10: bad destination '//' (empty regex)");
}

}  // namespace
