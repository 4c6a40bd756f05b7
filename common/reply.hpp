// An SMTP reply: code, enhanced status (RFC 3463) and text. Produced by the
// smtpd state machine and by transports (the next hop's answer).
#pragma once

#include <string>
#include <string_view>

namespace mp {

struct Reply {
  int code = 0;        // 250, 451, ...
  std::string status;  // "2.0.0"; empty when none applies (220, 354, EHLO lines)
  std::string text;    // may hold '\n' for a multi-line reply

  // Wire form, CRLF-terminated, "250-" continuation lines for multi-line text.
  std::string wire() const;
  // One line for logs and NDRs: "451 4.3.0 text" (lines joined with a space).
  std::string line() const;
  // The text's non-empty lines joined by single spaces (what line() puts after the status).
  std::string joined_text() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

}  // namespace mp
