// transports::Transport — the one interface between the queue manager and delivery.
//
// The manager hands a transport one DeliveryRequest: the recipients of one
// message that share one route (same transport and next hop). The transport
// answers exactly one RecipientResult per recipient, in the same order:
// ok (delivered), tempfail (retry later) or permfail (bounce), with the reply
// that decided it. deliver() never throws for delivery problems: a refused
// connection, a timeout or a crashed program is a tempfail with a reply that
// says so. `done` may run on any thread; it is called exactly once.
// Asio stays out of this header: network transports keep their io_context inside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/reply.hpp"

namespace mp::transports {

struct RecipientRef {
  Address address;        // after rewriting: what the next hop is given
  Address original;       // as received (for DSNs and Delivered-To)
  std::string unix_user;  // for local transports: the mapped unix user; else empty
  std::size_t index = 0;  // position in the queue file, for the manager's records
};

struct DeliveryRequest {
  std::string queue_id;
  Address sender;
  std::vector<RecipientRef> recipients;        // at least one; all share next_hop
  std::string next_hop;                        // as the router resolved it (variables expanded)
  std::shared_ptr<const std::string> message;  // headers + body, CRLF lines, not dot-stuffed
  bool smtputf8 = false;
  bool eightbit = false;
  std::int64_t arrival = 0;  // epoch seconds
  bool junk = false;  // issue 6: the spam stage flagged it; maildir delivers into maildir_junk
};

enum class Outcome { ok, tempfail, permfail };

struct RecipientResult {
  Outcome outcome = Outcome::tempfail;
  Reply reply;        // the deciding reply (ours or the next hop's)
  std::string relay;  // for the log: "host[1.2.3.4]:25", "local", "pipe", "maildir", "none"
};

using DeliveryResult = std::vector<RecipientResult>;

// "sent", "deferred" or "bounced", as in the delivery log line.
std::string_view status_word(Outcome o);

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string_view name() const = 0;  // "smtp", "lmtp", "pipe", "maildir", ...
  virtual void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) = 0;
};

}  // namespace mp::transports
