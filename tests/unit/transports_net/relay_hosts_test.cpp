// Host-list next hops and the per-next-hop gate (concurrency, FIFO, round robin).
#include "transports/net/relay_hosts.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

TEST(RelayHosts, Forms) {
  std::string error;
  auto h = parse_relay_hosts("10.1.1.1", 25, error);
  ASSERT_TRUE(h) << error;
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].host, "10.1.1.1");
  EXPECT_EQ((*h)[0].port, 25);
  EXPECT_TRUE((*h)[0].literal);

  h = parse_relay_hosts("mx.foo.bar:2525", 25, error);
  ASSERT_TRUE(h) << error;
  EXPECT_EQ((*h)[0].host, "mx.foo.bar");
  EXPECT_EQ((*h)[0].port, 2525);
  EXPECT_FALSE((*h)[0].literal);

  h = parse_relay_hosts("[::1]:2425", 25, error);
  ASSERT_TRUE(h) << error;
  EXPECT_EQ((*h)[0].host, "::1");
  EXPECT_EQ((*h)[0].port, 2425);
  EXPECT_TRUE((*h)[0].literal);

  h = parse_relay_hosts("a.example,b.example:26, c.example", 2500, error);
  ASSERT_TRUE(h) << error;
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0].host, "a.example");
  EXPECT_EQ((*h)[0].port, 2500);  // the default: smtp_port
  EXPECT_EQ((*h)[1].port, 26);
  EXPECT_EQ((*h)[2].host, "c.example");
}

TEST(RelayHosts, Malformed) {
  std::string error;
  for (std::string_view bad : {"", " , ", "[::1", "a.example:99999", "a.example:x", "bad host!",
                               "mx", "MX:other.example"}) {
    error.clear();
    EXPECT_FALSE(parse_relay_hosts(bad, 25, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(HopGate, LimitsAndQueuesInOrder) {
  HopGate gate(2);
  std::vector<int> started;
  for (int i = 0; i < 5; ++i) gate.submit([&started, i] { started.push_back(i); });
  EXPECT_EQ(started, (std::vector<int>{0, 1}));
  EXPECT_EQ(gate.active(), 2u);
  EXPECT_EQ(gate.waiting(), 3u);
  gate.release();
  EXPECT_EQ(started, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(gate.active(), 2u);
  gate.release();
  gate.release();
  EXPECT_EQ(started, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(gate.waiting(), 0u);
  gate.release();
  EXPECT_EQ(gate.active(), 1u);
  gate.release();
  EXPECT_EQ(gate.active(), 0u);
  gate.submit([&started] { started.push_back(5); });
  EXPECT_EQ(started.back(), 5);
}

TEST(HopGate, ZeroMeansOne) {
  HopGate gate(0);
  int n = 0;
  gate.submit([&n] { ++n; });
  gate.submit([&n] { ++n; });
  EXPECT_EQ(n, 1);
}

TEST(HopGate, RoundRobinStart) {
  HopGate gate(1);
  std::vector<std::size_t> starts;
  for (int i = 0; i < 5; ++i) starts.push_back(gate.next_start(3));
  EXPECT_EQ(starts, (std::vector<std::size_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(gate.next_start(0), 0u);
}

}  // namespace
}  // namespace mp::transports
