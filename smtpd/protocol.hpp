// The SMTP/LMTP server protocol as a pure state machine: bytes in, replies and
// actions out, no I/O (DESIGN: "the SMTP session is a pure state machine").
//
// Called by smtpd/net/session.cpp, which owns the socket: it feeds received
// bytes to consume(), writes output() to the client before it blocks on the
// next read (so pipelined replies go out in one batch), and acts on action():
//   commit     — take_draft(), make it durable (queue::Writer), then committed();
//   start_tls  — send the pending output, drop any buffered plaintext, do the
//                TLS handshake, then tls_started() (state reset, RFC 3207);
//   close      — send the pending output and close the connection.
// While an action is pending consume() takes no input. Unit tested on its own
// (tests/unit/smtpd/protocol_test.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/config.hpp"
#include "common/reply.hpp"
#include "queue/writer.hpp"
#include "smtpd/bdat_reader.hpp"
#include "smtpd/command.hpp"
#include "smtpd/dot_reader.hpp"
#include "smtpd/session_record.hpp"

namespace mp::smtpd {

struct ProtocolSettings {
  std::string hostname;
  std::string banner;  // the SMTP greeting's text; empty: "HOSTNAME ESMTP"
  bool lmtp = false;
  bool tls_offered = false;  // STARTTLS may be advertised (certificate configured)
  std::uint64_t message_size_limit = 10240000;  // 0: no limit
  unsigned max_recipients = 1000;
  BareNewline bare_newline = BareNewline::reject;
  unsigned max_errors = 20;
  std::size_t max_line = 1000;  // command line limit in octets, CRLF included (RFC 5321 4.5.3.1.4)
};

struct ClientInfo {
  std::string addr;  // "127.0.0.1"
  std::string name;  // reverse name or "unknown"
};

// What the outside world decides for the protocol, without I/O.
struct ProtocolHooks {
  // RCPT check: nullopt accepts; a reply refuses (relay control, unknown user...).
  std::function<std::optional<Reply>(const Address& sender, const Address& rcpt)> check_recipient;
  // Starts a queue draft for the finished envelope (queue::Writer::begin).
  std::function<std::unique_ptr<queue::Draft>(Envelope)> begin_draft;
  // "Sun, 22 Nov 2026 10:00:00 +0000" for the Received header (a clock for tests).
  std::function<std::string()> date;
  // A line for the log the protocol decided on ("NOQUEUE: reject: RCPT from ...").
  std::function<void(const std::string&)> log;
};

enum class Action { none, commit, start_tls, close };

class Protocol {
 public:
  Protocol(ProtocolSettings settings, ClientInfo client, ProtocolHooks hooks);

  void greet();                 // queues the 220 banner
  void refuse(const Reply& r);  // queues r (e.g. 421 over limits) and closes

  // Feeds received bytes; returns how many were consumed (the rest must be fed again
  // later, with more data appended). Consumes nothing while action() != none.
  std::size_t consume(std::string_view in);

  // The read deadline passed: queues 421 and closes.
  void timed_out();

  std::string& output() { return out_; }
  Action action() const { return action_; }

  // Action::commit: the finished draft; then committed() with the result.
  std::unique_ptr<queue::Draft> take_draft();
  void committed(const queue::CommitResult& result);

  // Action::start_tls: the handshake succeeded; the session state is reset.
  void tls_started();
  bool tls_active() const { return tls_active_; }

  // Commands consumed so far (for logs) and whether a transaction is open.
  bool in_transaction() const { return mail_.has_value(); }
  // "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4", for the disconnect line.
  std::string command_counts() const { return counts_.text(); }
  // The Message-ID of the last message begun ("" when it has none).
  std::string message_id() const { return header_scan_.message_id(); }

  // For the session's deadlines (ClientDeadline) and its timeout log line.
  bool reading_message() const { return mode_ != Mode::command; }  // DATA or a BDAT chunk
  bool in_long_line() const { return discarding_line_; }    // inside an over-long command line
  std::uint64_t lines_read() const { return lines_read_; }  // complete command lines so far
  // The verb of the last command line ("MAIL"), "CONNECT" before the first,
  // "END-OF-MESSAGE" after a message's data (Postfix's names in "timeout after ...").
  std::string_view last_command() const { return last_command_; }

 private:
  enum class Mode { command, data, bdat };

  std::size_t consume_command(std::string_view in);
  std::size_t consume_data(std::string_view in);
  std::size_t consume_bdat(std::string_view in);
  void on_command(std::string_view line);
  void on_hello(const Command& c);
  void on_mail(const Command& c);
  void on_rcpt(const Command& c);
  void on_data();
  void on_bdat(const Command& c);
  void start_message();
  void finish_message();
  void reset_transaction();
  void reply(int code, std::string_view status, std::string_view text);
  void error_reply(int code, std::string_view status, std::string_view text);
  void append_content(std::string_view bytes);
  std::string received_header(const std::string& id) const;
  std::string protocol_name() const;
  void log_rcpt_reject(const Address& rcpt, int code, std::string_view status,
                       std::string_view text) const;

  ProtocolSettings settings_;
  ClientInfo client_;
  ProtocolHooks hooks_;
  std::string out_;
  Action action_ = Action::none;
  Mode mode_ = Mode::command;
  unsigned errors_ = 0;
  bool tls_active_ = false;
  bool discarding_line_ = false;  // inside an over-long command line
  CommandCounts counts_;
  std::optional<Verb> counting_;  // the command the next final reply answers
  HeaderScan header_scan_;
  std::uint64_t lines_read_ = 0;
  std::string_view last_command_ = "CONNECT";

  // Session state.
  std::string helo_;
  bool esmtp_ = false;

  // Transaction state.
  struct Mail {
    Address sender;
    bool smtputf8 = false;
    bool eightbit = false;
  };
  std::optional<Mail> mail_;
  std::vector<Address> rcpts_;
  std::unique_ptr<queue::Draft> draft_;
  std::optional<DotReader> dot_;    // DATA content
  std::optional<BdatReader> bdat_;  // BDAT content (all chunks of the message)
  std::string chunk_;               // scratch buffer for unstuffed content
  std::uint64_t content_size_ = 0;
  bool too_big_ = false;
  std::uint64_t bdat_left_ = 0;  // bytes of the current chunk still to read
  bool bdat_last_ = false;
  std::optional<Reply> bdat_error_;  // reply for a chunk whose command was refused
};

}  // namespace mp::smtpd
