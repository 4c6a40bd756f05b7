// The spamd protocol (SPAMC/SPAMD, as SpamAssassin's spamd speaks it and Rspamd
// accepts it) as pure functions: the request head out, the reply parsed in. No I/O.
//
// Called by transports/spam_client.cpp (which owns the socket and the deadline)
// and unit tested with recorded spamd replies (tests/unit/transports/spam_protocol_test.cpp).
// One request per connection: "SYMBOLS SPAMC/1.5", `Content-length:` and
// `User:`, a blank line, the message; spamd answers and closes.
//
// Invariants of parse_spamd_reply(): it never reads past `data`; `complete` is only
// returned for a whole reply (status line, headers, and Content-length bytes of
// body, or the body up to EOF when there is no Content-length); any version
// "SPAMD/1.x" (or "RSPAMD/1.x") is accepted, 2.x and up are not; line ends may be
// CRLF or LF, and the last line may lack its line end when the server closed
// after it; header names are case-insensitive and spaces around names, values,
// ';' and '/' are ignored. A reply is at most kMaxSpamdReply bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mp::transports {

inline constexpr std::size_t kMaxSpamdReply = 1024 * 1024;

// "SYMBOLS SPAMC/1.5\r\nContent-length: N\r\nUser: USER\r\n\r\n" (no User: line when
// `user` is empty). `user` must be a safe_spamd_user().
std::string spamd_request_head(std::string_view command, std::string_view user,
                               std::size_t content_length);

// A user name that may go into a `User:` line: 1..128 bytes, no space, no control character.
bool safe_spamd_user(std::string_view user);

struct SpamdReply {
  int major = 1, minor = 0;  // protocol version of the status line
  int code = 0;              // 0 (EX_OK) or a sysexits code: 76 EX_PROTOCOL, 64 EX_USAGE...
  std::string message;       // "EX_OK", "PONG", "Bad header line: ..."
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, values trimmed
  bool has_spam = false;  // a well-formed Spam: header was present
  bool spam = false;      // Spam: True/Yes
  double score = 0, threshold = 0;
  std::string body;  // Content-length bytes (or up to EOF)

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // SYMBOLS: the rule names of the body ("GTUBE,NO_RECEIVED"), split on ',' and white space.
  std::vector<std::string> symbols() const;
};

struct SpamdParse {
  enum class Status { need_more, complete, malformed } status = Status::need_more;
  SpamdReply reply;   // complete
  std::string error;  // malformed: what is wrong
};

// Parses the bytes received so far. `at_eof`: the server has closed the connection.
SpamdParse parse_spamd_reply(std::string_view data, bool at_eof);

// A verdict as the spam stage uses it.
struct SpamVerdict {
  bool spam = false;
  double score = 0, threshold = 0;
  std::vector<std::string> tests;  // rule names; empty when spamd gave none
};

// The outcome of one scan: a verdict, or why there is none.
struct SpamCheck {
  bool ok = false;
  SpamVerdict verdict;  // ok
  std::string error;    // !ok: "connect: Connection refused", "spamd said: 76 Bad header line"
};

// A complete reply to CHECK/SYMBOLS as a SpamCheck: code 0 with a Spam: header is ok,
// anything else an error naming the reply.
SpamCheck spamd_verdict(const SpamdReply& reply);

}  // namespace mp::transports
