// The reuse bookkeeping (IdlePool) with plain values and a hand-moved clock: keys and
// hosts, most recent first, expiry, the per-destination limit, "off".
#include "transports/net/idle_pool.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

using namespace std::chrono_literals;
using Pool = IdlePool<int>;
const Pool::Clock::time_point t0{};

TEST(IdlePool, TakesByDestinationAndHostMostRecentFirst) {
  Pool p(2s, 10);
  EXPECT_TRUE(p.enabled());
  EXPECT_FALSE(p.put("mx:a.test", "mx1:25", 1, t0));
  EXPECT_FALSE(p.put("mx:a.test", "mx2:25", 2, t0 + 100ms));
  EXPECT_FALSE(p.put("mx:b.test", "mx1:25", 3, t0 + 200ms));
  EXPECT_FALSE(p.put("mx:a.test", "mx1:25", 4, t0 + 300ms));
  EXPECT_EQ(p.size(), 4u);
  EXPECT_EQ(p.size("mx:a.test"), 3u);

  EXPECT_EQ(p.take("mx:c.test", "", t0 + 1s), std::nullopt);
  EXPECT_EQ(p.take("mx:a.test", "mx3:25", t0 + 1s), std::nullopt);
  EXPECT_EQ(p.take("mx:a.test", "mx1:25", t0 + 1s), 4);  // the most recent on that host
  EXPECT_EQ(p.take("mx:a.test", "", t0 + 1s), 2);        // any host: the most recent
  EXPECT_EQ(p.take("mx:a.test", "", t0 + 1s), 1);
  EXPECT_EQ(p.take("mx:a.test", "", t0 + 1s), std::nullopt);
  EXPECT_EQ(p.size(), 1u);
}

TEST(IdlePool, ExpiresAfterMaxIdle) {
  Pool p(2s, 10);
  EXPECT_EQ(p.next_expiry(), std::nullopt);
  p.put("k", "h", 1, t0);
  p.put("k", "h", 2, t0 + 1s);
  EXPECT_EQ(p.next_expiry(), t0 + 2s);
  // Too old to be handed out, even before expire() collected it.
  EXPECT_EQ(p.take("k", "h", t0 + 2500ms), 2);
  p.put("k", "h", 2, t0 + 1s);
  EXPECT_TRUE(p.expire(t0 + 1999ms).empty());
  EXPECT_EQ(p.expire(t0 + 2s), (std::vector<int>{1}));
  EXPECT_EQ(p.next_expiry(), t0 + 3s);
  EXPECT_EQ(p.take("k", "h", t0 + 3s), std::nullopt);  // expired: left for expire()
  EXPECT_EQ(p.expire(t0 + 3s), (std::vector<int>{2}));
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.next_expiry(), std::nullopt);
}

TEST(IdlePool, PerDestinationLimitEvictsTheOldest) {
  Pool p(10s, 2);
  EXPECT_FALSE(p.put("a", "h", 1, t0));
  EXPECT_FALSE(p.put("b", "h", 10, t0));
  EXPECT_FALSE(p.put("a", "h", 2, t0 + 1s));
  EXPECT_EQ(p.put("a", "h", 3, t0 + 2s), 1);  // the oldest of "a" goes
  EXPECT_EQ(p.size("a"), 2u);
  EXPECT_EQ(p.size("b"), 1u);
  EXPECT_EQ(p.drain(), (std::vector<int>{10, 2, 3}));
  EXPECT_EQ(p.size(), 0u);
}

TEST(IdlePool, OffHandsEverythingBack) {
  Pool p(0ms, 20);
  EXPECT_FALSE(p.enabled());
  EXPECT_EQ(p.put("a", "h", 7, t0), 7);
  EXPECT_EQ(p.size(), 0u);
  Pool q(2s, 0);
  EXPECT_FALSE(q.enabled());
  EXPECT_EQ(q.put("a", "h", 8, t0), 8);
}

TEST(IdlePool, MoveOnlyItems) {
  IdlePool<std::unique_ptr<int>> p(1s, 1);
  EXPECT_FALSE(p.put("a", "h", std::make_unique<int>(1), t0));
  auto evicted = p.put("a", "h", std::make_unique<int>(2), t0);
  ASSERT_TRUE(evicted);
  EXPECT_EQ(**evicted, 1);
  auto taken = p.take("a", "h", t0);
  ASSERT_TRUE(taken);
  EXPECT_EQ(**taken, 2);
}

}  // namespace
}  // namespace mp::transports
