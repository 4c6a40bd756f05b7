// Prometheus counters, gauges and one histogram; the text exposition format 0.0.4.
#include "common/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace mp::metrics {
namespace {

// Shortest text that reads back as the same double; "+Inf", "NaN" as Prometheus spells them.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// A label value with \, " and newline escaped.
std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP mailproc_").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE mailproc_").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::string value) {
  out.append("mailproc_").append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

void counter(std::string& out, std::string_view name, std::string_view help, const Counter& c) {
  family(out, name, "counter", help);
  sample(out, name, "", std::to_string(c.value()));
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::int64_t v) {
  family(out, name, "gauge", help);
  sample(out, name, "", std::to_string(v));
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) return;
  if (value < 0) value = 0;  // a clock step backwards is not a negative delay
  // The first bucket whose upper bound holds the value (le: less or equal).
  std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                           bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> delivery_delay_buckets() {
  return {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400};
}

Registry::Registry() : delivery_delay(delivery_delay_buckets()) {}

Registry& registry() {
  static Registry r;
  return r;
}

std::string render(const Registry& r, const std::vector<QueueCount>& queues) {
  std::string out;
  out.reserve(4096);
  counter(out, "smtpd_connections_total", "SMTP and LMTP connections accepted.",
          r.connections_total);
  gauge(out, "smtpd_connections", "SMTP and LMTP sessions open now.", r.connections.value());
  counter(out, "smtpd_connections_refused_total",
          "Connections closed before the greeting: over max_connections or "
          "max_connections_per_ip, or an untrusted or malformed PROXY header.",
          r.connections_refused);
  counter(out, "messages_accepted_total", "Messages accepted and durably queued (250 after DATA).",
          r.messages_accepted);
  counter(out, "smtpd_recipients_rejected_total",
          "RCPT commands refused: relay access denied, unknown user, error route.",
          r.recipients_rejected);
  counter(out, "recipients_delivered_total", "Recipient deliveries that succeeded (status=sent).",
          r.recipients_delivered);
  counter(out, "recipients_deferred_total",
          "Recipient delivery attempts that failed temporarily (status=deferred).",
          r.recipients_deferred);
  counter(out, "recipients_bounced_total",
          "Recipients given up on: refused by the next hop, or expired (status=bounced).",
          r.recipients_bounced);

  Histogram::Snapshot h = r.delivery_delay.snapshot();
  family(out, "delivery_delay_seconds", "histogram",
         "Time from a message's arrival to a recipient's successful delivery.");
  for (std::size_t i = 0; i < h.upper_bounds.size(); ++i)
    sample(out, "delivery_delay_seconds_bucket", "le=\"" + number(h.upper_bounds[i]) + "\"",
           std::to_string(h.cumulative[i]));
  sample(out, "delivery_delay_seconds_bucket", "le=\"+Inf\"", std::to_string(h.count));
  sample(out, "delivery_delay_seconds_sum", "", number(h.sum));
  sample(out, "delivery_delay_seconds_count", "", std::to_string(h.count));

  if (!queues.empty()) {
    family(out, "queue_messages", "gauge", "Messages in each sub-queue of the spool.");
    for (const QueueCount& q : queues)
      sample(out, "queue_messages", "queue=\"" + label_value(q.queue) + "\"",
             std::to_string(q.messages));
  }
  return out;
}

}  // namespace mp::metrics
