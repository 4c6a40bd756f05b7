#include "common/duration.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mp {
namespace {
using namespace std::chrono_literals;

TEST(Duration, Parses) {
  EXPECT_EQ(parse_duration("300s"), 300s);
  EXPECT_EQ(parse_duration("5m"), 300s);
  EXPECT_EQ(parse_duration("4h"), 4h);
  EXPECT_EQ(parse_duration("5d"), 5 * 24h);
  EXPECT_EQ(parse_duration("90"), 90s);
  EXPECT_EQ(parse_duration("0"), 0s);
  EXPECT_EQ(parse_duration("0d"), 0s);
  EXPECT_EQ(parse_duration("007m"), 7min);
}

TEST(Duration, RejectsMalformed) {
  for (std::string bad : {"", "s", "m", "-5m", "+5m", "5 m", " 5m", "5m ", "5w", "5M", "1.5h",
                          "5ms", "abc", "5mm", "99999999999999999999s", "9999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(Duration, FormatsWithTheLargestExactUnit) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(300s), "5m");
  EXPECT_EQ(format_duration(3600s), "1h");
  EXPECT_EQ(format_duration(5400s), "90m");
  EXPECT_EQ(format_duration(5 * 24h), "5d");
  EXPECT_EQ(format_duration(25h), "25h");
  for (auto d : {1s, 61s, 120s, 7200s, 86400s, 1000s}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d);
  }
}

}  // namespace
}  // namespace mp
