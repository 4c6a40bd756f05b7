// Delivery status notifications (RFC 3464): the non-delivery report (NDR) for
// recipients given up on, and the one-time delay warning.
//
// Pure: builds the whole notification message (CRLF lines) from what the queue
// manager knows; the manager queues it through queue::Writer with the null
// sender <>, to the original sender — never to <> (the caller checks), so a
// notification can never cause another one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/reply.hpp"

namespace mp::queue {

struct DsnRecipient {
  Address final_recipient;     // as delivered to (after rewriting)
  Address original_recipient;  // as received; omitted from the report when equal
  Reply reply;                 // the last reply; code 0 when none (expired without one)
  std::string remote_mta;      // host name of the next hop that answered, or empty
};

struct DsnInput {
  enum class Kind { failure, delay } kind = Kind::failure;
  std::string hostname;  // Reporting-MTA and the From: domain
  std::string queue_id;  // of the original message
  std::int64_t arrival = 0;
  std::int64_t now = 0;
  std::int64_t retry_until = 0;  // delay warnings: when the message will be given up on
  Address sender;                // the original sender: the notification goes to it
  std::vector<DsnRecipient> recipients;
  std::string_view original;  // the original message; only its header block is attached
};

// The notification message: headers and a multipart/report body.
std::string make_dsn(const DsnInput& in);

// The status to report for a recipient: the reply's enhanced status, else one
// derived from its code, else 4.4.7 (expired with no reply) for failures.
std::string dsn_status(const Reply& reply, DsnInput::Kind kind);

// The Diagnostic-Code value (RFC 3464 2.3.6) of a reply: "smtp; 550 5.1.1 text" for a
// next hop's reply (also the one inside a "host ... said: ..." reason), "X-Mailproc;
// connect to ...: Connection refused" for a reason of our own (as Postfix's "X-Postfix;"),
// "" when there is none.
std::string diagnostic_code(const Reply& reply);

// The header block of a message (up to and including the empty line), or the
// whole message when it has no body.
std::string_view header_block(std::string_view message);

// RFC 5322 date ("Sun, 22 Nov 2026 10:00:00 +0000") of an epoch time, local zone.
std::string rfc5322_date(std::int64_t epoch);

}  // namespace mp::queue
