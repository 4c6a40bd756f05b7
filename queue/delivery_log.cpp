#include "queue/delivery_log.hpp"

#include <cstdio>
#include <string_view>

namespace mp::queue {

std::string format_seconds(double s) {
  if (s < 0) s = 0;
  char buf[32];
  if (s >= 10) {
    std::snprintf(buf, sizeof buf, "%.0f", s);
  } else if (s >= 0.1) {
    std::snprintf(buf, sizeof buf, "%.1f", s);
  } else if (s >= 0.01) {
    std::snprintf(buf, sizeof buf, "%.2f", s);
  } else {
    return "0";
  }
  std::string out = buf;
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  return out;
}

namespace {

constexpr std::string_view kSaid = " said: ";
constexpr std::string_view kInReplyTo = " (in reply to ";
constexpr std::string_view kCommandEnd = " command)";

std::string derived_status(const Reply& r) {
  if (!r.status.empty()) return r.status;
  if (r.code >= 500) return "5.0.0";
  if (r.code >= 400) return "4.0.0";
  if (r.code >= 200 && r.code < 300) return "2.0.0";
  return "";
}

}  // namespace

Reply remote_reason(const Reply& server, std::string_view peer, std::string_view command) {
  std::string text = "host " + std::string(peer);
  if (command.empty()) {
    text += " refused to talk to me: " + server.line();
  } else {
    text += std::string(kSaid) + server.line() + std::string(kInReplyTo) + std::string(command) +
            std::string(kCommandEnd);
  }
  return Reply{0, derived_status(server), std::move(text)};
}

Reply own_reason(const Reply& ours) {
  if (ours.code == 0) return ours;
  return Reply{0, derived_status(ours), ours.joined_text()};
}

std::string reason_text(const Reply& r) {
  return r.code != 0 ? r.line() : r.joined_text();
}

std::string remote_reply_of(const Reply& r) {
  if (r.code != 0) return r.line();
  std::string text = reason_text(r);
  if (!text.starts_with("host ") || !text.ends_with(kCommandEnd)) return "";
  std::size_t said = text.find(kSaid);
  std::size_t in = text.rfind(kInReplyTo);
  if (said == std::string::npos || in == std::string::npos || in < said + kSaid.size()) return "";
  return text.substr(said + kSaid.size(), in - said - kSaid.size());
}

std::string format_delivery(const DeliveryLogEntry& e) {
  std::string line = e.queue_id + ": to=" + e.to.bracketed();
  if (!(e.orig_to == e.to) && !e.orig_to.is_null()) line += ", orig_to=" + e.orig_to.bracketed();
  line += ", relay=" + (e.relay.empty() ? std::string("none") : e.relay);
  line += ", delay=" + format_seconds(e.delay);
  line += ", delays=" + format_seconds(e.before_qmgr) + "/" + format_seconds(e.in_qmgr) + "/" +
          format_seconds(e.connect) + "/" + format_seconds(e.transmission);
  std::string dsn = derived_status(e.reply);
  if (dsn.empty()) dsn = e.status == "sent" ? "2.0.0" : e.status == "deferred" ? "4.0.0" : "5.0.0";
  line += ", dsn=" + dsn + ", status=" + e.status + " (" + reason_text(e.reply) + ")";
  return line;
}

}  // namespace mp::queue
