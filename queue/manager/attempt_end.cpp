// The queue manager: what ends an attempt — expiry, NDRs, delay warnings, removal
// or deferral with backoff (see impl.hpp).
#include "queue/manager/impl.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "queue/delivery_log.hpp"

namespace mp::queue {

using manager_detail::epoch_now;
using manager_detail::now_s;

// ---- after an attempt ----------------------------------------------------

DsnRecipient Manager::Impl::dsn_recipient(const Message& m, std::size_t i) const {
  return DsnRecipient{m.final_rcpt[i], m.qf.envelope.recipients[i], m.qf.recipients[i].last_reply,
                      m.remote_mta[i]};
}

void Manager::Impl::finish(Message& m) {
  std::int64_t now = now_s();
  const Envelope& env = m.qf.envelope;
  Finish f;
  f.sender = env.sender;
  f.arrival = env.arrival;
  f.content = m.content;
  bool expired = m.qf.pending_count() > 0 && now - env.arrival >= settings.maxqueuetime.count();
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    RecipientStatus& rs = m.qf.recipients[i];
    if (expired && rs.state == RcptState::pending) {
      Reply last = rs.last_reply;
      if (last.code == 0 && last.text.empty())
        last = Reply{0, "4.4.7", "message expired without a reply"};
      log::info("qmgr", m.id + ": to=" + m.final_rcpt[i].bracketed() + ", relay=none, delay=" +
                            format_seconds(static_cast<double>(now - env.arrival)) +
                            ", dsn=" + dsn_status(last, DsnInput::Kind::failure) +
                            ", status=expired, returned to sender (" + reason_text(last) + ")");
      f.expire_records += format_recipient_record(i, Outcome::bounced, last, now);
      rs.state = RcptState::bounced;
      rs.last_reply = last;
      metrics::registry().recipients_bounced.inc();
    }
    if (rs.state == RcptState::bounced && !rs.ndr_sent) {
      f.ndr.push_back(dsn_recipient(m, i));
      f.ndr_indexes.push_back(i);
    }
  }
  bool notify = settings.ndr && !env.sender.is_null();
  if (!notify) f.ndr.clear();
  f.done = m.qf.pending_count() == 0;
  bool any_bounced = false;
  for (const RecipientStatus& rs : m.qf.recipients) any_bounced |= rs.state == RcptState::bounced;
  f.archive = settings.archive && any_bounced;
  if (!f.done) {
    f.attempts = m.qf.attempts + 1;
    f.next = now + retry_delay(f.attempts, settings.retry_min, settings.retry_max).count();
    if (notify && settings.delay_warning.count() > 0 && !m.qf.warned &&
        now - env.arrival >= settings.delay_warning.count()) {
      f.warn = true;
      for (std::size_t i = 0; i < env.recipients.size(); ++i)
        if (m.qf.recipients[i].state == RcptState::pending)
          f.warn_rcpts.push_back(dsn_recipient(m, i));
    }
  }
  on_files([self = shared_from_this(), id = m.id, f = std::move(f)]() mutable {
    self->complete(id, f);
  });
}

std::string Manager::Impl::queue_dsn(const std::string& id, const Finish& f, DsnInput::Kind kind,
                                     const std::vector<DsnRecipient>& rcpts) {
  DsnInput in;
  in.kind = kind;
  in.hostname = settings.hostname;
  in.queue_id = id;
  in.arrival = f.arrival;
  in.now = now_s();
  in.retry_until = f.arrival + settings.maxqueuetime.count();
  in.sender = f.sender;
  in.recipients = rcpts;
  in.original = *f.content;
  Envelope env;
  env.recipients.push_back(f.sender);
  env.helo = settings.hostname;
  env.protocol = "local";
  env.client_name = "localhost";
  env.smtputf8 = f.sender.needs_smtputf8();
  env.arrival = in.now;
  auto draft = writer.begin(std::move(env));
  draft->append(make_dsn(in));
  return writer.commit(std::move(draft));
}

// File worker: the disk side of finish().
void Manager::Impl::complete(const std::string& id, const Finish& f) {
  std::string outcome;
  try {
    if (!f.expire_records.empty()) store.append(SubQueue::active, id, f.expire_records);
    if (!f.ndr.empty()) {
      std::string ndr_id = queue_dsn(id, f, DsnInput::Kind::failure, f.ndr);
      log::info("bounce", id + ": sender non-delivery notification: " + ndr_id);
      store.append(SubQueue::active, id, format_ndr_record(f.ndr_indexes));
    }
    if (f.warn) {
      std::string warn_id = queue_dsn(id, f, DsnInput::Kind::delay, f.warn_rcpts);
      log::info("bounce", id + ": sender delay notification: " + warn_id);
      store.append(SubQueue::active, id, format_warned_record());
    }
    if (f.done) {
      if (f.archive) {
        store.move_durable(id, SubQueue::active, SubQueue::archive);
        outcome = "archived";
      } else {
        store.remove(SubQueue::active, id);
        outcome = "removed";
      }
    } else {
      store.append(SubQueue::active, id, format_attempt_record(f.attempts, f.next));
      store.set_next_attempt(SubQueue::active, id, f.next);
      store.move(id, SubQueue::active, SubQueue::deferred);
      outcome = "deferred";
    }
  } catch (const std::exception& e) {
    log::error("qmgr", id + ": queue file update failed: " + e.what() + "; will retry");
    outcome = "error";
  }
  on_io([self = shared_from_this(), id, outcome, next = f.next] {
    self->finished(id, outcome, next);
  });
}

void Manager::Impl::finished(const std::string& id, const std::string& outcome, std::int64_t next) {
  active.erase(id);
  in_flight.erase(id);
  auto pending_op = after_attempt.find(id);
  if (pending_op != after_attempt.end()) {
    AdminOp op = pending_op->second;
    after_attempt.erase(pending_op);
    if (outcome == "deferred" || outcome == "error") {
      run_admin(op, {id}, [](AdminReport) {});
      pump();
      return;
    }
  }
  if (outcome == "removed" || outcome == "archived") {
    log::info("qmgr", id + ": " + outcome);
  } else if (outcome == "deferred") {
    scheduler.add(id, next);
  } else {
    scheduler.add(id, now_s() + settings.retry_min.count());
  }
  arm_retry_timer();
  pump();
}

void Manager::Impl::pump() {
  if (stopping) {
    if (in_flight.empty() && drained) std::exchange(drained, nullptr)();
    return;
  }
  while (!waiting.empty() && in_flight.size() < settings.max_active) {
    std::string id = std::move(waiting.front());
    waiting.pop_front();
    activate(id);
  }
}

}  // namespace mp::queue
