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

// Issue 9, item 2: reasons worded as Postfix words them, with no reply code of our own.
DeliveryLogEntry deferred(Reply why) {
  DeliveryLogEntry e;
  e.queue_id = "ABC";
  e.to = Address{"bob", "example.org"};
  e.orig_to = e.to;
  e.relay = "none";
  e.status = "deferred";
  e.reply = std::move(why);
  return e;
}

TEST(DeliveryReason, NextHopReplyInReplyToTheCommand) {
  Reply r = remote_reason(Reply{450, "4.3.0", "<bob@example.org>: try\nlater"},
                          "mx.example[192.0.2.1]", "RCPT TO");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.status, "4.3.0");
  EXPECT_EQ(reason_text(r),
            "host mx.example[192.0.2.1] said: 450 4.3.0 <bob@example.org>: try later (in reply "
            "to RCPT TO command)");
  EXPECT_EQ(remote_reply_of(r), "450 4.3.0 <bob@example.org>: try later");
  for (std::string cmd : {"MAIL FROM", "DATA", "end of DATA"}) {
    EXPECT_TRUE(reason_text(remote_reason(Reply{554, "", "no"}, "h[1.2.3.4]", cmd))
                    .ends_with("said: 554 no (in reply to " + cmd + " command)"));
  }
  EXPECT_EQ(remote_reason(Reply{554, "", "no"}, "h[1.2.3.4]", "DATA").status, "5.0.0");
  EXPECT_EQ(reason_text(remote_reason(Reply{554, "5.7.1", "go away"}, "h[1.2.3.4]", "")),
            "host h[1.2.3.4] refused to talk to me: 554 5.7.1 go away");
}

TEST(DeliveryReason, LogLinesCarryNoInventedCode) {
  Reply refused =
      own_reason(Reply{451, "4.4.1", "connect to mx[192.0.2.1]:25: Connection refused"});
  EXPECT_EQ(refused.code, 0);
  EXPECT_EQ(format_delivery(deferred(refused)),
            "ABC: to=<bob@example.org>, relay=none, delay=0, delays=0/0/0/0, dsn=4.4.1, "
            "status=deferred (connect to mx[192.0.2.1]:25: Connection refused)");
  EXPECT_EQ(remote_reply_of(refused), "");
  Reply said = remote_reason(Reply{450, "4.2.0", "greylisted"}, "mx[192.0.2.1]", "RCPT TO");
  EXPECT_EQ(format_delivery(deferred(said)),
            "ABC: to=<bob@example.org>, relay=none, delay=0, delays=0/0/0/0, dsn=4.2.0, "
            "status=deferred (host mx[192.0.2.1] said: 450 4.2.0 greylisted (in reply to RCPT "
            "TO command))");
  EXPECT_EQ(own_reason(said).text, said.text);  // idempotent
  EXPECT_EQ(own_reason(Reply{451, "", "x"}).status, "4.0.0");
  // A plain reply (a successful delivery, an old queue file) keeps its code.
  EXPECT_EQ(reason_text(Reply{250, "2.0.0", "Ok"}), "250 2.0.0 Ok");
  EXPECT_EQ(remote_reply_of(Reply{550, "5.1.1", "gone"}), "550 5.1.1 gone");
}

}  // namespace
}  // namespace mp::queue
