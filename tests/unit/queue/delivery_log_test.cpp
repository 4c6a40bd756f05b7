// Postfix-shaped delivery lines (queue/delivery_log.cpp).
#include "queue/delivery_log.hpp"

#include <gtest/gtest.h>

namespace mp::queue {
namespace {

TEST(DeliveryLog, SentLineHasPostfixShape) {
  DeliveryLogEntry e;
  e.queue_id = "ABC";
  e.to = Address{"bob", "example.org"};
  e.orig_to = e.to;
  e.relay = "mx.example.org[192.0.2.1]:25";
  e.delay = 1.234;
  e.before_qmgr = 0.01;
  e.in_qmgr = 0.001;
  e.connect = 0.2;
  e.transmission = 1.02;
  e.status = "sent";
  e.reply = Reply{250, "2.0.0", "Ok: queued as XYZ"};
  EXPECT_EQ(format_delivery(e),
            "ABC: to=<bob@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1.2, "
            "delays=0.01/0/0.2/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as XYZ)");
}

TEST(DeliveryLog, OrigToAndDerivedDsn) {
  DeliveryLogEntry e;
  e.queue_id = "ABC";
  e.to = Address{"bob", "new.example"};
  e.orig_to = Address{"bob", "old.example"};
  e.status = "bounced";
  e.reply = Reply{550, "", "no"};
  std::string line = format_delivery(e);
  EXPECT_NE(line.find("to=<bob@new.example>, orig_to=<bob@old.example>, relay=none"),
            std::string::npos);
  EXPECT_NE(line.find("dsn=5.0.0, status=bounced (550 no)"), std::string::npos);
}

TEST(DeliveryLog, Seconds) {
  EXPECT_EQ(format_seconds(0), "0");
  EXPECT_EQ(format_seconds(0.004), "0");
  EXPECT_EQ(format_seconds(0.05), "0.05");
  EXPECT_EQ(format_seconds(0.5), "0.5");
  EXPECT_EQ(format_seconds(3.0), "3");
  EXPECT_EQ(format_seconds(42.7), "43");
}

}  // namespace
}  // namespace mp::queue
