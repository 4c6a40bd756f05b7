// RFC 5321 envelope addresses (Mailbox / Reverse-path / Forward-path).
//
// Used by smtpd (MAIL/RCPT arguments), the queue (envelope files), rewrite
// (routing decisions), mpsendmail and `mailprocd route` (plain addresses).
// Invariants: a parsed Address never contains CR, LF, NUL or other control
// characters; `local` keeps the wire form (a quoted local part keeps its
// quotes) so mail is forwarded exactly as received; the null path <> is the
// Address with both parts empty. Source routes (@a,@b:u@d) are reduced to u@d.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mp {

struct Address {
  std::string local;   // wire form: dot-string, or quoted-string with its quotes
  std::string domain;  // as given: name, or address literal "[1.2.3.4]" / "[IPv6:...]"

  bool is_null() const { return local.empty() && domain.empty(); }
  std::string str() const;             // "local@domain", "" for the null path, "postmaster" alone
  std::string bracketed() const;       // "<local@domain>" or "<>"
  std::string local_unquoted() const;  // quoted-string decoded ("a b" for "\"a b\"")
  std::string domain_lower() const;    // ASCII-lowercased domain
  bool needs_smtputf8() const;         // any octet >= 0x80 in local or domain
  friend bool operator==(const Address&, const Address&) = default;
};

struct PathOptions {
  bool allow_null = false;        // "<>" accepted (MAIL FROM, and the sender in files)
  bool allow_utf8 = false;        // UTF-8 in local part and domain (SMTPUTF8 given)
  bool allow_postmaster = false;  // "<Postmaster>" without a domain (RCPT TO, RFC 5321 4.5.1)
};

// Parses a bracketed path as it follows "MAIL FROM:" / "RCPT TO:", e.g.
// "<a@b.example>" or "<@x,@y:a@b.example>". `consumed` (if given) receives how
// many characters were used, so the caller can parse ESMTP parameters after it.
// On failure returns nullopt and sets `error` to a short reason for the reply.
std::optional<Address> parse_path(std::string_view in, const PathOptions& opts, std::string& error,
                                  std::size_t* consumed = nullptr);

// Parses an unbracketed address "user@domain" (also accepts "<user@domain>" and,
// with allow_null, "" / "<>"). Used for config files, command lines, headers.
std::optional<Address> parse_address(std::string_view in, const PathOptions& opts,
                                     std::string& error);

}  // namespace mp
