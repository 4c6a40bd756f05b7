#include "queue/manager/manager.hpp"

#include <asio/post.hpp>
#include <asio/system_timer.hpp>
#include <asio/thread_pool.hpp>
#include <ctime>
#include <deque>
#include <map>
#include <set>
#include <system_error>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "queue/bounce.hpp"
#include "queue/delivery_log.hpp"
#include "queue/envelope_file.hpp"
#include "queue/scheduler.hpp"
#include "queue/store.hpp"

namespace mp::queue {
namespace {

using SysClock = std::chrono::system_clock;
constexpr unsigned kFileWorkers = 4;

double epoch_now() {
  return std::chrono::duration<double>(SysClock::now().time_since_epoch()).count();
}
std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

Outcome record_outcome(transports::Outcome o) {
  switch (o) {
    case transports::Outcome::ok:
      return Outcome::delivered;
    case transports::Outcome::permfail:
      return Outcome::bounced;
    case transports::Outcome::tempfail:
      break;
  }
  return Outcome::deferred;
}

// "host[1.2.3.4]:25" → "host" (the Remote-MTA of a DSN); "local", "none" → "".
std::string remote_mta_of(const std::string& relay) {
  std::size_t bracket = relay.find('[');
  return bracket == std::string::npos ? std::string() : relay.substr(0, bracket);
}

std::size_t count_received(std::string_view headers) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find("\r\n", pos);
    if (end == std::string_view::npos) end = headers.size();
    std::string_view line = headers.substr(pos, end - pos);
    if (line.size() >= 9 && strncasecmp(line.data(), "Received:", 9) == 0) ++n;
    pos = end + 2;
  }
  return n;
}

}  // namespace

ManagerSettings ManagerSettings::from(const Config& c) {
  ManagerSettings s;
  s.hostname = c.myhostname;
  s.maxqueuetime = c.maxqueuetime;
  s.retry_min = c.retry_min;
  s.retry_max = c.retry_max;
  s.queue_run_interval = c.queue_run_interval;
  s.delay_warning = c.delay_warning;
  s.ndr = c.ndr;
  s.archive = c.archive;
  s.max_hops = c.max_hops;
  return s;
}

struct Manager::Impl : std::enable_shared_from_this<Manager::Impl> {
  struct Message {
    std::string id;
    QueueFile qf;
    std::shared_ptr<const std::string> content;
    double picked_up = 0;  // epoch seconds
    unsigned outstanding = 0;
    std::vector<Address> final_rcpt;      // per recipient: the rewritten address
    std::vector<std::string> remote_mta;  // per recipient: who answered last
  };

  // What one attempt's results turn into, computed on the io thread, done on a file worker.
  struct Finish {
    std::string expire_records;
    std::vector<DsnRecipient> ndr;
    std::vector<std::size_t> ndr_indexes;
    bool warn = false;
    std::vector<DsnRecipient> warn_rcpts;
    bool done = false;  // no recipient left pending
    bool archive = false;
    unsigned attempts = 0;
    std::int64_t next = 0;
    // What the notifications need of the message (the file worker must not touch `active`).
    Address sender;
    std::int64_t arrival = 0;
    std::shared_ptr<const std::string> content;
  };

  Impl(asio::io_context& io, const Layout& layout, Writer& writer, ManagerSettings s,
       std::shared_ptr<const rewrite::Router> router, TransportSelector select)
      : io(io),
        files(kFileWorkers),
        store(layout),
        writer(writer),
        settings(std::move(s)),
        router(std::move(router)),
        select(std::move(select)),
        retry_timer(io),
        scan_timer(io) {}

  asio::io_context& io;
  asio::thread_pool files;
  Store store;
  Writer& writer;
  ManagerSettings settings;
  std::shared_ptr<const rewrite::Router> router;
  TransportSelector select;
  asio::system_timer retry_timer;
  asio::system_timer scan_timer;
  std::set<std::string> warned_strangers;  // odd names in the queue, warned about once
  Scheduler scheduler;
  std::set<std::string> in_flight;  // loading, delivering or finishing
  std::map<std::string, std::unique_ptr<Message>> active;
  std::deque<std::string> waiting;  // beyond max_active
  bool stopping = false;
  std::function<void()> drained;
  std::map<std::string, AdminOp> after_attempt;  // remove/hold asked for while in flight

  template <typename F>
  void on_files(F&& f) {
    asio::post(files, std::forward<F>(f));
  }
  template <typename F>
  void on_io(F&& f) {
    asio::post(io, std::forward<F>(f));
  }

  // ---- picking messages up -------------------------------------------------

  void activate(const std::string& id) {
    if (stopping || in_flight.count(id)) return;
    if (in_flight.size() >= settings.max_active) {
      waiting.push_back(id);
      return;
    }
    scheduler.remove(id);
    in_flight.insert(id);
    on_files([self = shared_from_this(), id] { self->load(id); });
  }

  // File worker: find the file, move it to active/, read it.
  void load(const std::string& id) {
    std::unique_ptr<Message> m;
    SubQueue where = SubQueue::active;
    try {
      bool found = std::filesystem::exists(store.layout().file(SubQueue::active, id));
      for (SubQueue q : {SubQueue::incoming, SubQueue::deferred}) {
        if (found) break;
        if (store.move(id, q, SubQueue::active)) found = true;
      }
      if (found) {
        std::filesystem::path path = store.layout().file(SubQueue::active, id);
        m = std::make_unique<Message>();
        m->id = id;
        m->qf = read_queue_file(path);
        if (m->qf.torn) drop_torn_tail(path, m->qf);
        m->content = std::make_shared<const std::string>(m->qf.content());
        m->qf.data = std::string();  // keep one copy of the content, not two
        m->qf.has_content = false;
        m->picked_up = epoch_now();
      }
    } catch (const QueueFileError& e) {
      m.reset();
      try {
        auto to = store.quarantine(where, id);
        log::warning("qmgr",
                     id + ": unreadable queue file moved to " + to.string() + ": " + e.what());
      } catch (const std::exception& q) {
        log::error("qmgr",
                   id + ": unreadable queue file, and it cannot be moved aside: " + q.what());
      }
    } catch (const std::exception& e) {
      m.reset();
      log::warning("qmgr", id + ": cannot read queue file: " + e.what() + "; will retry");
      on_io([self = shared_from_this(), id] {
        self->scheduler.add(id, now_s() + self->settings.retry_min.count());
        self->arm_retry_timer();
      });
    }
    on_io([self = shared_from_this(), id, m = std::shared_ptr<Message>(std::move(m))]() mutable {
      self->loaded(id, std::move(m));
    });
  }

  void loaded(const std::string& id, std::shared_ptr<Message> shared) {
    if (!shared) {
      in_flight.erase(id);
      pump();
      return;
    }
    auto m = std::make_unique<Message>(std::move(*shared));
    Message& msg = *m;
    active[id] = std::move(m);
    dispatch(msg);
  }

  // ---- routing and delivery ------------------------------------------------

  struct Group {
    transports::Transport* transport = nullptr;
    transports::DeliveryRequest request;
  };

  void dispatch(Message& m) {
    const Envelope& env = m.qf.envelope;
    log::info("qmgr", m.id + ": from=" + env.sender.bracketed() +
                          ", size=" + std::to_string(m.qf.content_size) +
                          ", nrcpt=" + std::to_string(env.recipients.size()) + " (queue active)");
    std::shared_ptr<const rewrite::Router> r = router;
    Address sender = r->rewrite_sender(env.sender);
    std::shared_ptr<const std::string> content = m.content;
    std::string_view headers = header_block(*content);
    if (r->rewrites_headers()) {
      auto rewritten = std::make_shared<std::string>(r->rewrite_headers(headers));
      rewritten->append(std::string_view(*content).substr(headers.size()));
      content = rewritten;
    }
    m.final_rcpt = env.recipients;
    m.remote_mta.assign(env.recipients.size(), "");
    bool looping = count_received(headers) > settings.max_hops;

    std::map<std::string, Group> groups;
    std::vector<transports::RecipientRef> immediate_refs;
    transports::DeliveryResult immediate;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      if (m.qf.recipients[i].state != RcptState::pending) continue;
      rewrite::Route route = r->resolve(env.sender, env.recipients[i]);
      m.final_rcpt[i] = route.rewritten;
      transports::RecipientRef ref{route.rewritten, env.recipients[i], route.unix_user, i};
      std::optional<Reply> refusal;
      if (looping) {
        refusal = Reply{554, "5.4.6", "mail forwarding loop: too many Received: headers"};
      } else if (route.reject) {
        refusal = *route.reject;
      }
      transports::Transport* t = refusal ? nullptr : select(route.hop);
      if (!refusal && !t)
        refusal = Reply{451, "4.3.5", "no transport for next hop '" + route.next_hop() + "'"};
      if (refusal) {
        immediate_refs.push_back(ref);
        immediate.push_back(
            {refusal->permanent() ? transports::Outcome::permfail : transports::Outcome::tempfail,
             *refusal, "none"});
        continue;
      }
      // Local deliveries run one recipient at a time (each as its own user).
      std::string key = route.next_hop() + '\0' + route.unix_user;
      if (route.local()) key += '\0' + std::to_string(i);
      Group& g = groups[key];
      if (!g.transport) {
        g.transport = t;
        g.request.queue_id = m.id;
        g.request.sender = sender;
        g.request.next_hop = route.next_hop();
        g.request.message = content;
        g.request.smtputf8 = env.smtputf8;
        g.request.eightbit = env.eightbit;
        g.request.arrival = env.arrival;
      }
      g.request.recipients.push_back(std::move(ref));
    }
    m.outstanding = static_cast<unsigned>(groups.size()) + (immediate.empty() ? 0 : 1);
    if (m.outstanding == 0) {
      finish(m);
      return;
    }
    double dispatched = epoch_now();
    if (!immediate.empty()) {
      results(m.id, std::move(immediate_refs), "error", dispatched, std::move(immediate));
    }
    for (auto& [key, g] : groups) {
      auto refs = g.request.recipients;
      std::string name(g.transport->name());
      std::weak_ptr<Impl> weak = weak_from_this();
      std::string id = m.id;
      g.transport->deliver(
          std::move(g.request), [weak, id, refs = std::move(refs), name,
                                 dispatched](transports::DeliveryResult res) mutable {
            if (auto self = weak.lock()) {
              self->on_io([self, id, refs = std::move(refs), name, dispatched,
                           res = std::move(res)]() mutable {
                self->results(id, std::move(refs), name, dispatched, std::move(res));
              });
            }
          });
    }
  }

  // One request's answers: log, then record durably, then count down.
  void results(const std::string& id, std::vector<transports::RecipientRef> refs,
               const std::string& component, double dispatched, transports::DeliveryResult res) {
    auto it = active.find(id);
    if (it == active.end()) return;
    Message& m = *it->second;
    double now = epoch_now();
    std::int64_t when = now_s();
    std::string records;
    for (std::size_t k = 0; k < refs.size(); ++k) {
      transports::RecipientResult r =
          k < res.size() ? res[k]
                         : transports::RecipientResult{
                               transports::Outcome::tempfail,
                               Reply{451, "4.3.0", "transport gave no result"}, "none"};
      const transports::RecipientRef& ref = refs[k];
      m.remote_mta[ref.index] = remote_mta_of(r.relay);
      DeliveryLogEntry e;
      e.queue_id = id;
      e.to = ref.address;
      e.orig_to = ref.original;
      e.relay = r.relay;
      e.delay = now - static_cast<double>(m.qf.envelope.arrival);
      e.before_qmgr = m.picked_up - static_cast<double>(m.qf.envelope.arrival);
      e.in_qmgr = dispatched - m.picked_up;
      e.transmission = now - dispatched;
      e.status = std::string(transports::status_word(r.outcome));
      e.reply = r.reply;
      log::info(component, format_delivery(e));
      metrics::Registry& stats = metrics::registry();
      if (r.outcome == transports::Outcome::ok) stats.delivery_delay.observe(e.delay);
      (r.outcome == transports::Outcome::ok         ? stats.recipients_delivered
       : r.outcome == transports::Outcome::permfail ? stats.recipients_bounced
                                                    : stats.recipients_deferred)
          .inc();
      records += format_recipient_record(ref.index, record_outcome(r.outcome), r.reply, when);
    }
    std::size_t pos = 0;
    while (pos < records.size()) {
      std::size_t end = records.find('\n', pos);
      apply_record(m.qf, std::string_view(records).substr(pos, end - pos));
      pos = end + 1;
    }
    // Fast path: the last request left every recipient delivered. The removal
    // (unlink + directory fsync in finish) is then the one durable step needed.
    bool all_delivered = true;
    for (const RecipientStatus& rs : m.qf.recipients)
      all_delivered &= rs.state == RcptState::delivered;
    if (m.outstanding == 1 && all_delivered) {
      recorded(id, "");
      return;
    }
    on_files([self = shared_from_this(), id, records] {
      std::string error;
      try {
        self->store.append(SubQueue::active, id, records);
      } catch (const std::exception& e) {
        error = e.what();
      }
      self->on_io([self, id, error] { self->recorded(id, error); });
    });
  }

  void recorded(const std::string& id, const std::string& error) {
    auto it = active.find(id);
    if (it == active.end()) return;
    Message& m = *it->second;
    if (!error.empty()) {
      // The results stand in memory; after a crash they would be tried again.
      log::error("qmgr", id + ": cannot record delivery results: " + error);
    }
    if (--m.outstanding == 0) finish(m);
  }

  // ---- after an attempt ----------------------------------------------------

  DsnRecipient dsn_recipient(const Message& m, std::size_t i) const {
    return DsnRecipient{m.final_rcpt[i], m.qf.envelope.recipients[i], m.qf.recipients[i].last_reply,
                        m.remote_mta[i]};
  }

  void finish(Message& m) {
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

  std::string queue_dsn(const std::string& id, const Finish& f, DsnInput::Kind kind,
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
  void complete(const std::string& id, const Finish& f) {
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

  void finished(const std::string& id, const std::string& outcome, std::int64_t next) {
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

  void pump() {
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

  // ---- operator actions ----------------------------------------------------

  void admin(AdminOp op, std::vector<std::string> ids, std::function<void(AdminReport)> done) {
    AdminReport early;
    if (op == AdminOp::remove || op == AdminOp::hold) {
      // A message being delivered is acted on once its attempt has ended.
      std::vector<std::string> rest;
      if (ids.empty()) {
        for (const std::string& id : in_flight) {
          after_attempt[id] = op;
          early.done.push_back(id);
        }
      } else {
        for (const std::string& id : ids) {
          if (in_flight.count(id)) {
            after_attempt[id] = op;
            early.done.push_back(id);
          } else {
            rest.push_back(id);
          }
        }
        if (rest.empty()) {
          done(std::move(early));
          return;
        }
        ids = std::move(rest);
      }
    }
    run_admin(op, std::move(ids),
              [early = std::move(early), done = std::move(done)](AdminReport r) mutable {
                r.done.insert(r.done.end(), early.done.begin(), early.done.end());
                done(std::move(r));
              });
  }

  // The disk side of an operator action, for messages not in flight.
  void run_admin(AdminOp op, std::vector<std::string> ids, std::function<void(AdminReport)> done) {
    std::set<std::string> busy = in_flight;
    on_files([self = shared_from_this(), op, ids = std::move(ids), busy = std::move(busy),
              done = std::move(done)]() mutable {
      AdminReport report;
      std::vector<SubQueue> from;
      switch (op) {
        case AdminOp::flush:
        case AdminOp::requeue:
          from = {SubQueue::deferred, SubQueue::hold};
          break;
        case AdminOp::remove:
          from = {SubQueue::incoming, SubQueue::deferred, SubQueue::hold};
          break;
        case AdminOp::hold:
          from = {SubQueue::incoming, SubQueue::deferred};
          break;
        case AdminOp::release:
          from = {SubQueue::hold};
          break;
      }
      if (op == AdminOp::flush) from = {SubQueue::deferred};
      bool all = ids.empty();
      if (all) {
        for (SubQueue q : from)
          for (std::string& id : self->store.list(q))
            if (!busy.count(id)) ids.push_back(std::move(id));
      }
      std::int64_t now = now_s();
      for (const std::string& id : ids) {
        bool ok = false;
        try {
          for (SubQueue q : from) {
            if (ok) break;
            switch (op) {
              case AdminOp::remove:
                ok = self->store.remove(q, id);
                break;
              case AdminOp::hold:
                ok = self->store.move_durable(id, q, SubQueue::hold);
                break;
              case AdminOp::release:
              case AdminOp::requeue:
              case AdminOp::flush:
                if (q == SubQueue::hold) {
                  ok = self->store.move_durable(id, SubQueue::hold, SubQueue::deferred);
                } else {
                  ok = self->store.next_attempt(q, id) >= 0;
                }
                if (ok) self->store.set_next_attempt(SubQueue::deferred, id, now);
                break;
            }
          }
        } catch (const std::exception& e) {
          log::error("qmgr", id + ": " + std::string(name(op)) + " failed: " + e.what());
          ok = false;
        }
        (ok ? report.done : report.missing).push_back(id);
      }
      self->on_io([self, op, report = std::move(report), done = std::move(done)]() mutable {
        for (const std::string& id : report.done) {
          if (self->in_flight.count(id)) continue;  // marked for after its attempt
          switch (op) {
            case AdminOp::remove:
              self->scheduler.remove(id);
              log::info("postsuper", id + ": removed");
              break;
            case AdminOp::hold:
              self->scheduler.remove(id);
              log::info("postsuper", id + ": placed on hold");
              break;
            case AdminOp::release:
            case AdminOp::requeue:
            case AdminOp::flush:
              if (op == AdminOp::release) log::info("postsuper", id + ": released from hold");
              if (op == AdminOp::requeue) log::info("postsuper", id + ": requeued");
              self->scheduler.add(id, 0);
              break;
          }
        }
        for (const std::string& id : self->scheduler.take_due(now_s())) self->activate(id);
        self->arm_retry_timer();
        done(std::move(report));
      });
    });
  }

  // ---- timers and scans ----------------------------------------------------

  void arm_retry_timer() {
    if (stopping) return;
    std::optional<std::int64_t> earliest = scheduler.earliest();
    if (!earliest) return;
    auto at = SysClock::from_time_t(static_cast<std::time_t>(*earliest));
    if (retry_timer.expiry() == at) return;
    retry_timer.expires_at(at);
    retry_timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopping) return;
      for (const std::string& id : self->scheduler.take_due(now_s())) self->activate(id);
      self->arm_retry_timer();
    });
  }

  // Every queue_run_interval (and at start): pick up what the disk holds that we don't know of.
  void scan() {
    on_files([self = shared_from_this()] {
      std::vector<std::string> found;  // to activate
      std::vector<std::pair<std::string, std::int64_t>> deferred;
      std::vector<std::string> strangers;  // names that are not queue IDs
      try {
        for (SubQueue q : {SubQueue::active, SubQueue::incoming}) {
          auto ids = self->store.list(q, &strangers);
          found.insert(found.end(), ids.begin(), ids.end());
        }
        for (const std::string& id : self->store.list(SubQueue::deferred, &strangers))
          deferred.emplace_back(id, self->store.next_attempt(SubQueue::deferred, id));
      } catch (const std::exception& e) {
        log::error("qmgr", std::string("queue scan failed: ") + e.what());
      }
      self->on_io([self, found = std::move(found), deferred = std::move(deferred),
                   strangers = std::move(strangers)] {
        for (const std::string& path : strangers)  // once per name, not every scan
          if (self->warned_strangers.insert(path).second)
            log::warning("qmgr", path + ": not a queue ID; left alone");
        for (const auto& [id, when] : deferred)
          if (!self->in_flight.count(id) && when >= 0 && !self->scheduler.contains(id))
            self->scheduler.add(id, when);
        for (const std::string& id : found) self->activate(id);
        for (const std::string& id : self->scheduler.take_due(now_s())) self->activate(id);
        self->arm_retry_timer();
        self->arm_scan_timer();
      });
    });
  }

  void arm_scan_timer() {
    if (stopping) return;
    scan_timer.expires_after(settings.queue_run_interval);
    scan_timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!ec && self && !self->stopping) self->scan();
    });
  }
};

Manager::Manager(asio::io_context& io, const Layout& layout, Writer& writer,
                 ManagerSettings settings, std::shared_ptr<const rewrite::Router> router,
                 TransportSelector select)
    : impl_(std::make_shared<Impl>(io, layout, writer, std::move(settings), std::move(router),
                                   std::move(select))) {}

Manager::~Manager() {
  impl_->stopping = true;
  impl_->files.join();
}

void Manager::start() {
  impl_->scan();
}

void Manager::wake(std::string id) {
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), id = std::move(id)] {
    if (auto self = weak.lock()) self->activate(id);
  });
}

void Manager::set_router(std::shared_ptr<const rewrite::Router> router) {
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), router = std::move(router)]() mutable {
    if (auto self = weak.lock()) self->router = std::move(router);
  });
}

void Manager::set_settings(ManagerSettings settings) {
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), s = std::move(settings)]() mutable {
    if (auto self = weak.lock()) {
      s.max_active = self->settings.max_active;  // not a config key: as constructed
      self->settings = std::move(s);
    }
  });
}

void Manager::flush(std::vector<std::string> ids) {
  admin(AdminOp::flush, std::move(ids), [](AdminReport) {});
}

void Manager::admin(AdminOp op, std::vector<std::string> ids,
                    std::function<void(AdminReport)> done) {
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), op, ids = std::move(ids),
                         done = std::move(done)]() mutable {
    if (auto self = weak.lock()) self->admin(op, std::move(ids), std::move(done));
  });
}

std::string_view name(AdminOp op) {
  switch (op) {
    case AdminOp::flush:
      return "flush";
    case AdminOp::remove:
      return "delete";
    case AdminOp::hold:
      return "hold";
    case AdminOp::release:
      return "release";
    case AdminOp::requeue:
      return "requeue";
  }
  return "?";
}

void Manager::stop(std::function<void()> drained) {
  impl_->stopping = true;
  impl_->drained = std::move(drained);
  impl_->retry_timer.cancel();
  impl_->scan_timer.cancel();
  impl_->pump();
}

}  // namespace mp::queue
