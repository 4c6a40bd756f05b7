// Retry schedule and backoff (queue/scheduler.cpp).
#include "queue/scheduler.hpp"

#include <gtest/gtest.h>

namespace mp::queue {
namespace {

using std::chrono::seconds;

TEST(RetryDelay, DoublesFromMinimumUpToMaximum) {
  EXPECT_EQ(retry_delay(1, seconds(300), seconds(3600)), seconds(300));
  EXPECT_EQ(retry_delay(2, seconds(300), seconds(3600)), seconds(600));
  EXPECT_EQ(retry_delay(4, seconds(300), seconds(3600)), seconds(2400));
  EXPECT_EQ(retry_delay(5, seconds(300), seconds(3600)), seconds(3600));
  EXPECT_EQ(retry_delay(1000, seconds(300), seconds(3600)), seconds(3600));
  EXPECT_EQ(retry_delay(0, seconds(1), seconds(1)), seconds(1));
}

TEST(Scheduler, TakesDueInTimeOrder) {
  Scheduler s;
  s.add("C", 30);
  s.add("A", 10);
  s.add("B", 20);
  EXPECT_EQ(s.earliest(), 10);
  EXPECT_EQ(s.take_due(20), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(s.take_due(29).empty());
  EXPECT_EQ(s.take_due(30), (std::vector<std::string>{"C"}));
  EXPECT_FALSE(s.earliest());
}

TEST(Scheduler, AddReplacesAndRemoveForgets) {
  Scheduler s;
  s.add("A", 10);
  s.add("A", 50);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(s.take_due(10).empty());
  EXPECT_TRUE(s.remove("A"));
  EXPECT_FALSE(s.remove("A"));
  EXPECT_FALSE(s.contains("A"));
}

TEST(Scheduler, MakeDueForFlush) {
  Scheduler s;
  s.add("A", 1000);
  s.add("B", 2000);
  EXPECT_EQ(s.make_due(5), 2u);
  EXPECT_EQ(s.take_due(5).size(), 2u);
}

}  // namespace
}  // namespace mp::queue
