#include "smtpd/protocol.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace mp::smtpd {
namespace {}  // namespace

Protocol::Protocol(ProtocolSettings settings, ClientInfo client, ProtocolHooks hooks)
    : settings_(std::move(settings)), client_(std::move(client)), hooks_(std::move(hooks)) {}

void Protocol::greet() {
  // smtpd_banner is the SMTP greeting; LMTP listeners name their protocol (RFC 2033 4.1).
  if (settings_.lmtp)
    reply(220, "", settings_.hostname + " LMTP mailproc");
  else
    reply(220, "", settings_.banner.empty() ? settings_.hostname + " ESMTP" : settings_.banner);
}

void Protocol::refuse(const Reply& r) {
  out_ += r.wire();
  action_ = Action::close;
}

void Protocol::timed_out() {
  reply(421, "4.4.2", settings_.hostname + " Error: timeout exceeded");
  action_ = Action::close;
}

void Protocol::reply(int code, std::string_view status, std::string_view text) {
  out_ += Reply{code, std::string(status), std::string(text)}.wire();
  if (counting_ && code != 354) {  // DATA counts by its final reply
    counts_.count(*counting_, code < 400);
    counting_.reset();
  }
}

void Protocol::log_rcpt_reject(const Address& rcpt, int code, std::string_view status,
                               std::string_view text) const {
  if (!hooks_.log) return;
  std::string line = "NOQUEUE: reject: RCPT from " + client_.name + "[" + client_.addr +
                     "]: " + std::to_string(code) + " " + std::string(status) + " " +
                     std::string(text) + "; from=" + mail_->sender.bracketed() +
                     " to=" + rcpt.bracketed() + " proto=" +
                     (settings_.lmtp ? "LMTP"
                      : esmtp_       ? "ESMTP"
                                     : "SMTP");
  if (!helo_.empty()) line += " helo=<" + helo_ + ">";
  hooks_.log(line);
}

void Protocol::error_reply(int code, std::string_view status, std::string_view text) {
  reply(code, status, text);
  if (++errors_ >= settings_.max_errors && action_ == Action::none) {
    reply(421, "4.7.0", settings_.hostname + " Error: too many errors");
    action_ = Action::close;
  }
}

std::size_t Protocol::consume(std::string_view in) {
  std::size_t used = 0;
  while (used < in.size() && action_ == Action::none) {
    std::string_view rest = in.substr(used);
    std::size_t n = 0;
    switch (mode_) {
      case Mode::command:
        n = consume_command(rest);
        break;
      case Mode::data:
        n = consume_data(rest);
        break;
      case Mode::bdat:
        n = consume_bdat(rest);
        break;
    }
    if (n == 0) break;  // needs more input
    used += n;
  }
  return used;
}

// One command line per call. A line ends at LF (CRLF or, leniently, bare LF);
// a line longer than max_line is answered once and discarded up to its end.
std::size_t Protocol::consume_command(std::string_view in) {
  std::size_t lf = in.find('\n');
  if (discarding_line_) {
    if (lf == std::string_view::npos) return in.size();
    discarding_line_ = false;
    ++lines_read_;
    return lf + 1;
  }
  if (lf == std::string_view::npos) {
    if (in.size() >= settings_.max_line) {
      error_reply(500, "5.5.2", "Error: line too long");
      discarding_line_ = true;
      return in.size();
    }
    return 0;
  }
  ++lines_read_;
  if (lf + 1 > settings_.max_line) {
    error_reply(500, "5.5.2", "Error: line too long");
    return lf + 1;
  }
  std::string_view line = in.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  on_command(line);
  return lf + 1;
}

void Protocol::on_command(std::string_view line) {
  ParseOptions opts;
  opts.smtputf8 = mail_ && mail_->smtputf8;
  ParseResult parsed = parse_command(line, opts);
  counting_ = parsed.verb;  // known even when its arguments are refused
  last_command_ = verb_name(parsed.verb);
  if (!parsed.command) {
    const Reply& e = parsed.error;
    error_reply(e.code, e.status, e.text);
    return;
  }
  const Command& c = *parsed.command;
  switch (c.verb) {
    case Verb::helo:
    case Verb::ehlo:
    case Verb::lhlo:
      on_hello(c);
      break;
    case Verb::mail:
      on_mail(c);
      break;
    case Verb::rcpt:
      on_rcpt(c);
      break;
    case Verb::data:
      on_data();
      break;
    case Verb::bdat:
      on_bdat(c);
      break;
    case Verb::rset:
      reset_transaction();
      reply(250, "2.0.0", "Ok");
      break;
    case Verb::noop:
      reply(250, "2.0.0", "Ok");
      break;
    case Verb::quit:
      reply(221, "2.0.0", "Bye");
      action_ = Action::close;
      break;
    case Verb::vrfy:
      reply(252, "2.0.0", "Cannot VRFY user, but will accept message");
      break;
    case Verb::expn:
      error_reply(502, "5.5.1", "Error: command not implemented");
      break;
    case Verb::help:
      reply(214, "2.0.0", "See RFC 5321");
      break;
    case Verb::starttls:
      if (!settings_.tls_offered || settings_.lmtp) {
        error_reply(502, "5.5.1", "Error: command not implemented");
      } else if (tls_active_) {
        error_reply(554, "5.5.1", "Error: TLS already active");
      } else if (mail_) {
        error_reply(503, "5.5.1", "Error: MAIL transaction in progress");
      } else {
        reply(220, "2.0.0", "Ready to start TLS");
        action_ = Action::start_tls;
      }
      break;
    case Verb::auth:
      error_reply(502, "5.5.1", "Error: authentication not enabled");
      break;
    case Verb::unknown:
      error_reply(500, "5.5.2", "Error: command not recognized");
      break;
  }
}

void Protocol::on_hello(const Command& c) {
  if (settings_.lmtp != (c.verb == Verb::lhlo)) {
    error_reply(500, "5.5.1",
                settings_.lmtp ? "Error: LMTP needs LHLO" : "Error: command not recognized");
    return;
  }
  reset_transaction();
  helo_ = c.arg;
  if (c.verb == Verb::helo) {
    esmtp_ = false;
    reply(250, "", settings_.hostname);
    return;
  }
  esmtp_ = true;
  std::string text = settings_.hostname;
  text += "\nPIPELINING\nSIZE " + std::to_string(settings_.message_size_limit);
  text += "\n8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8\nCHUNKING";
  if (settings_.tls_offered && !tls_active_ && !settings_.lmtp) text += "\nSTARTTLS";
  reply(250, "", text);
}

void Protocol::on_mail(const Command& c) {
  if (helo_.empty()) {
    error_reply(503, "5.5.1", "Error: send HELO/EHLO first");
    return;
  }
  if (mail_) {
    error_reply(503, "5.5.1", "Error: nested MAIL command");
    return;
  }
  Mail m;
  m.sender = c.path;
  if (const std::string* size = c.param("SIZE")) {
    // parse_command guarantees digits; an absurd length compares as too big.
    std::uint64_t limit = settings_.message_size_limit;  // 0: no limit (RFC 1870 "SIZE 0")
    if (limit != 0 && (size->size() > 19 || std::stoull(*size) > limit)) {
      error_reply(552, "5.3.4", "Message size exceeds fixed limit");
      return;
    }
  }
  if (const std::string* body = c.param("BODY")) {
    std::string upper = *body;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    m.eightbit = upper == "8BITMIME";
  }
  m.smtputf8 = c.param("SMTPUTF8") != nullptr;
  if (!esmtp_ && !c.params.empty()) {
    error_reply(555, "5.5.4", "Error: parameters need EHLO");
    return;
  }
  mail_ = std::move(m);
  reply(250, "2.1.0", "Ok");
}

void Protocol::on_rcpt(const Command& c) {
  if (!mail_) {
    error_reply(503, "5.5.1", "Error: need MAIL command");
    return;
  }
  if (rcpts_.size() >= settings_.max_recipients) {
    log_rcpt_reject(c.path, 452, "4.5.3", "Error: too many recipients");
    error_reply(452, "4.5.3", "Error: too many recipients");
    return;
  }
  if (hooks_.check_recipient) {
    if (std::optional<Reply> refused = hooks_.check_recipient(mail_->sender, c.path)) {
      log_rcpt_reject(c.path, refused->code, refused->status, refused->text);
      error_reply(refused->code, refused->status, refused->text);
      return;
    }
  }
  rcpts_.push_back(c.path);
  reply(250, "2.1.5", "Ok");
}

void Protocol::on_data() {
  if (!mail_) {
    error_reply(503, "5.5.1", "Error: need MAIL command");
    return;
  }
  if (rcpts_.empty()) {
    error_reply(554, "5.5.1", "Error: no valid recipients");
    return;
  }
  if (draft_) {
    error_reply(503, "5.5.1", "Error: BDAT transaction in progress");
    return;
  }
  reply(354, "", "End data with <CR><LF>.<CR><LF>");
  start_message();
  dot_.emplace(settings_.bare_newline);
  mode_ = Mode::data;
}

void Protocol::on_bdat(const Command& c) {
  // The chunk's bytes follow the command whatever we answer: always read them.
  bdat_left_ = c.chunk_size;
  bdat_last_ = c.last;
  mode_ = Mode::bdat;
  bdat_error_.reset();
  if (!mail_) {
    bdat_error_ = Reply{503, "5.5.1", "Error: need MAIL command"};
  } else if (rcpts_.empty()) {
    bdat_error_ = Reply{554, "5.5.1", "Error: no valid recipients"};
  } else if (!draft_) {
    start_message();
    bdat_.emplace(settings_.bare_newline);
  }
  if (bdat_left_ == 0) consume_bdat({});
}

std::size_t Protocol::consume_bdat(std::string_view in) {
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bdat_left_, in.size()));
  if (!bdat_error_ && draft_) {
    chunk_.clear();
    bdat_->feed(in.substr(0, n), chunk_);
    append_content(chunk_);
  }
  bdat_left_ -= n;
  if (bdat_left_ > 0) return n;
  mode_ = Mode::command;
  if (bdat_error_) {
    Reply e = *bdat_error_;
    bdat_error_.reset();
    error_reply(e.code, e.status, e.text);
    return n;
  }
  if (bdat_last_) {
    chunk_.clear();
    bdat_->finish(chunk_);  // a CR ending the last chunk is bare
    append_content(chunk_);
    finish_message();
  } else if (too_big_) {
    // Keep reading chunks (the client may not stop), refuse at LAST.
    reply(250, "2.0.0", "Ok: chunk discarded, message too big");
  } else {
    reply(250, "2.0.0", "Ok: " + std::to_string(content_size_) + " octets received");
  }
  return n;
}

std::size_t Protocol::consume_data(std::string_view in) {
  chunk_.clear();
  std::size_t n = dot_->feed(in, chunk_);
  append_content(chunk_);
  if (dot_->done()) {
    mode_ = Mode::command;
    finish_message();
  }
  return n;
}

void Protocol::start_message() {
  Envelope env;
  env.sender = mail_->sender;
  env.recipients = rcpts_;
  env.helo = helo_;
  env.client_addr = client_.addr;
  env.client_name = client_.name;
  env.protocol = protocol_name();
  env.smtputf8 = mail_->smtputf8;
  env.eightbit = mail_->eightbit;
  env.arrival = static_cast<std::int64_t>(std::time(nullptr));
  draft_ = hooks_.begin_draft(std::move(env));
  content_size_ = 0;
  too_big_ = false;
  header_scan_.reset();
  std::string received = received_header(draft_->id());
  draft_->append(received);
}

void Protocol::append_content(std::string_view bytes) {
  if (too_big_ || bytes.empty()) return;
  header_scan_.feed(bytes);
  content_size_ += bytes.size();
  if (settings_.message_size_limit != 0 && content_size_ > settings_.message_size_limit) {
    too_big_ = true;
    return;
  }
  draft_->append(bytes);
}

void Protocol::finish_message() {
  last_command_ = "END-OF-MESSAGE";
  // The same rule for DATA and BDAT: the whole message is refused.
  bool bare = ((dot_ && dot_->rejected()) || (bdat_ && bdat_->rejected())) &&
              settings_.bare_newline == BareNewline::reject;
  dot_.reset();
  bdat_.reset();
  if (too_big_ || bare) {
    draft_.reset();  // nothing reaches the disk
    if (too_big_) {
      error_reply(552, "5.3.4", "Error: message file too big");
    } else {
      error_reply(550, "5.6.0", "Error: bare <CR> or <LF> in message; use CRLF line ends");
    }
    reset_transaction();
    return;
  }
  action_ = Action::commit;
}

std::unique_ptr<queue::Draft> Protocol::take_draft() {
  return std::move(draft_);
}

void Protocol::committed(const queue::CommitResult& result) {
  action_ = Action::none;
  std::size_t replies = settings_.lmtp ? rcpts_.size() : 1;
  for (std::size_t i = 0; i < replies; ++i) {
    std::string who = settings_.lmtp ? rcpts_[i].bracketed() + " " : std::string();
    if (result.ok) {
      reply(250, "2.0.0", who + "Ok: queued as " + result.id);
    } else {
      reply(451, "4.3.0", who + "Error: queue file write error");
    }
  }
  reset_transaction();
}

void Protocol::tls_started() {
  action_ = Action::none;
  tls_active_ = true;
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
}

void Protocol::reset_transaction() {
  mail_.reset();
  rcpts_.clear();
  draft_.reset();
  dot_.reset();
  bdat_.reset();
  too_big_ = false;
  content_size_ = 0;
}

std::string Protocol::protocol_name() const {
  // RFC 3848 / RFC 6531 "with" protocol names.
  std::string p = (mail_ && mail_->smtputf8) ? "UTF8" : "";
  if (settings_.lmtp) return p + "LMTP";
  p += esmtp_ ? "ESMTP" : "SMTP";
  if (p.starts_with("UTF8E")) p = "UTF8SMTP";
  if (tls_active_) p += "S";
  return p;
}

std::string Protocol::received_header(const std::string& id) const {
  std::string h = "Received: from " + helo_ + " (" + client_.name + " [" + client_.addr + "])";
  h += "\r\n\tby " + settings_.hostname + " (mailproc) with " + protocol_name() + " id " + id;
  if (rcpts_.size() == 1) h += "\r\n\tfor " + rcpts_.front().bracketed();
  h += "; " + (hooks_.date ? hooks_.date() : std::string()) + "\r\n";
  return h;
}

}  // namespace mp::smtpd
