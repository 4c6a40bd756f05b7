// The local submission protocol: how mpsendmail, run by a user who may not
// write the spool, hands a message to mailprocd over its submit socket.
//
// Written by tools/submit_client (mpsendmail), read by tools/submit_server
// (mailprocd). Pure: no I/O here, so both ends and their tests share it.
//
//   client → server   "MAILPROC-SUBMIT 1\n"
//                     "sender <a@b>\n"            (<> for the null sender)
//                     "rcpt <c@d>\n"              (one or more)
//                     "size N\n"
//                     "\n"
//                     N octets of content         (CRLF lines, no Received: of ours)
//   server → client   "ok QUEUEID\n"              only once durably queued
//                     "tempfail TEXT\n"           try later (exit 75)
//                     "fail TEXT\n"               refused for good (exit 65)
//
// Invariants: the server trusts nothing the client sends: addresses are parsed
// as SMTP paths, the header is bounded (kMaxHeader), the content must be
// CRLF-clean (no bare CR or LF) and within message_size_limit. Who submitted
// is the socket peer's uid (SO_PEERCRED), never a client claim.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/envelope.hpp"

namespace mp::submit {

inline constexpr std::string_view kMagic = "MAILPROC-SUBMIT 1";
inline constexpr std::size_t kMaxHeader = 1024 * 1024;  // sender + rcpt + size lines

// The request header (everything up to and including the empty line).
std::string encode_request_header(const Envelope& env, std::size_t content_size);

struct RequestHeader {
  Address sender;
  std::vector<Address> recipients;
  std::size_t size = 0;
};

// Parses a complete header (`text` ends with "\n\n"). nullopt with `error`.
std::optional<RequestHeader> parse_request_header(std::string_view text, std::string& error);

// Where the header ends in `buffer` (one past the "\n\n"), or 0 when not yet.
std::size_t header_end(std::string_view buffer);

// True when every CR is followed by LF, every LF preceded by CR, and the
// content is empty or ends with CRLF.
bool crlf_clean(std::string_view content);

enum class Outcome { ok, tempfail, fail };
struct Response {
  Outcome outcome = Outcome::tempfail;
  std::string text;  // the queue ID for ok, else the reason
};
std::string encode_response(const Response& r);                 // one line, "\n" ended
std::optional<Response> parse_response(std::string_view line);  // without the "\n"

}  // namespace mp::submit
