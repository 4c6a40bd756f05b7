#include "common/cidr.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mp {
namespace {

TEST(Cidr, ParsesForms) {
  struct Case {
    std::string in, str;
    bool v6;
    int prefix;
  };
  for (const auto& c :
       std::vector<Case>{{"127.0.0.0/8", "127.0.0.0/8", false, 8},
                         {"10.1.2.3", "10.1.2.3/32", false, 32},
                         {"10.1.2.3/8", "10.0.0.0/8", false, 8},  // host bits dropped
                         {"0.0.0.0/0", "0.0.0.0/0", false, 0},
                         {"[::1]/128", "::1/128", true, 128},
                         {"::1/128", "::1/128", true, 128},
                         {"[2001:db8::]/32", "2001:db8::/32", true, 32},
                         {"[::1]", "::1/128", true, 128},
                         {"2001:db8::1/127", "2001:db8::/127", true, 127}}) {
    auto n = Cidr::parse(c.in);
    ASSERT_TRUE(n) << c.in;
    EXPECT_EQ(n->str(), c.str);
    EXPECT_EQ(n->v6, c.v6);
    EXPECT_EQ(n->prefix, c.prefix);
  }
}

TEST(Cidr, RejectsMalformed) {
  for (std::string bad : {"", "/8", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/8x", "1.2.3/8",
                          "1.2.3.256", "::1/129", "[::1/128", "[1.2.3.4]x/8", "host.example/8",
                          "1.2.3.4/0008", " 1.2.3.4", "[::1]]/8"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

TEST(Cidr, ContainsV4) {
  auto n = *Cidr::parse("192.168.0.0/23");
  EXPECT_TRUE(n.contains("192.168.0.1"));
  EXPECT_TRUE(n.contains("192.168.1.255"));
  EXPECT_FALSE(n.contains("192.168.2.0"));
  EXPECT_FALSE(n.contains("192.167.255.255"));
  EXPECT_TRUE(n.contains("[192.168.1.1]"));
  EXPECT_FALSE(n.contains("not an ip"));
  EXPECT_FALSE(n.contains(""));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains("8.8.8.8"));
  EXPECT_FALSE(Cidr::parse("0.0.0.0/0")->contains("::1"));
  EXPECT_TRUE(Cidr::parse("10.0.0.7")->contains("10.0.0.7"));
  EXPECT_FALSE(Cidr::parse("10.0.0.7")->contains("10.0.0.6"));
}

TEST(Cidr, IPv4MappedClientsMatchIPv4Nets) {
  auto n = *Cidr::parse("127.0.0.0/8");
  EXPECT_TRUE(n.contains("::ffff:127.0.0.1"));
  EXPECT_TRUE(n.contains("[::ffff:127.1.2.3]"));
  EXPECT_FALSE(n.contains("::ffff:128.0.0.1"));
  EXPECT_FALSE(n.contains("::127.0.0.1"));  // not mapped
  EXPECT_FALSE(n.contains("::1"));
}

TEST(Cidr, ContainsV6) {
  auto n = *Cidr::parse("[2001:db8::]/32");
  EXPECT_TRUE(n.contains("2001:db8::1"));
  EXPECT_TRUE(n.contains("[2001:db8:ffff::1]"));
  EXPECT_FALSE(n.contains("2001:db9::1"));
  EXPECT_FALSE(n.contains("10.0.0.1"));
  auto lo = *Cidr::parse("::1/128");
  EXPECT_TRUE(lo.contains("::1"));
  EXPECT_FALSE(lo.contains("::2"));
  EXPECT_FALSE(lo.contains("127.0.0.1"));
  EXPECT_TRUE(Cidr::parse("::ffff:10.0.0.0/104")->contains("10.9.9.9"));
  auto odd = *Cidr::parse("fe80::/10");
  EXPECT_TRUE(odd.contains("febf::1"));
  EXPECT_FALSE(odd.contains("fec0::1"));
}

TEST(Cidr, AnyContains) {
  std::vector<Cidr> nets{*Cidr::parse("127.0.0.0/8"), *Cidr::parse("[::1]/128")};
  EXPECT_TRUE(any_contains(nets, "127.0.0.1"));
  EXPECT_TRUE(any_contains(nets, "::1"));
  EXPECT_TRUE(any_contains(nets, "::ffff:127.0.0.1"));
  EXPECT_FALSE(any_contains(nets, "10.0.0.1"));
  EXPECT_FALSE(any_contains({}, "127.0.0.1"));
}

}  // namespace
}  // namespace mp
