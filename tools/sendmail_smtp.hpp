// `mpsendmail -bs`: an SMTP dialogue on standard input and output, as Postfix's
// `sendmail -bs` speaks it (Symfony Mailer's and PHPMailer's default transport
// talks to it this way). Each message accepted at the end of DATA is handed to
// a callback that queues it the way mpsendmail queues its stdin.
//
// Called by tools/sendmail_modes.cpp, which reads stdin line by line and writes
// the replies. Pure: no I/O here; unit tested in tests/unit/tools. The peer is
// the local user who ran us, so this is not the network-facing smtpd: lines
// may end in LF or CRLF, there is no TLS, AUTH or BDAT, and the envelope
// sender is MAIL FROM (any local user may name one, as with -f).
// Invariants: a message is submitted only after its final "." line; every
// reply is CRLF-terminated; after QUIT (or an input error) done() is true and
// no further line is taken.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/reply.hpp"

namespace mp::submission {

struct SmtpMessage {
  Address sender;
  std::vector<Address> recipients;
  std::string content;  // CRLF lines, dots unstuffed, without the final "." line
  bool smtputf8 = false;
};

struct StdinSmtpSettings {
  std::string hostname;
  std::uint64_t message_size_limit = 10240000;  // 0: none
  unsigned max_recipients = 1000;
};

// Queues a message: "250 2.0.0 Ok: queued as ID", or a 4xx/5xx reply.
using SubmitFn = std::function<Reply(const SmtpMessage&)>;

class StdinSmtp {
 public:
  StdinSmtp(StdinSmtpSettings settings, SubmitFn submit);

  std::string greeting() const;  // "220 HOST ESMTP mailproc\r\n"
  // One input line without its LF (a trailing CR is dropped). Returns the
  // reply to write, empty inside DATA.
  std::string line(std::string_view text);
  // End of input: a message not finished with "." is dropped, nothing queued.
  void end_of_input();
  bool done() const { return done_; }
  bool in_data() const { return in_data_; }

 private:
  std::string command(std::string_view text);
  std::string data_line(std::string_view text);
  void reset();

  StdinSmtpSettings settings_;
  SubmitFn submit_;
  bool done_ = false;
  bool in_data_ = false;
  std::optional<SmtpMessage> mail_;
  bool too_big_ = false;
};

}  // namespace mp::submission
