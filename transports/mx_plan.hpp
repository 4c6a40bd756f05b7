// MX host plan — turns a Resolver answer into what the MX delivery does next:
// an ordered list of hosts to try, or a final outcome (bounce or retry).
//
// Pure (no I/O, no clock); called by the MX delivery (transports/net/) after
// Resolver::resolve_mx, then plan_addresses after each resolve_addresses.
// Rules (RFC 5321 §5.1, RFC 7505):
//   - hosts by preference (lowest value first), equal preferences shuffled by the
//     `pick` hook, a host listed twice kept once (its best preference), at most
//     max_mx_hosts hosts;
//   - no MX (nodata) → the domain itself (implicit MX, A/AAAA fallback);
//   - null MX (a single record whose exchange is "" or ".") → permfail 556 5.1.10;
//     an empty exchange among other records is ignored;
//   - nxdomain → permfail 550 5.1.2; tempfail → tempfail 451 4.4.3 with the error;
//   - myhostname among the MX hosts: it and every host with an equal or greater
//     preference value are dropped; none left → permfail 554 5.4.6
//     "mail for DOMAIN loops back to myself" (also when the implicit MX is myself).
// Host names are compared case-insensitively, without a trailing dot; the
// returned names are lower case, without a trailing dot.
// Invariants: kind == Kind::hosts ⇔ hosts non-empty; otherwise reply holds the
// outcome. (Kind is an enum class: a plain enumerator `hosts` would clash with
// the member `hosts`.)
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/reply.hpp"
#include "transports/resolver.hpp"

namespace mp::transports {

inline constexpr std::size_t max_mx_hosts = 5;

// Randomness hook: given n > 0, returns an index in [0, n). Used for a
// Fisher–Yates shuffle of each equal-preference group. An empty function means
// a thread-safe random generator (default_mx_pick()).
using MxPick = std::function<unsigned(unsigned)>;
MxPick default_mx_pick();

struct MxPlan {
  enum class Kind { hosts, permfail, tempfail };
  Kind kind = Kind::tempfail;
  std::vector<std::string> hosts;  // Kind::hosts: the order to try them in
  Reply reply;                     // otherwise: the outcome for every recipient
};

MxPlan plan_mx(const std::string& domain, const MxAnswer& mx, const std::string& myhostname,
               const MxPick& pick = {});

// One MX host's addresses, or why it has none. The MX delivery skips a host
// without addresses and goes on with the next; when no host could be tried the
// delivery's outcome is the worst of these replies: tempfail if any host had a
// tempfail (DNS trouble may clear), else permfail.
struct AddressPlan {
  enum class Kind { addresses, permfail, tempfail };
  Kind kind = Kind::tempfail;
  std::vector<std::string> addresses;  // Kind::addresses: IP literals, duplicates removed
  Reply reply;                         // otherwise
};

// nxdomain → permfail 550 5.1.2 "Host or domain name not found. Name service
// error for name=HOST type=A: Host not found"; nodata → permfail 550 5.1.2 "...
// type=A: No address associated with hostname"; tempfail → tempfail 451 4.4.3
// "Host or domain name lookup for HOST failed: ERROR".
AddressPlan plan_addresses(const std::string& host, const AddressAnswer& answer);

// Lower case, trailing dot removed: the form plan_mx compares and returns.
std::string normalize_host_name(const std::string& name);

}  // namespace mp::transports
