// Metrics: counter/gauge/histogram arithmetic, concurrent updates, and the
// exact Prometheus text (format 0.0.4) render() produces.
#include "common/metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mp::metrics {
namespace {

// "name{labels}" → value, for every sample line.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

TEST(Histogram, BucketsAreCumulativeAndInclusive) {
  Histogram h({1, 10, 0.5});  // sorted on construction
  for (double v : {0.0, 0.5, 0.7, 1.0, 3.0, 10.0, 11.0, 1e9, -2.0}) h.observe(v);
  Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{0.5, 1, 10}));
  // ≤0.5: 0, 0.5, -2 (as 0); ≤1: + 0.7, 1; ≤10: + 3, 10; +Inf: + 11, 1e9.
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{3, 5, 7, 9}));
  EXPECT_EQ(s.count, 9u);
  EXPECT_DOUBLE_EQ(s.sum, 0.5 + 0.7 + 1 + 3 + 10 + 11 + 1e9);
}

TEST(Registry, ConcurrentUpdatesAreNotLost) {
  Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r] {
      for (int i = 0; i < 20000; ++i) {
        r.messages_accepted.inc();
        r.connections.add();
        r.connections.sub();
        r.delivery_delay.observe(2);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.messages_accepted.value(), 80000u);
  EXPECT_EQ(r.connections.value(), 0);
  Histogram::Snapshot s = r.delivery_delay.snapshot();
  EXPECT_EQ(s.count, 80000u);
  EXPECT_DOUBLE_EQ(s.sum, 160000.0);
}

TEST(Render, ExactText) {
  Registry r;
  r.connections_total.inc(7);
  r.connections.add(2);
  r.connections_refused.inc();
  r.messages_accepted.inc(5);
  r.recipients_rejected.inc(3);
  r.recipients_delivered.inc(4);
  r.recipients_deferred.inc(6);
  r.recipients_bounced.inc(1);
  r.delivery_delay.observe(0.25);
  r.delivery_delay.observe(4);
  r.delivery_delay.observe(100000);
  std::string text = render(r, {{"incoming", 2}, {"deferred", 9}});
  const std::string expected =
      "# HELP mailproc_smtpd_connections_total SMTP and LMTP connections accepted.\n"
      "# TYPE mailproc_smtpd_connections_total counter\n"
      "mailproc_smtpd_connections_total 7\n"
      "# HELP mailproc_smtpd_connections SMTP and LMTP sessions open now.\n"
      "# TYPE mailproc_smtpd_connections gauge\n"
      "mailproc_smtpd_connections 2\n"
      "# HELP mailproc_smtpd_connections_refused_total Connections closed before the greeting: "
      "over max_connections or max_connections_per_ip, or an untrusted or malformed PROXY "
      "header.\n"
      "# TYPE mailproc_smtpd_connections_refused_total counter\n"
      "mailproc_smtpd_connections_refused_total 1\n"
      "# HELP mailproc_messages_accepted_total Messages accepted and durably queued (250 after "
      "DATA).\n"
      "# TYPE mailproc_messages_accepted_total counter\n"
      "mailproc_messages_accepted_total 5\n"
      "# HELP mailproc_smtpd_recipients_rejected_total RCPT commands refused: relay access "
      "denied, unknown user, error route.\n"
      "# TYPE mailproc_smtpd_recipients_rejected_total counter\n"
      "mailproc_smtpd_recipients_rejected_total 3\n"
      "# HELP mailproc_recipients_delivered_total Recipient deliveries that succeeded "
      "(status=sent).\n"
      "# TYPE mailproc_recipients_delivered_total counter\n"
      "mailproc_recipients_delivered_total 4\n"
      "# HELP mailproc_recipients_deferred_total Recipient delivery attempts that failed "
      "temporarily (status=deferred).\n"
      "# TYPE mailproc_recipients_deferred_total counter\n"
      "mailproc_recipients_deferred_total 6\n"
      "# HELP mailproc_recipients_bounced_total Recipients given up on: refused by the next hop, "
      "or expired (status=bounced).\n"
      "# TYPE mailproc_recipients_bounced_total counter\n"
      "mailproc_recipients_bounced_total 1\n"
      "# HELP mailproc_delivery_delay_seconds Time from a message's arrival to a recipient's "
      "successful delivery.\n"
      "# TYPE mailproc_delivery_delay_seconds histogram\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"0.1\"} 0\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"0.5\"} 1\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"1\"} 1\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"2.5\"} 1\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"5\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"10\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"30\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"60\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"300\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"900\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"3600\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"14400\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"86400\"} 2\n"
      "mailproc_delivery_delay_seconds_bucket{le=\"+Inf\"} 3\n"
      "mailproc_delivery_delay_seconds_sum 100004.25\n"
      "mailproc_delivery_delay_seconds_count 3\n"
      "# HELP mailproc_queue_messages Messages in each sub-queue of the spool.\n"
      "# TYPE mailproc_queue_messages gauge\n"
      "mailproc_queue_messages{queue=\"incoming\"} 2\n"
      "mailproc_queue_messages{queue=\"deferred\"} 9\n";
  EXPECT_EQ(text, expected);
}

TEST(Render, EveryFamilyHasHelpAndTypeAndThePrefix) {
  Registry r;
  std::string text = render(r, {{"incoming", 0}});
  std::istringstream in(text);
  std::string line;
  std::set<std::string> help, type;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      help.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      type.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    ASSERT_TRUE(line.starts_with("mailproc_")) << line;
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix) && help.count(name.substr(0, name.size() - suffix.size())))
        name.resize(name.size() - suffix.size());
    }
    EXPECT_TRUE(help.count(name)) << line;
    EXPECT_TRUE(type.count(name)) << line;
  }
  EXPECT_EQ(samples(text).at("mailproc_messages_accepted_total"), "0");
  EXPECT_EQ(samples(text).at("mailproc_queue_messages{queue=\"incoming\"}"), "0");
  // Without queue counts, no queue family at all (never a family without samples).
  EXPECT_EQ(render(r, {}).find("queue_messages"), std::string::npos);
}

TEST(Render, LabelValuesAreEscaped) {
  Registry r;
  auto s = samples(render(r, {{"a\"b\\c\nd", 1}}));
  EXPECT_EQ(s.count("mailproc_queue_messages{queue=\"a\\\"b\\\\c\\nd\"}"), 1u);
}

TEST(Registry, GlobalIsOneInstance) {
  EXPECT_EQ(&registry(), &registry());
}

}  // namespace
}  // namespace mp::metrics
