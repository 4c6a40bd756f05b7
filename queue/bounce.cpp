#include "queue/bounce.hpp"

#include <ctime>

#include "queue/delivery_log.hpp"

namespace mp::queue {
namespace {

std::string address_type(const Address& a) {
  return a.needs_smtputf8() ? "utf-8; " : "rfc822; ";
}

}  // namespace

std::string diagnostic_code(const Reply& reply) {
  std::string remote = remote_reply_of(reply);
  if (!remote.empty()) return "smtp; " + remote;
  std::string own = reply.code == 0 ? reason_text(reply) : std::string();
  if (!own.empty()) return "X-Mailproc; " + own;
  return "";
}

std::string rfc5322_date(std::int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

std::string_view header_block(std::string_view message) {
  if (message.starts_with("\r\n")) return message.substr(0, 2);
  std::size_t end = message.find("\r\n\r\n");
  if (end == std::string_view::npos) return message;
  return message.substr(0, end + 4);
}

std::string dsn_status(const Reply& reply, DsnInput::Kind kind) {
  if (!reply.status.empty()) return reply.status;
  if (reply.code >= 500) return "5.0.0";
  if (reply.code >= 400) return "4.0.0";
  return kind == DsnInput::Kind::failure ? "4.4.7" : "4.0.0";
}

std::string make_dsn(const DsnInput& in) {
  const bool failure = in.kind == DsnInput::Kind::failure;
  const std::string boundary = in.queue_id + "." + std::to_string(in.now) + "/" + in.hostname;
  std::string m;
  m += "From: MAILER-DAEMON@" + in.hostname + " (Mail Delivery System)\r\n";
  m += "To: " + in.sender.bracketed() + "\r\n";
  m += failure ? "Subject: Undelivered Mail Returned to Sender\r\n"
               : "Subject: Delayed Mail (still being retried)\r\n";
  m += "Date: " + rfc5322_date(in.now) + "\r\n";
  m += "Message-ID: <" + in.queue_id + "." + std::to_string(in.now) +
       (failure ? ".ndr@" : ".delay@") + in.hostname + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary +
       "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // Part 1: for people.
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  m += "This is the mail system at host " + in.hostname + ".\r\n\r\n";
  if (failure) {
    m += "I'm sorry to have to inform you that your message could not\r\n"
         "be delivered to one or more recipients. It's attached below.\r\n\r\n";
  } else {
    m += "Your message could not be delivered for " + std::to_string((in.now - in.arrival) / 3600) +
         " hour(s).\r\n"
         "It will be retried until it is " +
         std::to_string((in.retry_until - in.arrival) / 86400) +
         " day(s) old.\r\n\r\n"
         "This is only a warning: you do not need to send your message again.\r\n\r\n";
  }
  for (const DsnRecipient& r : in.recipients) {
    std::string why = reason_text(r.reply);
    m += r.final_recipient.bracketed() + ": " +
         (why.empty() ? std::string("message expired without a reply") : why) + "\r\n";
  }
  m += "\r\n";

  // Part 2: for programs (RFC 3464).
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + in.hostname + "\r\n";
  m += "X-Mailproc-Queue-ID: " + in.queue_id + "\r\n";
  m += "X-Mailproc-Sender: " + address_type(in.sender) + in.sender.str() + "\r\n";
  m += "Arrival-Date: " + rfc5322_date(in.arrival) + "\r\n";
  for (const DsnRecipient& r : in.recipients) {
    m += "\r\n";
    m += "Final-Recipient: " + address_type(r.final_recipient) + r.final_recipient.str() + "\r\n";
    if (!(r.original_recipient == r.final_recipient) && !r.original_recipient.is_null())
      m += "Original-Recipient: " + address_type(r.original_recipient) +
           r.original_recipient.str() + "\r\n";
    m += std::string("Action: ") + (failure ? "failed" : "delayed") + "\r\n";
    m += "Status: " + dsn_status(r.reply, in.kind) + "\r\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + r.remote_mta + "\r\n";
    std::string diagnostic = diagnostic_code(r.reply);
    if (!diagnostic.empty()) m += "Diagnostic-Code: " + diagnostic + "\r\n";
    if (!failure) m += "Will-Retry-Until: " + rfc5322_date(in.retry_until) + "\r\n";
  }
  m += "\r\n";

  // Part 3: the original headers.
  m += "--" + boundary + "\r\n";
  m += "Content-Description: Undelivered Message Headers\r\nContent-Type: "
       "text/rfc822-headers\r\n\r\n";
  std::string_view headers = header_block(in.original);
  m.append(headers);
  if (!headers.ends_with("\r\n")) m += "\r\n";
  m += "--" + boundary + "--\r\n";
  return m;
}

}  // namespace mp::queue
