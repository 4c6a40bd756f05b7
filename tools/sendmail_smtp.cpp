// `mpsendmail -bs`, the pure dialogue (see sendmail_smtp.hpp). Commands are
// parsed by smtpd's command parser (RFC 5321 paths, ESMTP parameters); replies
// follow Postfix's smtpd wording.
#include "tools/sendmail_smtp.hpp"

#include <utility>

#include "smtpd/command.hpp"

namespace mp::submission {
namespace {

std::string wire(int code, std::string_view status, std::string_view text) {
  return Reply{code, std::string(status), std::string(text)}.wire();
}

}  // namespace

StdinSmtp::StdinSmtp(StdinSmtpSettings settings, SubmitFn submit)
    : settings_(std::move(settings)), submit_(std::move(submit)) {}

std::string StdinSmtp::greeting() const {
  return wire(220, "", settings_.hostname + " ESMTP mailproc");
}

void StdinSmtp::reset() {
  mail_.reset();
  in_data_ = false;
  too_big_ = false;
}

void StdinSmtp::end_of_input() {
  reset();
  done_ = true;
}

std::string StdinSmtp::line(std::string_view text) {
  if (done_) return "";
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return in_data_ ? data_line(text) : command(text);
}

std::string StdinSmtp::data_line(std::string_view text) {
  if (text == ".") {
    SmtpMessage message = std::move(*mail_);
    bool too_big = too_big_;
    reset();
    if (too_big) return wire(552, "5.3.4", "Error: message file too big");
    return submit_(message).wire();
  }
  if (!text.empty() && text.front() == '.') text.remove_prefix(1);  // dot-stuffing
  if (too_big_) return "";
  std::string& content = mail_->content;
  content.append(text);
  content += "\r\n";
  if (settings_.message_size_limit != 0 && content.size() > settings_.message_size_limit) {
    too_big_ = true;
    std::string().swap(content);
  }
  return "";
}

std::string StdinSmtp::command(std::string_view text) {
  smtpd::ParseOptions options;
  options.smtputf8 = mail_ && mail_->smtputf8;  // only RCPT paths are parsed in a transaction
  smtpd::ParseResult parsed = smtpd::parse_command(text, options);
  if (!parsed.command) return parsed.error.wire();
  const smtpd::Command& c = *parsed.command;
  using smtpd::Verb;
  switch (c.verb) {
    case Verb::helo:
      reset();
      return wire(250, "", settings_.hostname);
    case Verb::ehlo: {
      reset();
      std::string lines = settings_.hostname + "\nPIPELINING\n";
      if (settings_.message_size_limit != 0)
        lines += "SIZE " + std::to_string(settings_.message_size_limit) + "\n";
      lines += "8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8";
      return wire(250, "", lines);
    }
    case Verb::mail: {
      if (mail_) return wire(503, "5.5.1", "Error: nested MAIL command");
      if (const std::string* size = c.param("SIZE"); size && settings_.message_size_limit != 0) {
        // The parser has checked that SIZE holds digits only.
        if (size->size() > 19 || std::stoull(*size) > settings_.message_size_limit)
          return wire(552, "5.3.4", "Message size exceeds fixed limit");
      }
      mail_.emplace();
      mail_->sender = c.path;
      mail_->smtputf8 = c.param("SMTPUTF8") != nullptr;
      return wire(250, "2.1.0", "Ok");
    }
    case Verb::rcpt:
      if (!mail_) return wire(503, "5.5.1", "Error: need MAIL command");
      if (mail_->recipients.size() >= settings_.max_recipients)
        return wire(452, "4.5.3", "Error: too many recipients");
      mail_->recipients.push_back(c.path);
      return wire(250, "2.1.5", "Ok");
    case Verb::data:
      if (!mail_ || mail_->recipients.empty())
        return wire(503, "5.5.1", "Error: need RCPT command");
      in_data_ = true;
      return wire(354, "", "End data with <CR><LF>.<CR><LF>");
    case Verb::rset:
      reset();
      return wire(250, "2.0.0", "Ok");
    case Verb::noop:
      return wire(250, "2.0.0", "Ok");
    case Verb::quit:
      reset();
      done_ = true;
      return wire(221, "2.0.0", "Bye");
    case Verb::help:
      return wire(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
    case Verb::vrfy:
      return wire(502, "5.5.1", "VRFY command is disabled");
    default:
      return wire(502, "5.5.1", "Error: command not implemented");
  }
}

}  // namespace mp::submission
