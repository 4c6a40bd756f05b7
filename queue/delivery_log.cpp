#include "queue/delivery_log.hpp"

#include <cstdio>

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

std::string format_delivery(const DeliveryLogEntry& e) {
  std::string line = e.queue_id + ": to=" + e.to.bracketed();
  if (!(e.orig_to == e.to) && !e.orig_to.is_null()) line += ", orig_to=" + e.orig_to.bracketed();
  line += ", relay=" + (e.relay.empty() ? std::string("none") : e.relay);
  line += ", delay=" + format_seconds(e.delay);
  line += ", delays=" + format_seconds(e.before_qmgr) + "/" + format_seconds(e.in_qmgr) + "/" +
          format_seconds(e.connect) + "/" + format_seconds(e.transmission);
  std::string dsn = e.reply.status;
  if (dsn.empty()) dsn = e.reply.code >= 500 ? "5.0.0" : e.reply.code >= 400 ? "4.0.0" : "2.0.0";
  line += ", dsn=" + dsn + ", status=" + e.status + " (" + e.reply.line() + ")";
  return line;
}

}  // namespace mp::queue
