// Next hops of the transport file (and the relayhost/mx defaults), parsed into a
// typed NextHop, and the %-placeholders of local transports.
//
// parse_next_hop() is called by rewrite::TransportTable for each line (after
// $variable expansion); transports read the typed fields and expand
// placeholders with expand_placeholders(). Invariants of a parsed NextHop:
// `text` is the canonical form; relay has >= 1 host; lmtp has one host or an
// absolute unix socket; mda/pipe argv[0] is an absolute path without
// placeholders; maildir path is absolute; every placeholder (%u %r %s %l %d %i)
// is a whole argument or a whole '/'-separated segment of one, `%%` is a literal
// '%', and %s (the sender, which nobody vets) is only ever a whole argument;
// spam's `then` is never spam, discard or error.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/config.hpp"

namespace mp::rewrite {

enum class HopKind { relay, mx, lmtp, mda, pipe, maildir, spam, discard, error };

// "relay", "mx", "lmtp", "mda", "pipe", "maildir", "spam", "discard", "error".
std::string_view kind_name(HopKind kind);

struct NextHop {
  HopKind kind = HopKind::mx;
  std::string text;  // canonical: "mx", "a.example,b.example:2525", "spam:maildir:/m/%u", ...

  std::vector<HostPort> hosts;          // relay: in order (port 0: 25); lmtp TCP: one (port 0: 24)
  std::string domain;                   // mx: whose MX records (empty: the recipient's domain)
  std::string socket;                   // lmtp: unix socket path; empty for TCP
  std::vector<std::string> argv;        // mda, pipe: program and arguments, placeholders kept
  std::string path;                     // maildir: directory, placeholders kept
  std::shared_ptr<const NextHop> then;  // spam: where mail goes after the spam stage
  std::string status;                   // error: enhanced status, "5.X.Y" (default "5.0.0")
  std::string message;                  // error, discard: the text after the status (may be empty)

  // MDA, pipe and maildir run as a unix user (spam:X when X does): they need a `users` entry
  // (a pipe without one runs as `nobody`) and a safe local part.
  bool is_local() const;
  // spam: the hop after the spam stage; otherwise this hop.
  const NextHop& final_hop() const { return then ? *then : *this; }
};

// Parses one next hop. On failure returns nullopt and sets `reason` (callers report
// "FILE:LINE: bad next hop 'TEXT': REASON").
std::optional<NextHop> parse_next_hop(std::string_view text, std::string& reason);

// The default routes: relay to `relayhost`, or MX delivery.
NextHop relay_hop(const std::vector<HostPort>& hosts);
NextHop mx_hop();

// Values for %u %r %s %l %d %i.
struct PlaceholderValues {
  std::string unix_user;  // %u
  std::string recipient;  // %r  local@domain (wire form of the local part)
  std::string sender;     // %s  "MAILER-DAEMON" for the null sender
  std::string local;      // %l  the recipient's local part, unquoted
  std::string domain;     // %d  the recipient's domain, lowercased
  std::string queue_id;   // %i
};
PlaceholderValues placeholder_values(const Address& recipient, const Address& sender,
                                     std::string unix_user, std::string queue_id);

// Replaces %u %r %s %l %d %i and %% in one argument or path (unknown % sequences are kept).
std::string expand_placeholders(std::string_view text, const PlaceholderValues& values);

}  // namespace mp::rewrite
