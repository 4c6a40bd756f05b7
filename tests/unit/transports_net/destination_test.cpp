// Next hops and recipients → destinations: host lists, MX split by recipient domain,
// mx:domain, address literals, LMTP over TCP and unix sockets, malformed next hops.
#include "transports/net/destination.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

DeliveryRequest req(std::string next_hop, std::vector<Address> rcpts) {
  DeliveryRequest r;
  r.next_hop = std::move(next_hop);
  for (std::size_t i = 0; i < rcpts.size(); ++i)
    r.recipients.push_back({rcpts[i], rcpts[i], "", i});
  return r;
}

std::vector<Destination> plan(const DeliveryRequest& r,
                              DestinationMode mode = DestinationMode::smtp) {
  std::string error;
  auto d = plan_destinations(r, mode, 2525, error);
  EXPECT_TRUE(d) << error;
  return d.value_or(std::vector<Destination>{});
}

TEST(Destinations, HostListIsOneRoundRobinDestination) {
  auto d = plan(req("A.example:26, b.example", {{"u", "x.test"}, {"v", "y.test"}}));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, DestinationKind::hosts);
  EXPECT_EQ(d[0].key, "a.example:26, b.example");
  EXPECT_TRUE(d[0].round_robin);
  ASSERT_EQ(d[0].hosts.size(), 2u);
  EXPECT_EQ(d[0].hosts[1].port, 2525);
  EXPECT_EQ(d[0].recipients, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(host_key(d[0].hosts[0]), "a.example:26");
  EXPECT_EQ(host_key(RelayHost{"::1", 25, true}), "[::1]:25");
}

TEST(Destinations, MxIsSplitByRecipientDomain) {
  auto d = plan(req("mx", {{"a", "One.test"},
                           {"b", "two.test"},
                           {"c", "one.TEST"},
                           {"d", "[192.0.2.7]"},
                           {"e", "[IPv6:2001:db8::1]"},
                           {"f", "two.test."}}));
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].kind, DestinationKind::mx);
  EXPECT_EQ(d[0].domain, "one.test");
  EXPECT_EQ(d[0].key, "mx:one.test");
  EXPECT_EQ(d[0].recipients, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(d[1].domain, "two.test");
  EXPECT_EQ(d[1].recipients, (std::vector<std::size_t>{1, 5}));
  EXPECT_EQ(d[2].kind, DestinationKind::hosts);
  EXPECT_FALSE(d[2].round_robin);
  ASSERT_EQ(d[2].hosts.size(), 1u);
  EXPECT_EQ(d[2].hosts[0].host, "192.0.2.7");
  EXPECT_EQ(d[2].hosts[0].port, 2525);  // smtp_port
  EXPECT_TRUE(d[2].hosts[0].literal);
  EXPECT_EQ(d[3].hosts[0].host, "2001:db8::1");

  d = plan(req("MX:Hub.test", {{"a", "one.test"}, {"b", "two.test"}}));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, DestinationKind::mx);
  EXPECT_EQ(d[0].domain, "hub.test");
  EXPECT_EQ(d[0].recipients, (std::vector<std::size_t>{0, 1}));
}

TEST(Destinations, Lmtp) {
  auto d = plan(req("lmtp:Mail.test", {{"a", "x.test"}}), DestinationMode::lmtp);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, DestinationKind::hosts);
  EXPECT_EQ(d[0].hosts[0].host, "Mail.test");
  EXPECT_EQ(d[0].hosts[0].port, 24);
  EXPECT_EQ(d[0].key, "lmtp:mail.test:24");

  d = plan(req("lmtp:[::1]:2424", {{"a", "x.test"}}), DestinationMode::lmtp);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hosts[0].host, "::1");
  EXPECT_EQ(d[0].hosts[0].port, 2424);
  EXPECT_TRUE(d[0].hosts[0].literal);

  d = plan(req("lmtp:unix:/run/Dovecot/lmtp", {{"a", "x.test"}, {"b", "y.test"}}),
           DestinationMode::lmtp);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, DestinationKind::unix_socket);
  EXPECT_EQ(d[0].socket, "/run/Dovecot/lmtp");
  EXPECT_EQ(d[0].key, "lmtp:unix:/run/Dovecot/lmtp");
  EXPECT_EQ(d[0].recipients, (std::vector<std::size_t>{0, 1}));
}

TEST(Destinations, Malformed) {
  std::string error;
  for (const char* hop : {"lmtp:unix:relative", "lmtp:", "lmtp:[x", "10.0.0.1"}) {
    EXPECT_FALSE(plan_destinations(req(hop, {{"a", "x.test"}}), DestinationMode::lmtp, 25, error))
        << hop;
  }
  for (const char* hop : {"lmtp:127.0.0.1:24", "[nonsense", "mx:", ""}) {
    EXPECT_FALSE(plan_destinations(req(hop, {{"a", "x.test"}}), DestinationMode::smtp, 25, error))
        << hop;
  }
}

TEST(Destinations, ConcurrencyLimitByName) {
  std::map<std::string, unsigned> table{
      {"example.com", 2}, {"relay.test", 3}, {"b.example:26", 4}, {"[192.0.2.1]", 1}};
  auto mx = plan(req("mx", {{"u", "Example.COM"}, {"v", "other.test"}, {"w", "[192.0.2.1]"}}));
  ASSERT_EQ(mx.size(), 3u);
  EXPECT_EQ(destination_limit(mx[0], table, 20), 2u);
  EXPECT_EQ(destination_limit(mx[1], table, 20), 20u);  // unlisted, no '*'
  EXPECT_EQ(destination_limit(mx[2], table, 20), 1u);
  EXPECT_EQ(destination_limit(plan(req("Relay.test:587", {{"u", "x.test"}}))[0], table, 20), 3u);
  EXPECT_EQ(destination_limit(plan(req("a.example,b.example:26", {{"u", "x.test"}}))[0], table, 20),
            4u);
  table["*"] = 7;
  EXPECT_EQ(destination_limit(mx[1], table, 20), 7u);
}

}  // namespace
}  // namespace mp::transports
