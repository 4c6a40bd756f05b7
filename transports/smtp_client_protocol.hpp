// The SMTP/LMTP client protocol as a pure state machine: server replies in,
// commands and message data out, one decision per recipient. No I/O.
//
// Called by transports/net/smtp_connection.cpp (the coroutine that owns the
// socket and the deadlines) and unit tested with scripted server replies
// (tests/unit/transports/smtp_client_protocol_test.cpp). The driver loop:
//   step() == reply     — write output() (then call written(), which clears it),
//                         read one complete reply (parse_reply), give it to on_reply();
//   step() == start_tls — write output(), do the TLS handshake, tls_started() (or
//                         tls_failed() when the handshake failed);
//   step() == ready     — the session is open and no transaction is running:
//                         begin() one, or reset() / quit();
//   step() == closed    — close the connection (failure() says why, if it failed).
// A broken connection, a timeout or a malformed reply is reported with
// on_failure(). wait() tells which deadline applies to the pending I/O.
//
// Invariants: results() has one entry per recipient of the current transaction,
// in order; an entry, once decided, never changes. A session failure before
// the message content was fully sent (connection trouble, a 421, a refused
// greeting or EHLO 4xx) leaves the undecided recipients undecided and sets
// failure()->try_next_host, so the caller can give them to the next host;
// after the final "." was sent, connection trouble is a tempfail (the message
// may have been delivered). A message that needs SMTPUTF8 is never sent to a
// server that does not offer it (permfail 5.6.7, no MAIL command).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/reply.hpp"
#include "transports/smtp_message_data.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

// ---- Replies -------------------------------------------------------------

// A reply longer than this (all lines) is malformed: a server cannot make us buffer forever.
inline constexpr std::size_t kMaxReplySize = 64 * 1024;

struct ParsedReply {
  enum class Status { incomplete, ok, malformed } status = Status::incomplete;
  Reply reply;               // ok: code, enhanced status (given or derived X.0.0), text lines
  std::size_t consumed = 0;  // ok: bytes of `in` the reply used
  std::string error;         // malformed: what is wrong
};

// Parses one (possibly multi-line) reply at the start of `in`. Lines end in CRLF (a bare LF
// is tolerated). An enhanced status code ("4.2.1 ") at the start of the lines is moved from
// the text into Reply::status; without one, a 2xx/4xx/5xx reply gets "X.0.0".
ParsedReply parse_reply(std::string_view in);

// ---- EHLO extensions -----------------------------------------------------

struct Extensions {
  bool esmtp = false;  // EHLO (or LHLO) answered 2xx
  bool pipelining = false;
  bool size = false;
  std::uint64_t size_limit = 0;  // SIZE n; 0: no limit announced
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool chunking = false;
  bool enhancedstatuscodes = false;
};

// The keywords of a 2xx EHLO/LHLO reply (the lines after the first), case-insensitive.
Extensions parse_extensions(const Reply& ehlo);

// ---- The client ----------------------------------------------------------

enum class StartTls { never, if_offered, required };

// Deadlines of one connection (Postfix's defaults: smtp_connect_timeout,
// smtp_helo_timeout, the command timeouts, smtp_data_done_timeout). The data
// limit covers each written chunk of the message and the reply to the final ".".
struct ClientTimeouts {
  std::chrono::milliseconds connect{std::chrono::seconds(30)};
  std::chrono::milliseconds greeting{std::chrono::seconds(300)};
  std::chrono::milliseconds command{std::chrono::seconds(300)};
  std::chrono::milliseconds data{std::chrono::seconds(600)};
};

struct ClientSettings {
  std::string helo_name = "localhost";  // EHLO/HELO/LHLO argument (myhostname)
  std::string peer = "unknown";         // "host[1.2.3.4]", for our own failure texts
  bool lmtp = false;                    // LHLO, one reply per accepted recipient after data
  StartTls starttls = StartTls::never;  // issue 4: TLS on outbound connections
};

struct Transaction {
  Address sender;
  std::vector<Address> recipients;             // at least one
  std::shared_ptr<const std::string> message;  // CRLF lines, not dot-stuffed
  bool smtputf8 = false;                       // the submitter asked for SMTPUTF8
  bool eightbit = false;                       // the submitter said BODY=8BITMIME
};

struct ClientResult {
  bool decided = false;
  bool remote = false;  // decided by a server reply (else by us: size, SMTPUTF8, lost connection)
  Outcome outcome = Outcome::tempfail;
  Reply reply;
  // The command the reply answered ("MAIL FROM", "RCPT TO", "DATA", "end of DATA") for the
  // log's "(in reply to ... command)"; empty when the decision is ours (no server reply).
  std::string command;
};

struct SessionFailure {
  Reply reply;                 // the server's reply, or ours ("lost connection with ...")
  std::string command;         // as in ClientResult; empty for the greeting
  bool try_next_host = false;  // nothing was delivered here: another host may be tried
  bool remote = false;         // `reply` came from the server
};

enum class ClientStep { reply, start_tls, ready, closed };
enum class ClientWait { greeting, command, data };
enum class Broken { lost_connection, timeout, malformed_reply };

class SmtpClientProtocol {
 public:
  explicit SmtpClientProtocol(ClientSettings settings);

  // ---- for the driver
  ClientStep step() const { return step_; }
  ClientWait wait() const;  // which deadline applies to the pending write/read
  std::string& output() { return out_; }
  void written();  // output() was sent: clears it
  void on_reply(const Reply& reply);
  void on_failure(Broken what, std::string_view detail = {});
  // Out of step: the server sent a reply that no command in flight can have (a 354 to
  // MAIL or RCPT, a 250 to DATA — RFC 5321 4.3.2; on_reply() checks every reply), or bytes
  // when nothing was asked (the driver reports those). Closed without QUIT, failure()
  // "lost synchronization with host[ip] while ..." (4.5.0); the undecided recipients stay
  // undecided with try_next_host, unless the final "." went out (then tempfail): the
  // connection is never reused, and nothing is sent twice because of it.
  void on_out_of_step(std::string_view detail = {});
  void tls_started();  // after a successful handshake: EHLO again
  // The TLS handshake after STARTTLS failed: closed (no QUIT, the stream is unusable) with
  // failure() "Cannot start TLS: handshake failure" (4.7.5) and try_next_host set.
  void tls_failed(std::string_view detail = {});
  // What we are doing, for texts: "receiving the initial server greeting", "sending RCPT TO"...
  std::string phase() const;

  // ---- the session
  const Extensions& extensions() const { return ext_; }
  bool tls_active() const { return tls_active_; }
  const std::optional<SessionFailure>& failure() const { return failure_; }

  // ---- transactions (only when step() == ready)
  void begin(Transaction tx);
  const std::vector<ClientResult>& results() const { return results_; }
  void reset();  // RSET, back to ready (connection reuse, issue 4)
  void quit();   // QUIT; closed after the reply (or any failure)

 private:
  enum class State { greeting, ehlo, helo, starttls, ready, transaction, rset, quit, closed };
  enum class Expect { mail, rcpt, data, dot, dot_ignored };
  struct Pending {
    Expect what;
    std::size_t index = 0;  // rcpt: the recipient; dot in LMTP: the accepted recipient
  };

  void send(std::string_view line);
  bool reply_fits(const Reply& r) const;
  void on_session_reply(const Reply& r);
  void on_transaction_reply(const Reply& r);
  void after_hello(const Reply& r);
  void send_rcpt(std::size_t i);
  void after_envelope();  // non-pipelined: next RCPT, DATA or the end
  void send_content();
  void end_transaction();
  void fail_session(SessionFailure f, bool send_quit);
  void decide(std::size_t i, const Reply& r, Outcome o, std::string_view command, bool remote);
  void decide_accepted(const Reply& r, Outcome o, std::string_view command, bool remote);
  void decide_all(const Reply& r, Outcome o, std::string_view command, bool remote);
  std::string mail_command() const;
  bool transaction_failed_early() const { return mail_failed_ || accepted_.empty(); }

  ClientSettings settings_;
  State state_ = State::greeting;
  ClientStep step_ = ClientStep::reply;
  std::string out_;
  bool unsent_ = false;  // output() holds bytes the driver has not reported written
  Extensions ext_;
  bool tls_active_ = false;
  std::optional<SessionFailure> failure_;

  std::optional<Transaction> tx_;
  std::vector<ClientResult> results_;
  std::deque<Pending> pending_;
  std::vector<std::size_t> accepted_;  // recipients whose RCPT got 2xx, in order
  std::size_t next_rcpt_ = 0;          // non-pipelined: the next RCPT to send
  bool mail_failed_ = false;
  bool data_sent_ = false;  // the final "." went out: trouble now may mean duplicates
};

}  // namespace mp::transports
