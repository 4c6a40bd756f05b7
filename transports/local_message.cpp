// Return-Path / Delivered-To, LF line ends, loop detection, program environment.
#include "transports/local_message.hpp"

#include <string.h>

namespace mp::transports {
namespace {

bool unfit_for_header(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string delivered_to(const RecipientRef& rcpt) {
  return rcpt.original.is_null() ? rcpt.address.str() : rcpt.original.str();
}

std::string to_lf(std::string_view crlf) {
  std::string out;
  out.reserve(crlf.size());
  std::size_t pos = 0;
  while (pos < crlf.size()) {
    std::size_t cr = crlf.find("\r\n", pos);
    if (cr == std::string_view::npos) {
      out.append(crlf.substr(pos));
      break;
    }
    out.append(crlf.substr(pos, cr - pos));
    out += '\n';
    pos = cr + 2;
  }
  return out;
}

std::string local_message(const DeliveryRequest& request, const RecipientRef& rcpt) {
  std::string head = "Return-Path: " + request.sender.bracketed() + "\n" +
                     "Delivered-To: " + delivered_to(rcpt) + "\n";
  std::string_view body = request.message ? std::string_view(*request.message) : "";
  std::string out;
  out.reserve(head.size() + body.size());
  out += head;
  out += to_lf(body);
  return out;
}

bool already_delivered_to(std::string_view message, std::string_view address) {
  constexpr std::string_view kName = "delivered-to:";
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return false;  // end of the header section
    if (line.size() >= kName.size() && iequals(line.substr(0, kName.size()), kName) &&
        iequals(trim(line.substr(kName.size())), address))
      return true;
    pos = end + 1;
  }
  return false;
}

std::optional<RecipientResult> refuse_before_delivery(const DeliveryRequest& request,
                                                      const RecipientRef& rcpt,
                                                      const std::string& relay) {
  std::string to = delivered_to(rcpt);
  RecipientResult r;
  r.relay = relay;
  r.outcome = Outcome::permfail;
  if (unfit_for_header(to) || unfit_for_header(rcpt.address.str())) {
    r.reply = Reply{550, "5.1.3", "Bad destination mailbox address syntax"};
    return r;
  }
  if (unfit_for_header(request.sender.str())) {
    r.reply = Reply{553, "5.1.7", "Bad sender mailbox address syntax"};
    return r;
  }
  if (request.message && already_delivered_to(*request.message, to)) {
    r.reply = Reply{554, "5.4.6", "mail forwarding loop for " + to};
    return r;
  }
  return std::nullopt;
}

std::vector<std::string> delivery_env(const DeliveryRequest& request, const RecipientRef& rcpt) {
  return {"SENDER=" + request.sender.str(), "RECIPIENT=" + rcpt.address.str(),
          "QUEUE_ID=" + request.queue_id};
}

RecipientResult job_not_run(const JobResult& job, std::string relay) {
  RecipientResult r;
  r.relay = std::move(relay);
  std::string text = job.text;
  if (text.empty() && job.status == JobResult::Status::not_started)
    text = "cannot start the program: " + std::string(strerror(job.code));
  if (text.empty()) text = "local delivery failed";
  if (job.status == JobResult::Status::refused && !job.temporary) {
    r.outcome = Outcome::permfail;
    r.reply = Reply{550, "5.3.5", text};
  } else {
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.0", text};
  }
  return r;
}

}  // namespace mp::transports
