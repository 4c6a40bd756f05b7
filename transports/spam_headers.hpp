// The spam stage's marks on a message: X-Spam-Flag, X-Spam-Score, X-Spam-Status.
//
// Called by transports::SpamStage on the copy of the message it hands to the next
// hop; pure functions, unit tested in tests/unit/transports/spam_headers_test.cpp.
// Invariants: the result always carries exactly the headers written here and no
// other X-Spam-* field: every incoming `X-Spam:` or `X-Spam-*:` field (with its
// continuation lines, any case, with or without space before the colon) is
// removed first, so a forged `X-Spam-Flag: NO` never survives; the rest of the
// message is kept byte for byte; new lines end in CRLF and stay under 78
// characters (long test lists are folded).
//   scanned:   X-Spam-Flag: YES|NO, X-Spam-Score: 1000.0,
//              X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED
//   unscanned: X-Spam-Status: unscanned (REASON)
#pragma once

#include <string>
#include <string_view>

#include "transports/spam_protocol.hpp"

namespace mp::transports {

// The message (headers + body, CRLF lines) without any X-Spam / X-Spam-* header field.
std::string strip_spam_headers(std::string_view message);

// The three header lines for a verdict (CRLF-terminated).
std::string spam_header_lines(const SpamVerdict& verdict);

// strip_spam_headers(), then the verdict's headers in front.
std::string tag_scanned(std::string_view message, const SpamVerdict& verdict);

// strip_spam_headers(), then "X-Spam-Status: unscanned (REASON)" in front. `reason` is
// reduced to printable ASCII and shortened.
std::string tag_unscanned(std::string_view message, std::string_view reason);

// "1000.0", "-2.3", "0.0" (never "-0.0").
std::string format_score(double score);

}  // namespace mp::transports
