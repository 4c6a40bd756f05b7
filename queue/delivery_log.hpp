// Postfix-shaped delivery log lines, so pflogsumm and operators' habits work:
//   ID: to=<r>, orig_to=<o>, relay=host[ip]:port, delay=1.2, delays=a/b/c/d,
//       dsn=2.0.0, status=sent (250 2.0.0 Ok)
// and the reason texts those lines, `mpqueue -p` and NDRs show, worded as Postfix
// words them (issue 9):
//   host mx.example[1.2.3.4] said: 450 4.3.0 text (in reply to RCPT TO command)
//   connect to mx.example[1.2.3.4]:25: Connection refused
// Pure formatting; the transports build the reasons, the queue manager writes the lines.
//
// Invariant of a reason: a Reply with code 0 is a whole reason text (Reply::text),
// never a reply code of our own invention; its status is the enhanced status
// (the dsn= field). A Reply with a code is a next hop's reply as it was given
// (what successful deliveries log: "status=sent (250 2.0.0 Ok: queued as X)").
#pragma once

#include <string>
#include <string_view>

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

// A next hop's reply as a reason: "host NAME[ip] said: 450 4.3.0 text (in reply to
// RCPT TO command)"; for the greeting (empty command) "host NAME[ip] refused to talk to
// me: 554 5.7.1 text". Code 0, the reply's enhanced status (X.0.0 when it gave none).
Reply remote_reason(const Reply& server, std::string_view peer, std::string_view command);

// Our own reason ("connect to ...: Connection refused", "lost connection with ... while
// ..."): code 0, the text as it is, the status kept (derived from the code if missing).
Reply own_reason(const Reply& ours);

// The text shown in parentheses after status=, in `mpqueue -p` and in an NDR: a whole
// reason (code 0) as it is, lines joined with a space; a reply as "450 4.3.0 text".
std::string reason_text(const Reply& r);

// The next hop's own reply inside a remote_reason() text ("450 4.3.0 text"), or "" when
// `r` is not one (our own reason, or a plain reply: then its line()).
std::string remote_reply_of(const Reply& r);

// "0.12", "1.2", "0", "35" — Postfix's short form of seconds.
std::string format_seconds(double s);

}  // namespace mp::queue
