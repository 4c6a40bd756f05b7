// The envelope of one message: what SMTP (or local submission) said about it,
// as opposed to the message content. Created by smtpd / mpsendmail / the NDR
// writer, stored by queue::Writer, read back by the queue manager.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace mp {

struct Envelope {
  Address sender;                   // null for <> (bounces)
  std::vector<Address> recipients;  // in RCPT order; at least one
  std::string helo;                 // EHLO/HELO/LHLO argument
  std::string client_addr;          // "1.2.3.4" / "::1"; empty for local submission
  std::string client_name;          // reverse name or "unknown"
  std::string protocol;             // "SMTP", "ESMTP", "ESMTPS", "LMTP", "local"
  bool smtputf8 = false;            // MAIL FROM ... SMTPUTF8
  bool eightbit = false;            // BODY=8BITMIME
  std::int64_t arrival = 0;         // epoch seconds
};

}  // namespace mp
