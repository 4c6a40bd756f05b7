// plan_mx / plan_addresses: every resolver outcome, RFC 5321 ordering with a
// deterministic shuffle, null MX, the loop rule; and the FakeResolver itself.
#include "transports/mx_plan.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "tests/unit/transports/fake_resolver.hpp"

namespace mp::transports {
namespace {

using testing::FakeResolver;
using Hosts = std::vector<std::string>;

// Asks the fake resolver (as the MX delivery would), then plans.
MxPlan plan_via(FakeResolver& dns, const std::string& domain, const std::string& me,
                const MxPick& pick) {
  std::optional<MxAnswer> got;
  dns.resolve_mx(domain, [&](MxAnswer a) { got = std::move(a); });
  EXPECT_TRUE(got.has_value());
  return plan_mx(domain, *got, me, pick);
}

// A hook that always picks index 0: Fisher–Yates then rotates each group
// (n-1 <-> 0, ...), a fixed, known permutation.
unsigned pick_zero(unsigned) {
  return 0;
}
// A hook that always picks the last index: the identity permutation.
unsigned pick_last(unsigned n) {
  return n - 1;
}

MxRecord rec(std::uint16_t pref, std::string host) {
  return {pref, std::move(host)};
}

TEST(MxPlan, OrdersByPreference) {
  FakeResolver dns;
  dns.set_mx("example.org",
             {rec(30, "c.example.org"), rec(10, "a.example.org"), rec(20, "b.example.org")});
  auto plan = plan_via(dns, "example.org", "me.example.net", pick_last);
  ASSERT_EQ(plan.kind, MxPlan::Kind::hosts);
  EXPECT_EQ(plan.hosts, (Hosts{"a.example.org", "b.example.org", "c.example.org"}));
  EXPECT_EQ(dns.calls(), (std::vector<std::string>{"MX example.org"}));
}

TEST(MxPlan, ShufflesOnlyWithinEqualPreferences) {
  std::vector<MxRecord> records = {rec(10, "a1"), rec(10, "a2"), rec(10, "a3"), rec(20, "b1"),
                                   rec(20, "b2")};
  MxAnswer answer{DnsStatus::ok, records, ""};

  auto identity = plan_mx("d.example", answer, "", pick_last);
  EXPECT_EQ(identity.hosts, (Hosts{"a1", "a2", "a3", "b1", "b2"}));

  // pick 0 always: [a1 a2 a3] → swap(2,0) → [a3 a2 a1] → swap(1,0) → [a2 a3 a1].
  auto rotated = plan_mx("d.example", answer, "", pick_zero);
  EXPECT_EQ(rotated.hosts, (Hosts{"a2", "a3", "a1", "b2", "b1"}));

  // The hook sees each group's shrinking size, best group first.
  std::vector<unsigned> seen;
  plan_mx("d.example", answer, "", [&](unsigned n) {
    seen.push_back(n);
    return n - 1;
  });
  EXPECT_EQ(seen, (std::vector<unsigned>{3, 2, 2}));
}

TEST(MxPlan, OutOfRangeHookIsClamped) {
  MxAnswer answer{DnsStatus::ok, {rec(5, "x"), rec(5, "y")}, ""};
  auto plan = plan_mx("d.example", answer, "", [](unsigned) { return 99u; });
  EXPECT_EQ(plan.hosts, (Hosts{"x", "y"}));
}

TEST(MxPlan, DefaultRandomShuffleKeepsGroupsAndEventuallyVaries) {
  MxAnswer answer{DnsStatus::ok, {rec(10, "a"), rec(10, "b"), rec(10, "c"), rec(50, "z")}, ""};
  std::set<std::string> firsts;
  for (int i = 0; i < 200; ++i) {
    auto plan = plan_mx("d.example", answer, "");
    ASSERT_EQ(plan.hosts.size(), 4u);
    EXPECT_EQ(plan.hosts.back(), "z");
    firsts.insert(plan.hosts.front());
  }
  EXPECT_EQ(firsts.size(), 3u);  // 200 tries: missing one is ~1e-35 likely
}

TEST(MxPlan, AtMostFiveHosts) {
  MxAnswer answer{DnsStatus::ok, {}, ""};
  for (int i = 7; i >= 1; --i)
    answer.records.push_back(rec(static_cast<std::uint16_t>(i), "mx" + std::to_string(i)));
  auto plan = plan_mx("d.example", answer, "", pick_last);
  EXPECT_EQ(plan.hosts, (Hosts{"mx1", "mx2", "mx3", "mx4", "mx5"}));
}

TEST(MxPlan, DuplicateHostKeepsBestPreferenceAndNamesAreNormalized) {
  MxAnswer answer{
      DnsStatus::ok,
      {rec(20, "MX1.Example.ORG."), rec(10, "mx2.example.org"), rec(5, "mx1.example.org")},
      ""};
  auto plan = plan_mx("Example.ORG.", answer, "", pick_last);
  EXPECT_EQ(plan.hosts, (Hosts{"mx1.example.org", "mx2.example.org"}));
}

TEST(MxPlan, NoMxFallsBackToTheDomain) {
  FakeResolver dns;
  dns.set_mx("only-a.example", FakeResolver::mx_status(DnsStatus::nodata));
  auto plan = plan_via(dns, "Only-A.Example.", "me.example.net", pick_last);
  ASSERT_EQ(plan.kind, MxPlan::Kind::hosts);
  EXPECT_EQ(plan.hosts, (Hosts{"only-a.example"}));
}

TEST(MxPlan, NullMxBounces) {
  for (const char* exchange : {"", "."}) {
    MxAnswer answer{DnsStatus::ok, {rec(0, exchange)}, ""};
    auto plan = plan_mx("nomail.example", answer, "me");
    EXPECT_EQ(plan.kind, MxPlan::Kind::permfail);
    EXPECT_TRUE(plan.hosts.empty());
    EXPECT_EQ(plan.reply.code, 556);
    EXPECT_EQ(plan.reply.status, "5.1.10");
    EXPECT_NE(plan.reply.text.find("nomail.example"), std::string::npos);
  }
}

TEST(MxPlan, EmptyExchangeAmongOthersIsIgnored) {
  MxAnswer answer{DnsStatus::ok, {rec(0, "."), rec(10, "real.example")}, ""};
  auto plan = plan_mx("d.example", answer, "me");
  ASSERT_EQ(plan.kind, MxPlan::Kind::hosts);
  EXPECT_EQ(plan.hosts, (Hosts{"real.example"}));
}

TEST(MxPlan, NxdomainBounces) {
  FakeResolver dns;  // an unscripted name is nxdomain
  auto plan = plan_via(dns, "nowhere.example", "me", pick_last);
  EXPECT_EQ(plan.kind, MxPlan::Kind::permfail);
  EXPECT_EQ(plan.reply.code, 550);
  EXPECT_EQ(plan.reply.status, "5.1.2");
  EXPECT_NE(plan.reply.text.find("nowhere.example"), std::string::npos);
}

TEST(MxPlan, TempfailDefersWithTheError) {
  FakeResolver dns;
  dns.set_mx("slow.example",
             FakeResolver::mx_status(DnsStatus::tempfail, "SERVFAIL from 127.0.0.1"));
  auto plan = plan_via(dns, "slow.example", "me", pick_last);
  EXPECT_EQ(plan.kind, MxPlan::Kind::tempfail);
  EXPECT_EQ(plan.reply.code, 451);
  EXPECT_EQ(plan.reply.status, "4.4.3");
  EXPECT_NE(plan.reply.text.find("SERVFAIL from 127.0.0.1"), std::string::npos);
  EXPECT_NE(plan.reply.text.find("slow.example"), std::string::npos);
  EXPECT_TRUE(plan.reply.temporary());

  auto no_text = plan_mx("slow.example", FakeResolver::mx_status(DnsStatus::tempfail), "me");
  EXPECT_EQ(no_text.kind, MxPlan::Kind::tempfail);
  EXPECT_FALSE(no_text.reply.text.empty());
}

TEST(MxPlan, MyselfDropsEqualAndWorsePreferences) {
  MxAnswer answer{DnsStatus::ok,
                  {rec(10, "primary.example"), rec(20, "me.example"), rec(20, "peer.example"),
                   rec(30, "last.example"), rec(5, "best.example")},
                  ""};
  auto plan = plan_mx("d.example", answer, "ME.example.", pick_last);
  ASSERT_EQ(plan.kind, MxPlan::Kind::hosts);
  EXPECT_EQ(plan.hosts, (Hosts{"best.example", "primary.example"}));
}

TEST(MxPlan, BestMxIsMyselfLoops) {
  MxAnswer answer{DnsStatus::ok,
                  {rec(10, "me.example"), rec(10, "twin.example"), rec(20, "backup.example")},
                  ""};
  auto plan = plan_mx("d.example", answer, "me.example", pick_last);
  EXPECT_EQ(plan.kind, MxPlan::Kind::permfail);
  EXPECT_EQ(plan.reply.code, 554);
  EXPECT_EQ(plan.reply.status, "5.4.6");
  EXPECT_EQ(plan.reply.text, "mail for d.example loops back to myself");
}

TEST(MxPlan, ImplicitMxToMyselfLoops) {
  auto plan = plan_mx("me.example", FakeResolver::mx_status(DnsStatus::nodata), "me.example");
  EXPECT_EQ(plan.kind, MxPlan::Kind::permfail);
  EXPECT_EQ(plan.reply.status, "5.4.6");
}

TEST(MxPlan, EmptyMyhostnameDropsNothing) {
  MxAnswer answer{DnsStatus::ok, {rec(10, "a.example")}, ""};
  auto plan = plan_mx("d.example", answer, "", pick_last);
  EXPECT_EQ(plan.hosts, (Hosts{"a.example"}));
}

TEST(AddressPlan, EveryOutcome) {
  FakeResolver dns;
  dns.set_addresses("mx1.example", {"192.0.2.1", "2001:db8::1", "192.0.2.1"});
  dns.set_addresses("noaddr.example", FakeResolver::address_status(DnsStatus::nodata));
  dns.set_addresses("broken.example",
                    FakeResolver::address_status(DnsStatus::tempfail, "timed out"));
  auto ask = [&](const std::string& host) {
    std::optional<AddressAnswer> got;
    dns.resolve_addresses(host, [&](AddressAnswer a) { got = std::move(a); });
    EXPECT_TRUE(got.has_value());
    return plan_addresses(host, *got);
  };

  auto ok = ask("mx1.example");
  ASSERT_EQ(ok.kind, AddressPlan::Kind::addresses);
  EXPECT_EQ(ok.addresses, (Hosts{"192.0.2.1", "2001:db8::1"}));

  auto nodata = ask("noaddr.example");
  EXPECT_EQ(nodata.kind, AddressPlan::Kind::permfail);
  EXPECT_EQ(nodata.reply.code, 550);
  EXPECT_EQ(nodata.reply.status, "5.1.2");
  EXPECT_NE(nodata.reply.text.find("No address associated"), std::string::npos);

  auto nx = ask("gone.example");
  EXPECT_EQ(nx.kind, AddressPlan::Kind::permfail);
  EXPECT_EQ(nx.reply.status, "5.1.2");
  EXPECT_NE(nx.reply.text.find("name=gone.example"), std::string::npos);
  EXPECT_NE(nx.reply.text.find("Host not found"), std::string::npos);

  auto temp = ask("broken.example");
  EXPECT_EQ(temp.kind, AddressPlan::Kind::tempfail);
  EXPECT_EQ(temp.reply.code, 451);
  EXPECT_EQ(temp.reply.status, "4.4.3");
  EXPECT_NE(temp.reply.text.find("timed out"), std::string::npos);

  // ok without a single address is treated as no data.
  auto empty = plan_addresses("odd.example", AddressAnswer{DnsStatus::ok, {}, ""});
  EXPECT_EQ(empty.kind, AddressPlan::Kind::permfail);

  EXPECT_EQ(dns.calls(), (std::vector<std::string>{"ADDR mx1.example", "ADDR noaddr.example",
                                                   "ADDR gone.example", "ADDR broken.example"}));
}

TEST(FakeResolver, DeferredModeQueuesCallbacks) {
  FakeResolver dns;
  dns.set_mx("Example.org.", {rec(10, "mx.example.org")});
  dns.set_deferred(true);
  std::optional<MxAnswer> got;
  dns.resolve_mx("EXAMPLE.ORG", [&](MxAnswer a) { got = std::move(a); });
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(dns.run_pending(), 1u);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, DnsStatus::ok);
  ASSERT_EQ(got->records.size(), 1u);
  EXPECT_EQ(got->records[0].exchange, "mx.example.org");
  EXPECT_EQ(dns.run_pending(), 0u);
}

}  // namespace
}  // namespace mp::transports
