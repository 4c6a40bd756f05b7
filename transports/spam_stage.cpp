// SpamStage: per-user scans, marked copies, delivery through NEXTHOP's transport.
#include "transports/spam_stage.hpp"
#include "common/ascii.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "common/log.hpp"
#include "transports/spam_headers.hpp"

namespace mp::transports {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

RecipientResult deferred(const std::string& text) {
  RecipientResult r;
  r.outcome = Outcome::tempfail;
  r.reply = Reply{451, "4.3.0", text};
  r.relay = "spamd";
  return r;
}

// Scans fail with this when the endpoint text cannot be parsed (config checks it first).
class BrokenScanner final : public SpamScanner {
 public:
  explicit BrokenScanner(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  SpamCheck scan(std::string_view, std::string_view) override {
    return SpamCheck{false, {}, "bad spamd endpoint '" + endpoint_ + "'"};
  }
  std::string describe() const override { return "spamd " + endpoint_; }

 private:
  std::string endpoint_;
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out.empty() ? "none" : out;
}

std::string seconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f",
                std::chrono::duration_cast<std::chrono::duration<double>>(d).count());
  return buf;
}

}  // namespace

std::optional<std::string_view> spam_then(std::string_view next_hop) {
  next_hop = trim(next_hop);
  if (!istarts_with(next_hop, "spam:")) return std::nullopt;
  std::string_view then = trim(next_hop.substr(5));
  if (then.empty()) return std::nullopt;
  return then;
}

SpamSettings SpamSettings::from(const Config& config) {
  SpamSettings s;
  s.spamd = config.spamd;
  s.workers.per_user = config.spam_workers_per_user;
  s.workers.total = std::max(5u, config.spam_workers_per_user);
  s.workers.idle = std::chrono::duration_cast<std::chrono::milliseconds>(config.spam_worker_idle);
  s.pass_on_failure = config.spam_failure == SpamFailure::pass;
  s.default_user = config.user;
  return s;
}

struct SpamStage::Scan {
  std::string queue_id;
  std::string user;
  std::shared_ptr<const std::string> message;
  std::vector<Waiter> waiters;
};

struct SpamStage::Batch {
  std::mutex mutex;
  DeliveryResult results;
  std::size_t remaining = 0;
  std::function<void(DeliveryResult)> done;

  // One group's results are in; the last one answers the request.
  void finished_group() {
    std::function<void(DeliveryResult)> call;
    DeliveryResult out;
    {
      std::lock_guard lock(mutex);
      if (--remaining != 0) return;
      call = std::move(done);
      out = std::move(results);
    }
    if (call) call(std::move(out));
  }
};

namespace {

// Hands one group, with its marked copy, to NEXTHOP's transport.
template <typename BatchPtr>
void forward(Transport& next, const DeliveryRequest& request, std::string_view then,
             const std::vector<std::size_t>& group, std::string content, bool junk,
             BatchPtr batch) {
  DeliveryRequest sub;
  sub.queue_id = request.queue_id;
  sub.sender = request.sender;
  for (std::size_t i : group) sub.recipients.push_back(request.recipients[i]);
  sub.next_hop = std::string(then);
  sub.message = std::make_shared<const std::string>(std::move(content));
  sub.smtputf8 = request.smtputf8;
  sub.eightbit = request.eightbit;
  sub.arrival = request.arrival;
  sub.junk = junk;
  next.deliver(std::move(sub), [batch, group](DeliveryResult r) {
    {
      std::lock_guard lock(batch->mutex);
      for (std::size_t k = 0; k < group.size(); ++k) {
        batch->results[group[k]] =
            k < r.size() ? std::move(r[k]) : deferred("next hop transport gave no result");
      }
    }
    batch->finished_group();
  });
}

}  // namespace

SpamStage::SpamStage(SpamSettings settings, NextHopTransport next,
                     std::shared_ptr<SpamScanner> scanner)
    : settings_(std::move(settings)), next_(std::move(next)), scanner_(std::move(scanner)) {
  settings_.workers.per_user = std::max(1u, settings_.workers.per_user);
  settings_.workers.total = std::max(1u, settings_.workers.total);
  if (!scanner_) {
    auto ep = parse_spamd_endpoint(settings_.spamd);
    if (ep) {
      scanner_ = std::make_shared<SpamdClient>(*ep, settings_.timeout);
    } else {
      scanner_ = std::make_shared<BrokenScanner>(settings_.spamd);
    }
  }
  workers_ = std::make_unique<SpamWorkers>(settings_.workers,
                                           [](std::string_view line) { log::info("spam", line); });
}

SpamStage::~SpamStage() {
  stopping_ = true;
  scanner_->abort();
  workers_.reset();  // cancels queued scans, waits for running ones
}

void SpamStage::deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) {
  auto req = std::make_shared<const DeliveryRequest>(std::move(request));
  const std::size_t n = req->recipients.size();
  auto fail_all = [&](const std::string& text) {
    DeliveryResult out(n, deferred(text));
    done(std::move(out));
  };
  std::optional<std::string_view> then = spam_then(req->next_hop);
  if (!then) return fail_all("next hop '" + req->next_hop + "' is not a spam: next hop");
  Transport* next = next_ ? next_(*then) : nullptr;
  if (!next || next == this) {
    DeliveryResult out(n, deferred(""));
    for (auto& r : out) {
      r.reply = Reply{451, "4.3.5", "no transport for next hop '" + std::string(*then) + "'"};
      r.relay = "none";
    }
    done(std::move(out));
    return;
  }
  if (n == 0) return done({});

  // Recipients by user, in order of first appearance.
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& u = req->recipients[i].unix_user;
    std::string user = safe_spamd_user(u) ? u : settings_.default_user;
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == user; });
    if (it == groups.end()) {
      groups.push_back({user, {i}});
    } else {
      it->second.push_back(i);
    }
  }
  auto batch = std::make_shared<Batch>();
  batch->results.assign(n, deferred("spam stage gave no result"));
  batch->remaining = groups.size();
  batch->done = std::move(done);

  static const std::string kEmpty;
  const std::string& message = req->message ? *req->message : kEmpty;
  std::string then_text(*then);
  bool pass = settings_.pass_on_failure;
  for (auto& [user, group] : groups) {
    if (message.size() > settings_.max_size) {
      log::info("spam", req->queue_id + ": user=" + user +
                            ", result=unscanned, size=" + std::to_string(message.size()) +
                            " over the limit of " + std::to_string(settings_.max_size));
      forward(
          *next, *req, then_text, group,
          tag_unscanned(message, "message too large: " + std::to_string(message.size()) + " bytes"),
          false, batch);
      continue;
    }
    Waiter waiter = [req, batch, next, then_text, group = group, pass](const SpamCheck& c,
                                                                       bool cancelled) {
      const std::string& msg = req->message ? *req->message : kEmpty;
      if (c.ok) {
        forward(*next, *req, then_text, group, tag_scanned(msg, c.verdict), c.verdict.spam, batch);
      } else if (cancelled || !pass) {
        {
          std::lock_guard lock(batch->mutex);
          for (std::size_t i : group)
            batch->results[i] = deferred(cancelled ? "spam check not done: shutting down"
                                                   : "spam check failed: " + c.error);
        }
        batch->finished_group();
      } else {
        forward(*next, *req, then_text, group, tag_unscanned(msg, "spam check failed"), false,
                batch);
      }
    };
    scan(*req, user, std::move(waiter));
  }
}

void SpamStage::scan(const DeliveryRequest& request, const std::string& user, Waiter waiter) {
  std::string key = request.queue_id + '\0' + user + '\0' +
                    std::to_string(reinterpret_cast<std::uintptr_t>(request.message.get()));
  {
    std::lock_guard lock(mutex_);
    auto it = scans_.find(key);
    if (it != scans_.end()) {  // the same message for the same user: one scan serves both
      it->second->waiters.push_back(std::move(waiter));
      return;
    }
    auto s = std::make_shared<Scan>();
    s->queue_id = request.queue_id;
    s->user = user;
    s->message = request.message;
    s->waiters.push_back(std::move(waiter));
    scans_.emplace(key, std::move(s));
  }
  workers_->submit(
      user, [this, key](const SpamTicket& ticket) { run_scan(key, ticket); },
      [this, key] { cancel_scan(key); });
}

void SpamStage::run_scan(const std::string& key, const SpamTicket& ticket) {
  std::shared_ptr<Scan> s;
  {
    std::lock_guard lock(mutex_);
    auto it = scans_.find(key);
    if (it == scans_.end()) return;
    s = it->second;
  }
  static const std::string kEmpty;
  const std::string& message = s->message ? *s->message : kEmpty;
  Clock::time_point start = Clock::now();
  SpamCheck check =
      stopping_ ? SpamCheck{false, {}, "shutting down"} : scanner_->scan(s->user, message);
  std::string where = s->queue_id + ": user=" + s->user + ", ";
  std::string load = ", running=" + std::to_string(ticket.running) + "/" +
                     std::to_string(settings_.workers.per_user) +
                     ", queued=" + std::to_string(ticket.queued);
  bool cancelled = !check.ok && stopping_;
  if (check.ok) {
    const SpamVerdict& v = check.verdict;
    log::info("spam", where + "result=" + (v.spam ? "spam" : "ham") +
                          ", score=" + format_score(v.score) + "/" + format_score(v.threshold) +
                          ", tests=" + join(v.tests) + ", size=" + std::to_string(message.size()) +
                          ", time=" + seconds(Clock::now() - start) + load);
  } else {
    log::warning(
        "spam", where + "scan failed (" + check.error + "), " +
                    (cancelled || !settings_.pass_on_failure ? "deferred" : "delivered unscanned") +
                    load);
  }
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mutex_);
    waiters = std::move(s->waiters);
    scans_.erase(key);
  }
  for (Waiter& w : waiters) w(check, cancelled);
}

void SpamStage::cancel_scan(const std::string& key) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mutex_);
    auto it = scans_.find(key);
    if (it == scans_.end()) return;
    waiters = std::move(it->second->waiters);
    scans_.erase(it);
  }
  SpamCheck none{false, {}, "shutting down"};
  for (Waiter& w : waiters) w(none, true);
}

}  // namespace mp::transports
