// SMTP client protocol (RFC 5321, PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME RFC 6152,
// SMTPUTF8 RFC 6531, enhanced status codes RFC 3463/2034, LMTP RFC 2033): a pure state machine.
#include "transports/smtp_client_protocol.hpp"

#include <algorithm>
#include <cctype>

namespace mp::transports {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Length of an enhanced status code "C.SSS.DDD" at the start of `text` followed by a space or
// the end, whose class digit is `cls`; 0 when there is none.
std::size_t status_length(std::string_view text, char cls) {
  if (text.size() < 5 || text[0] != cls || text[1] != '.') return 0;
  std::size_t i = 2, n = 0;
  while (i < text.size() && is_digit(text[i]) && n < 3) ++i, ++n;
  if (n == 0 || i >= text.size() || text[i] != '.') return 0;
  ++i;
  n = 0;
  while (i < text.size() && is_digit(text[i]) && n < 3) ++i, ++n;
  if (n == 0) return 0;
  if (i < text.size() && text[i] != ' ') return 0;
  return i;
}

// A server's text reaches logs and bounces: control characters become '?'.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) c = '?';
  }
  return out;
}

Outcome failure_outcome(const Reply& r) {
  return r.permanent() ? Outcome::permfail : Outcome::tempfail;
}

bool is_2xx(const Reply& r) {
  return r.code >= 200 && r.code < 300;
}

}  // namespace

// ---- Replies -------------------------------------------------------------

ParsedReply parse_reply(std::string_view in) {
  ParsedReply p;
  auto malformed = [&p](std::string error) {
    p.status = ParsedReply::Status::malformed;
    p.error = std::move(error);
    return p;
  };
  std::vector<std::string_view> lines;
  int code = 0;
  std::size_t pos = 0;
  for (;;) {
    std::size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (in.size() > kMaxReplySize)
        return malformed("reply longer than " + std::to_string(kMaxReplySize) + " bytes");
      return p;  // incomplete
    }
    if (nl >= kMaxReplySize)
      return malformed("reply longer than " + std::to_string(kMaxReplySize) + " bytes");
    std::string_view line = in.substr(pos, nl - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    pos = nl + 1;
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '1' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      return malformed("bad reply line '" + printable(line.substr(0, 80)) + "'");
    }
    int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code != 0 && c != code) return malformed("reply lines with different codes");
    code = c;
    lines.push_back(line.size() > 4 ? line.substr(4) : std::string_view());
    if (line.size() <= 3 || line[3] == ' ') break;
  }
  p.status = ParsedReply::Status::ok;
  p.consumed = pos;
  p.reply.code = code;
  char cls = static_cast<char>('0' + code / 100);
  std::size_t slen = status_length(lines.front(), cls);
  if (slen > 0) p.reply.status = std::string(lines.front().substr(0, slen));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view text = lines[i];
    if (slen > 0 && text.starts_with(p.reply.status) && status_length(text, cls) == slen) {
      text.remove_prefix(std::min(text.size(), slen + 1));
    }
    if (i > 0) p.reply.text += '\n';
    p.reply.text += printable(text);
  }
  if (p.reply.status.empty() && (cls == '2' || cls == '4' || cls == '5')) {
    p.reply.status = std::string(1, cls) + ".0.0";
  }
  return p;
}

// ---- EHLO extensions -----------------------------------------------------

Extensions parse_extensions(const Reply& ehlo) {
  Extensions ext;
  ext.esmtp = is_2xx(ehlo);
  std::size_t pos = ehlo.text.find('\n');  // the first line is the server's name
  while (pos != std::string::npos) {
    std::size_t start = pos + 1;
    pos = ehlo.text.find('\n', start);
    std::string_view line = std::string_view(ehlo.text).substr(
        start, pos == std::string::npos ? std::string::npos : pos - start);
    std::size_t sp = line.find_first_of(" \t=");
    std::string keyword = upper(line.substr(0, sp));
    std::string_view param =
        sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "SIZE") {
      ext.size = true;
      std::uint64_t n = 0;
      bool ok = !param.empty();
      for (char c : param) {
        if (!is_digit(c) || n > (UINT64_MAX - 9) / 10) {
          ok = false;
          break;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      ext.size_limit = ok ? n : 0;
    } else if (keyword == "8BITMIME") {
      ext.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "CHUNKING") {
      ext.chunking = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      ext.enhancedstatuscodes = true;
    }
  }
  return ext;
}

// ---- The client ----------------------------------------------------------

SmtpClientProtocol::SmtpClientProtocol(ClientSettings settings) : settings_(std::move(settings)) {}

void SmtpClientProtocol::send(std::string_view line) {
  out_ += line;
  out_ += "\r\n";
  unsent_ = true;
}

void SmtpClientProtocol::written() {
  out_.clear();
  unsent_ = false;
}

ClientWait SmtpClientProtocol::wait() const {
  if (state_ == State::greeting) return ClientWait::greeting;
  if (state_ == State::transaction && !pending_.empty() && pending_.front().what == Expect::dot)
    return ClientWait::data;
  return ClientWait::command;
}

std::string SmtpClientProtocol::phase() const {
  switch (state_) {
    case State::greeting:
      return "receiving the initial server greeting";
    case State::ehlo:
      return settings_.lmtp ? "performing the LHLO handshake" : "performing the EHLO handshake";
    case State::helo:
      return "performing the HELO handshake";
    case State::starttls:
      return "sending STARTTLS";
    case State::ready:
      return "waiting for the next transaction";
    case State::rset:
      return "sending RSET";
    case State::quit:
      return "sending QUIT";
    case State::closed:
      return "closing the connection";
    case State::transaction:
      break;
  }
  if (pending_.empty()) return "sending MAIL FROM";
  switch (pending_.front().what) {
    case Expect::mail:
      return "sending MAIL FROM";
    case Expect::rcpt:
      return "sending RCPT TO";
    case Expect::data:
      return "sending DATA command";
    case Expect::dot:
    case Expect::dot_ignored:
      return unsent_ ? "sending message body"
                     : "sending end of data -- message may be sent more than once";
  }
  return "sending MAIL FROM";
}

void SmtpClientProtocol::fail_session(SessionFailure f, bool send_quit) {
  if (!f.try_next_host && tx_) decide_all(f.reply, failure_outcome(f.reply), f.command, f.remote);
  failure_ = std::move(f);
  pending_.clear();
  if (send_quit) {
    state_ = State::quit;
    step_ = ClientStep::reply;
    send("QUIT");
  } else {
    state_ = State::closed;
    step_ = ClientStep::closed;
  }
}

void SmtpClientProtocol::on_failure(Broken what, std::string_view detail) {
  if (state_ == State::closed) return;
  if (state_ == State::quit) {  // the transaction is over: nothing left to decide
    state_ = State::closed;
    step_ = ClientStep::closed;
    return;
  }
  std::string text;
  switch (what) {
    case Broken::lost_connection:
      text = "lost connection with " + settings_.peer + " while " + phase();
      break;
    case Broken::timeout:
      text = "conversation with " + settings_.peer + " timed out while " + phase();
      break;
    case Broken::malformed_reply:
      text = settings_.peer + " sent a malformed reply while " + phase();
      break;
  }
  if (!detail.empty()) text += ": " + std::string(detail);
  SessionFailure f{Reply{451, "4.4.2", text}, "", true, false};
  // Once the final "." went out the server may have taken the message: no other host.
  bool maybe_delivered = state_ == State::transaction && data_sent_ && !unsent_;
  if (maybe_delivered) f.try_next_host = false;
  fail_session(std::move(f), false);
}

bool SmtpClientProtocol::reply_fits(const Reply& r) const {
  int cls = r.code / 100;
  bool data =
      state_ == State::transaction && !pending_.empty() && pending_.front().what == Expect::data;
  if (data) return r.code == 354 || cls == 4 || cls == 5;  // RFC 5321 4.3.2: DATA
  return cls == 2 || cls == 4 || cls == 5;                 // a 354 answers nothing else
}

void SmtpClientProtocol::on_out_of_step(std::string_view detail) {
  if (state_ == State::closed) return;
  if (state_ == State::quit) {
    state_ = State::closed;
    step_ = ClientStep::closed;
    return;
  }
  std::string text = "lost synchronization with " + settings_.peer + " while " + phase();
  if (!detail.empty()) text += ": " + std::string(detail);
  SessionFailure f{Reply{451, "4.5.0", text}, "", true, false};
  if (state_ == State::transaction && data_sent_ && !unsent_) f.try_next_host = false;
  // No QUIT: the replies can no longer be matched to commands.
  fail_session(std::move(f), false);
}

void SmtpClientProtocol::on_reply(const Reply& r) {
  if (state_ == State::quit) {
    state_ = State::closed;
    step_ = ClientStep::closed;
    return;
  }
  if (state_ != State::closed && !reply_fits(r)) {
    return on_out_of_step("unexpected reply '" + r.line().substr(0, 100) + "'");
  }
  if (r.code == 421 && state_ != State::closed && state_ != State::ready) {
    // The server is going away; nothing more will be read. Nothing undecided was delivered.
    std::string command;
    if (state_ == State::transaction && !pending_.empty()) {
      switch (pending_.front().what) {
        case Expect::mail:
          command = "MAIL FROM";
          break;
        case Expect::rcpt:
          command = "RCPT TO";
          break;
        case Expect::data:
          command = "DATA";
          break;
        case Expect::dot:
        case Expect::dot_ignored:
          command = "end of DATA";
          break;
      }
    } else if (state_ == State::ehlo) {
      command = settings_.lmtp ? "LHLO" : "EHLO";
    } else if (state_ == State::helo) {
      command = "HELO";
    } else if (state_ == State::starttls) {
      command = "STARTTLS";
    } else if (state_ == State::rset) {
      command = "RSET";
    }
    fail_session(SessionFailure{r, command, true, true}, false);
    return;
  }
  if (state_ == State::transaction) {
    on_transaction_reply(r);
  } else {
    on_session_reply(r);
  }
}

void SmtpClientProtocol::on_session_reply(const Reply& r) {
  switch (state_) {
    case State::greeting:
      // A refused greeting (4xx, and 5xx too, as Postfix's smtp_skip_5xx_greeting) says
      // nothing about the mail: try the next host.
      if (!is_2xx(r)) return fail_session(SessionFailure{r, "", true, true}, true);
      state_ = State::ehlo;
      send(std::string(settings_.lmtp ? "LHLO " : "EHLO ") + settings_.helo_name);
      return;
    case State::ehlo:
      if (is_2xx(r)) {
        ext_ = parse_extensions(r);
        return after_hello(r);
      }
      if (r.permanent() && !settings_.lmtp) {
        state_ = State::helo;
        send("HELO " + settings_.helo_name);
        return;
      }
      return fail_session(SessionFailure{r, settings_.lmtp ? "LHLO" : "EHLO", !r.permanent(), true},
                          true);
    case State::helo:
      if (is_2xx(r)) {
        ext_ = Extensions{};
        return after_hello(r);
      }
      return fail_session(SessionFailure{r, "HELO", !r.permanent(), true}, true);
    case State::starttls:
      if (r.code == 220) {
        step_ = ClientStep::start_tls;
        return;
      }
      if (settings_.starttls == StartTls::required) {
        return fail_session(SessionFailure{Reply{451, "4.7.4",
                                                 "TLS is required, but host " + settings_.peer +
                                                     " refused to start TLS: " + r.line()},
                                           "STARTTLS", true, false},
                            true);
      }
      state_ = State::ready;  // opportunistic TLS: carry on in plaintext
      step_ = ClientStep::ready;
      return;
    case State::rset:
      if (is_2xx(r)) {
        state_ = State::ready;
        step_ = ClientStep::ready;
        return;
      }
      return fail_session(SessionFailure{r, "RSET", false, true}, true);
    case State::ready:
    case State::closed:
    case State::quit:
    case State::transaction:
      return;  // nothing was asked: ignore
  }
}

void SmtpClientProtocol::after_hello(const Reply&) {
  if (!tls_active_ && settings_.starttls != StartTls::never) {
    if (ext_.starttls) {
      state_ = State::starttls;
      send("STARTTLS");
      return;
    }
    if (settings_.starttls == StartTls::required) {
      return fail_session(
          SessionFailure{
              Reply{451, "4.7.4", "TLS is required, but was not offered by host " + settings_.peer},
              "", true, false},
          true);
    }
  }
  state_ = State::ready;
  step_ = ClientStep::ready;
}

void SmtpClientProtocol::tls_started() {
  tls_active_ = true;
  ext_ = Extensions{};
  state_ = State::ehlo;
  step_ = ClientStep::reply;
  send(std::string(settings_.lmtp ? "LHLO " : "EHLO ") + settings_.helo_name);
}

void SmtpClientProtocol::tls_failed(std::string_view detail) {
  if (state_ != State::starttls) return;
  std::string text = "Cannot start TLS: handshake failure with " + settings_.peer;
  if (!detail.empty()) text += ": " + std::string(detail);
  fail_session(SessionFailure{Reply{451, "4.7.5", text}, "STARTTLS", true, false}, false);
}

std::string SmtpClientProtocol::mail_command() const {
  const Transaction& tx = *tx_;
  bool utf8 = ext_.smtputf8 &&
              (tx.smtputf8 || needs_smtputf8(tx.sender, tx.recipients, *tx.message, false));
  std::string cmd = "MAIL FROM:" + tx.sender.bracketed();
  if (ext_.size) {
    std::uint64_t size = tx.message->size();
    if (!tx.message->empty() && !tx.message->ends_with('\n')) size += 2;
    cmd += " SIZE=" + std::to_string(size);
  }
  if ((tx.eightbit || utf8) && ext_.eightbitmime) cmd += " BODY=8BITMIME";
  if (utf8) cmd += " SMTPUTF8";
  return cmd;
}

void SmtpClientProtocol::begin(Transaction tx) {
  if (state_ != State::ready) return;
  if (!tx.message) tx.message = std::make_shared<const std::string>();
  tx_ = std::move(tx);
  results_.assign(tx_->recipients.size(), ClientResult{});
  pending_.clear();
  accepted_.clear();
  next_rcpt_ = 0;
  mail_failed_ = false;
  data_sent_ = false;
  state_ = State::transaction;
  step_ = ClientStep::reply;

  if (!ext_.smtputf8 &&
      needs_smtputf8(tx_->sender, tx_->recipients, *tx_->message, tx_->smtputf8)) {
    decide_all(
        Reply{550, "5.6.7", "SMTPUTF8 is required, but was not offered by host " + settings_.peer},
        Outcome::permfail, "", false);
    return end_transaction();
  }
  if (ext_.size && ext_.size_limit > 0 && tx_->message->size() > ext_.size_limit) {
    decide_all(
        Reply{552, "5.3.4",
              "message size " + std::to_string(tx_->message->size()) + " exceeds size limit " +
                  std::to_string(ext_.size_limit) + " of server " + settings_.peer},
        Outcome::permfail, "", false);
    return end_transaction();
  }
  send(mail_command());
  pending_.push_back({Expect::mail, 0});
  if (ext_.pipelining) {  // RFC 2920: MAIL, every RCPT and DATA in one batch
    for (std::size_t i = 0; i < tx_->recipients.size(); ++i) send_rcpt(i);
    send("DATA");
    pending_.push_back({Expect::data, 0});
    next_rcpt_ = tx_->recipients.size();
  }
}

void SmtpClientProtocol::send_rcpt(std::size_t i) {
  send("RCPT TO:" + tx_->recipients[i].bracketed());
  pending_.push_back({Expect::rcpt, i});
}

void SmtpClientProtocol::after_envelope() {
  if (ext_.pipelining) return;  // everything was sent already
  if (mail_failed_) return;     // nothing more to send: the transaction ends
  if (next_rcpt_ < tx_->recipients.size()) return send_rcpt(next_rcpt_++);
  if (!accepted_.empty() && pending_.empty()) {
    send("DATA");
    pending_.push_back({Expect::data, 0});
  }
}

void SmtpClientProtocol::send_content() {
  if (transaction_failed_early()) {
    // The server wants data although nothing can be delivered (pipelining): end it empty.
    send(".");
    pending_.push_back({Expect::dot_ignored, 0});
    return;
  }
  out_ += dot_stuff(*tx_->message);
  unsent_ = true;
  data_sent_ = true;
  std::size_t replies = settings_.lmtp ? accepted_.size() : 1;
  for (std::size_t k = 0; k < replies; ++k) pending_.push_back({Expect::dot, k});
}

void SmtpClientProtocol::on_transaction_reply(const Reply& r) {
  if (pending_.empty()) return;  // nothing was asked: ignore
  Pending p = pending_.front();
  pending_.pop_front();
  switch (p.what) {
    case Expect::mail:
      if (!is_2xx(r)) {
        mail_failed_ = true;
        decide_all(r, failure_outcome(r), "MAIL FROM", true);
      }
      after_envelope();
      break;
    case Expect::rcpt:
      if (!mail_failed_) {
        if (is_2xx(r)) {
          accepted_.push_back(p.index);
        } else {
          decide(p.index, r, failure_outcome(r), "RCPT TO", true);
        }
      }
      after_envelope();
      break;
    case Expect::data:
      if (r.code == 354) {
        send_content();
      } else if (!transaction_failed_early()) {
        decide_accepted(r, failure_outcome(r), "DATA", true);
      }
      break;
    case Expect::dot: {
      Outcome o = is_2xx(r) ? Outcome::ok : failure_outcome(r);
      if (settings_.lmtp) {
        if (p.index < accepted_.size()) decide(accepted_[p.index], r, o, "end of DATA", true);
      } else {
        decide_accepted(r, o, "end of DATA", true);
      }
      break;
    }
    case Expect::dot_ignored:
      break;
  }
  if (pending_.empty() && state_ == State::transaction) end_transaction();
}

void SmtpClientProtocol::end_transaction() {
  pending_.clear();
  state_ = State::ready;
  step_ = ClientStep::ready;
}

void SmtpClientProtocol::reset() {
  if (state_ != State::ready) return;
  state_ = State::rset;
  step_ = ClientStep::reply;
  send("RSET");
}

void SmtpClientProtocol::quit() {
  if (state_ == State::closed || state_ == State::quit) return;
  pending_.clear();
  state_ = State::quit;
  step_ = ClientStep::reply;
  send("QUIT");
}

void SmtpClientProtocol::decide(std::size_t i, const Reply& r, Outcome o, std::string_view command,
                                bool remote) {
  if (i >= results_.size() || results_[i].decided) return;
  results_[i] = ClientResult{true, remote, o, r, std::string(command)};
}

void SmtpClientProtocol::decide_accepted(const Reply& r, Outcome o, std::string_view command,
                                         bool remote) {
  for (std::size_t i : accepted_) decide(i, r, o, command, remote);
}

void SmtpClientProtocol::decide_all(const Reply& r, Outcome o, std::string_view command,
                                    bool remote) {
  for (std::size_t i = 0; i < results_.size(); ++i) decide(i, r, o, command, remote);
}

}  // namespace mp::transports
