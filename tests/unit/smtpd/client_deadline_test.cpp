// Record deadlines: a whole command line within smtpd_timeout, message data
// at least smtpd_min_data_rate bytes/s past the first smtpd_timeout.
#include "smtpd/client_deadline.hpp"

#include <gtest/gtest.h>

namespace mp::smtpd {
namespace {

using namespace std::chrono_literals;
using Clock = ClientDeadline::Clock;

const Clock::time_point t0 = Clock::time_point() + 1000s;

TEST(ClientDeadlineTest, CommandLineDeadlineDoesNotMoveWhileTheLineTrickles) {
  ClientDeadline d(10s, 500);
  EXPECT_EQ(d.before_read(t0, false, false, 0), t0 + 10s);
  d.received(1);  // "M"
  EXPECT_EQ(d.before_read(t0 + 4s, false, true, 0), t0 + 10s);
  d.received(1);  // "A"
  EXPECT_EQ(d.before_read(t0 + 8s, false, true, 0), t0 + 10s);
}

TEST(ClientDeadlineTest, EachCommandLineGetsItsOwnDeadline) {
  ClientDeadline d(10s, 500);
  d.before_read(t0, false, false, 0);
  d.received(6);  // "NOOP\r\n": nothing pending after it
  EXPECT_EQ(d.before_read(t0 + 9s, false, false, 1), t0 + 19s);
  d.received(8);  // "NOOP\r\nNO": a new line started in this read
  EXPECT_EQ(d.before_read(t0 + 18s, false, true, 2), t0 + 28s);
}

TEST(ClientDeadlineTest, MessageDataEarnsTimeAtTheMinimumRate) {
  ClientDeadline d(10s, 500);
  EXPECT_EQ(d.before_read(t0, true, false, 3), t0 + 10s);
  d.received(1000);
  EXPECT_EQ(d.before_read(t0 + 1s, true, false, 3), t0 + 12s);
  d.received(250);
  EXPECT_EQ(d.before_read(t0 + 11s, true, false, 3), t0 + 12500ms);
  EXPECT_EQ(d.message_bytes(), 1250u);
}

TEST(ClientDeadlineTest, SlowDataRunsOutOfTime) {
  ClientDeadline d(2s, 500);
  Clock::time_point deadline = d.before_read(t0, true, false, 0);
  Clock::time_point now = t0;
  int reads = 0;
  for (; reads < 100 && now < deadline; ++reads) {  // 10 bytes every 0.5 s: 20 bytes/s
    now += 500ms;
    d.received(10);
    deadline = d.before_read(now, true, false, 0);
  }
  EXPECT_LT(reads, 10);
}

TEST(ClientDeadlineTest, ZeroRateGivesEachReadTheTimeout) {
  ClientDeadline d(2s, 0);
  d.before_read(t0, true, false, 0);
  d.received(1);
  EXPECT_EQ(d.before_read(t0 + 100s, true, false, 0), t0 + 102s);
}

TEST(ClientDeadlineTest, CommandAfterMessageStartsAfresh) {
  ClientDeadline d(10s, 500);
  d.before_read(t0, true, false, 0);
  d.received(100);
  // The read that ended the data also brought part of the next command line.
  EXPECT_EQ(d.before_read(t0 + 5s, false, true, 0), t0 + 15s);
  d.received(5);
  EXPECT_EQ(d.before_read(t0 + 30s, true, false, 1), t0 + 40s);  // the next message
  EXPECT_EQ(d.message_bytes(), 0u);
}

}  // namespace
}  // namespace mp::smtpd
