#include "common/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mp {
namespace {

constexpr unsigned kNull = 1, kUtf8 = 2, kPostmaster = 4;

PathOptions opts(unsigned flags) {
  PathOptions o;
  o.allow_null = flags & kNull;
  o.allow_utf8 = flags & kUtf8;
  o.allow_postmaster = flags & kPostmaster;
  return o;
}

struct Good {
  std::string in;
  unsigned flags;
  std::string local;
  std::string domain;
  std::size_t consumed;  // npos: the whole input
};

std::string rep(char c, std::size_t n) {
  return std::string(n, c);
}

const std::vector<Good>& good_paths() {
  static const std::vector<Good> table = {
      // dot-string
      {"<a@b>", 0, "a", "b", 5},
      {"<user@example.org>", 0, "user", "example.org", std::string::npos},
      {"<First.Last@Example.ORG>", 0, "First.Last", "Example.ORG", std::string::npos},
      {"<a.b.c@d>", 0, "a.b.c", "d", std::string::npos},
      {"<!#$%&'*+-/=?^_`{|}~@x.y>", 0, "!#$%&'*+-/=?^_`{|}~", "x.y", std::string::npos},
      {"<user+tag@sub.example.org>", 0, "user+tag", "sub.example.org", std::string::npos},
      {"<u@a-b.c-d.example>", 0, "u", "a-b.c-d.example", std::string::npos},
      {"<u@123.example>", 0, "u", "123.example", std::string::npos},
      {"<u@x--y.example>", 0, "u", "x--y.example", std::string::npos},
      // quoted strings, the quotes kept
      {"<\"a b\"@example.org>", 0, "\"a b\"", "example.org", std::string::npos},
      {"<\"\"@example.org>", 0, "\"\"", "example.org", std::string::npos},
      {"<\"a\\\"b\"@x>", 0, "\"a\\\"b\"", "x", std::string::npos},
      {"<\"a\\\\b\"@x>", 0, "\"a\\\\b\"", "x", std::string::npos},
      {"<\"a>b\"@x>", 0, "\"a>b\"", "x", std::string::npos},
      {"<\"a@b\"@x>", 0, "\"a@b\"", "x", std::string::npos},
      {"<\"x..y.\"@x>", 0, "\"x..y.\"", "x", std::string::npos},
      // address literals
      {"<u@[1.2.3.4]>", 0, "u", "[1.2.3.4]", std::string::npos},
      {"<u@[IPv6:::1]>", 0, "u", "[IPv6:::1]", std::string::npos},
      {"<u@[ipv6:2001:db8::1]>", 0, "u", "[ipv6:2001:db8::1]", std::string::npos},
      {"<u@[IPv6:::ffff:1.2.3.4]>", 0, "u", "[IPv6:::ffff:1.2.3.4]", std::string::npos},
      // null path and postmaster
      {"<>", kNull, "", "", 2},
      {"<Postmaster>", kPostmaster, "Postmaster", "", 12},
      {"<POSTMASTER>", kPostmaster, "POSTMASTER", "", 12},
      {"<postmaster@example.org>", 0, "postmaster", "example.org", std::string::npos},
      // source routes are dropped
      {"<@a.example:u@d.example>", 0, "u", "d.example", std::string::npos},
      {"<@a.example,@b.example:u@d.example>", 0, "u", "d.example", std::string::npos},
      {"<@[1.2.3.4],@b:u@d>", 0, "u", "d", std::string::npos},
      // UTF-8 with SMTPUTF8
      {"<j\xc3\xb6rg@example.org>", kUtf8, "j\xc3\xb6rg", "example.org", std::string::npos},
      {"<u@b\xc3\xbc\x63her.example>", kUtf8, "u", "b\xc3\xbc\x63her.example", std::string::npos},
      {"<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.\xe4\xb8\xad\xe5\x9b\xbd>", kUtf8,
       "\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b.\xe4\xb8\xad\xe5\x9b\xbd", std::string::npos},
      {"<\"\xf0\x9f\x98\x80 x\"@x>", kUtf8, "\"\xf0\x9f\x98\x80 x\"", "x", std::string::npos},
      // consumed stops at '>' so ESMTP parameters can follow
      {"<a@b> SIZE=100", 0, "a", "b", 5},
      {"<> BODY=8BITMIME", kNull, "", "", 2},
      {"<\"a> b\"@c> X=1", 0, "\"a> b\"", "c", 10},
      // limits: 64-octet local part, 63-octet labels
      {"<" + rep('a', 64) + "@x>", 0, rep('a', 64), "x", std::string::npos},
      {"<u@" + rep('a', 63) + ".x>", 0, "u", rep('a', 63) + ".x", std::string::npos},
  };
  return table;
}

TEST(ParsePath, AcceptsValidForms) {
  for (const auto& g : good_paths()) {
    SCOPED_TRACE(g.in);
    std::string err = "stale";
    std::size_t consumed = 0;
    auto a = parse_path(g.in, opts(g.flags), err, &consumed);
    ASSERT_TRUE(a) << err;
    EXPECT_EQ(a->local, g.local);
    EXPECT_EQ(a->domain, g.domain);
    EXPECT_EQ(consumed, g.consumed == std::string::npos ? g.in.size() : g.consumed);
  }
}

struct Bad {
  std::string in;
  unsigned flags;
  std::string error;  // exact reason
};

const std::vector<Bad>& bad_paths() {
  static const std::vector<Bad> table = {
      // brackets
      {"a@b", 0, "address must be enclosed in <>"},
      {"", 0, "missing address"},
      {"<a@b", 0, "missing '>' after address"},
      {" <a@b>", 0, "address must be enclosed in <>"},
      {"<a@b >", 0, "bad address syntax"},
      {"< a@b>", 0, "bad address syntax"},
      {"<a @b>", 0, "bad address syntax"},
      {"<a@ b>", 0, "bad domain syntax"},
      // local part
      {"<@b>", 0, "bad address syntax"},
      {"<a@>", 0, "bad domain syntax"},
      {"<a>", 0, "missing domain in address"},
      {"<.a@b>", 0, "bad address syntax"},
      {"<a.@b>", 0, "bad address syntax"},
      {"<a..b@c>", 0, "bad address syntax"},
      {"<a(b)@c>", 0, "bad address syntax"},
      {"<a,b@c>", 0, "bad address syntax"},
      {"<\"ab@c>", 0, "unterminated quoted string"},
      {"<\"a\"b@c>", 0, "bad address syntax"},
      {"<a@b@c>", 0, "bad address syntax"},
      // domain
      {"<a@b.>", 0, "bad domain syntax"},
      {"<a@.b>", 0, "bad domain syntax"},
      {"<a@b..c>", 0, "bad domain syntax"},
      {"<a@-b.c>", 0, "bad domain syntax"},
      {"<a@b-.c>", 0, "bad domain syntax"},
      {"<a@b_c.d>", 0, "bad address syntax"},
      {"<u@" + rep('a', 64) + ".x>", 0, "domain label too long"},
      // address literals
      {"<a@[1.2.3]>", 0, "bad address literal"},
      {"<a@[1.2.3.256]>", 0, "bad address literal"},
      {"<a@[IPv6:1.2.3.4]>", 0, "bad address literal"},
      {"<a@[IPv6:::g]>", 0, "bad address literal"},
      {"<a@[::1]>", 0, "bad address literal"},
      {"<a@[tag:stuff]>", 0, "bad address literal"},
      {"<a@[1.2.3.4>", 0, "bad address literal"},
      // null path / postmaster not allowed here
      {"<>", 0, "null address not allowed here"},
      {"<Postmaster>", 0, "missing domain in address"},
      {"<postmasterx>", kPostmaster, "missing domain in address"},
      // source routes
      {"<@a:>", 0, "bad address syntax"},
      {"<@a,b:u@d>", 0, "bad address syntax"},
      {"<@a;u@d>", 0, "bad address syntax"},
      // lengths
      {"<" + rep('a', 65) + "@x>", 0, "local part too long"},
      {"<a@" + rep('b', 60) + "." + rep('c', 60) + "." + rep('d', 60) + "." + rep('e', 60) + "." +
           rep('f', 12) + ">",
       0, "domain too long"},
      {"<" + rep('a', 64) + "@" + rep('b', 60) + "." + rep('c', 60) + "." + rep('d', 60) + "." +
           rep('e', 10) + ">",
       0, "address too long"},
      // control characters, never accepted
      {std::string("<a\0b@c>", 8), 0, "control character in address"},
      {"<a\rb@c>", 0, "control character in address"},
      {"<a@b\n.c>", 0, "control character in address"},
      {"<\"a\tb\"@c>", 0, "control character in address"},
      {"<\"a\\\x01\"@c>", 0, "control character in address"},
      {"<a\x7f@c>", 0, "control character in address"},
      {"<a@c\r\n>", kUtf8 | kNull, "control character in address"},
      // UTF-8 off, or malformed
      {"<j\xc3\xb6rg@example.org>", 0, "non-ASCII address without SMTPUTF8"},
      {"<u@b\xc3\xbc\x63her.example>", 0, "non-ASCII address without SMTPUTF8"},
      {"<a\xc3@b>", kUtf8, "malformed UTF-8 in address"},
      {"<a\xc0\xaf@b>", kUtf8, "malformed UTF-8 in address"},          // overlong '/'
      {"<a\xed\xa0\x80@b>", kUtf8, "malformed UTF-8 in address"},      // surrogate
      {"<a\xf4\x90\x80\x80@b>", kUtf8, "malformed UTF-8 in address"},  // > U+10FFFF
      {"<a\x80@b>", kUtf8, "malformed UTF-8 in address"},
  };
  return table;
}

TEST(ParsePath, RejectsInvalidForms) {
  for (const auto& b : bad_paths()) {
    SCOPED_TRACE(b.in);
    std::string err;
    std::size_t consumed = 12345;
    auto a = parse_path(b.in, opts(b.flags), err, &consumed);
    EXPECT_FALSE(a) << a->str();
    EXPECT_EQ(err, b.error);
    EXPECT_EQ(consumed, 12345u);
  }
}

TEST(ParsePath, PathLimitIs256OctetsWithBrackets) {
  std::string domain = rep('b', 60) + "." + rep('c', 60) + "." + rep('d', 60) + "." + rep('e', 6);
  std::string ok = "<" + rep('a', 64) + "@" + domain + ">";
  ASSERT_EQ(ok.size(), 256u);
  std::string err;
  EXPECT_TRUE(parse_path(ok, {}, err));
  EXPECT_FALSE(parse_path("<a" + ok.substr(1), {}, err));
  EXPECT_EQ(err, "local part too long");
  EXPECT_FALSE(parse_path("<" + rep('a', 64) + "@x" + domain + ">", {}, err));
  EXPECT_EQ(err, "address too long");
}

TEST(ParseAddress, Unbracketed) {
  std::string err;
  auto a = parse_address("user@Example.org", {}, err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->local, "user");
  EXPECT_EQ(a->domain, "Example.org");
  a = parse_address("<user@example.org>", {}, err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->str(), "user@example.org");
  a = parse_address("\"a b\"@x", {}, err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->local, "\"a b\"");

  PathOptions null;
  null.allow_null = true;
  EXPECT_TRUE(parse_address("", null, err)->is_null());
  EXPECT_TRUE(parse_address("<>", null, err)->is_null());
  EXPECT_FALSE(parse_address("", {}, err));
  EXPECT_EQ(err, "missing address");
  EXPECT_FALSE(parse_address("<>", {}, err));

  PathOptions pm;
  pm.allow_postmaster = true;
  EXPECT_EQ(parse_address("postmaster", pm, err)->str(), "postmaster");
  EXPECT_FALSE(parse_address("postmaster", {}, err));
}

TEST(ParseAddress, RejectsTrailingTextAndBadForms) {
  std::string err;
  EXPECT_FALSE(parse_address("<a@b> x", {}, err));
  EXPECT_EQ(err, "unexpected text after address");
  EXPECT_FALSE(parse_address("a@b ", {}, err));
  EXPECT_EQ(err, "bad address syntax");
  EXPECT_FALSE(parse_address(" a@b", {}, err));
  EXPECT_FALSE(parse_address("a@b.", {}, err));
  EXPECT_EQ(err, "bad domain syntax");
  EXPECT_FALSE(parse_address("a@b\n", {}, err));
  EXPECT_EQ(err, "control character in address");
  EXPECT_FALSE(parse_address("ab", {}, err));
  EXPECT_EQ(err, "missing domain in address");
  EXPECT_FALSE(parse_address("a@b>", {}, err));
  EXPECT_FALSE(parse_address(rep('a', 65) + "@b", {}, err));
  EXPECT_EQ(err, "local part too long");
}

TEST(ParseAddress, AgreesWithParsePathOnTheTables) {
  for (const auto& g : good_paths()) {
    if (g.consumed != std::string::npos && g.consumed != g.in.size()) continue;
    if (g.in.size() > 1 && g.in[1] == '@') continue;  // source routes: bracketed only
    std::string inner = g.in.substr(1, g.in.size() - 2);
    std::string err;
    auto a = parse_address(inner, opts(g.flags), err);
    ASSERT_TRUE(a) << inner << ": " << err;
    EXPECT_EQ(a->local, g.local);
    EXPECT_EQ(a->domain, g.domain);
  }
}

TEST(Address, Accessors) {
  Address a{"\"J. \\\"Doe\\\"\"", "Example.ORG"};
  EXPECT_EQ(a.str(), "\"J. \\\"Doe\\\"\"@Example.ORG");
  EXPECT_EQ(a.bracketed(), "<\"J. \\\"Doe\\\"\"@Example.ORG>");
  EXPECT_EQ(a.local_unquoted(), "J. \"Doe\"");
  EXPECT_EQ(a.domain_lower(), "example.org");
  EXPECT_FALSE(a.needs_smtputf8());
  EXPECT_FALSE(a.is_null());

  Address null;
  EXPECT_TRUE(null.is_null());
  EXPECT_EQ(null.str(), "");
  EXPECT_EQ(null.bracketed(), "<>");

  Address plain{"user", "x"};
  EXPECT_EQ(plain.local_unquoted(), "user");
  EXPECT_TRUE((Address{"j\xc3\xb6rg", "x"}.needs_smtputf8()));
  EXPECT_TRUE((Address{"u", "\xc3\xbc.x"}.needs_smtputf8()));
  EXPECT_EQ((Address{"Postmaster", ""}.bracketed()), "<Postmaster>");
}

TEST(ParsePath, RoundTripsThroughBracketed) {
  for (const auto& g : good_paths()) {
    std::string err;
    auto a = parse_path(g.in, opts(g.flags), err);
    ASSERT_TRUE(a) << g.in;
    auto b = parse_path(a->bracketed(), opts(g.flags), err);
    ASSERT_TRUE(b) << a->bracketed() << ": " << err;
    EXPECT_EQ(*a, *b);
  }
}

}  // namespace
}  // namespace mp
