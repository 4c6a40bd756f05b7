// Postfix-shaped delivery log lines, so pflogsumm and operators' habits work:
//   ID: to=<r>, orig_to=<o>, relay=host[ip]:port, delay=1.2, delays=a/b/c/d,
//       dsn=2.0.0, status=sent (250 2.0.0 Ok)
// Pure formatting; the queue manager writes the lines.
#pragma once

#include <string>

#include "common/address.hpp"
#include "common/reply.hpp"

namespace mp::queue {

struct DeliveryLogEntry {
  std::string queue_id;
  Address to;
  Address orig_to;  // logged when it differs from `to`
  std::string relay;
  double delay = 0;                      // arrival → now, seconds
  double before_qmgr = 0, in_qmgr = 0;   // delays a and b
  double connect = 0, transmission = 0;  // delays c and d
  std::string status;  // "sent", "deferred", "bounced", "expired, returned to sender"
  Reply reply;
};

std::string format_delivery(const DeliveryLogEntry& e);

// "0.12", "1.2", "0", "35" — Postfix's short form of seconds.
std::string format_seconds(double s);

}  // namespace mp::queue
