// The queue manager: routing, grouping and delivery of one attempt (see impl.hpp).
#include "queue/manager/impl.hpp"

#include <strings.h>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "queue/delivery_log.hpp"

namespace mp::queue {

using manager_detail::epoch_now;
using manager_detail::now_s;

namespace {

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

struct Group {
  transports::Transport* transport = nullptr;
  transports::DeliveryRequest request;
};

}  // namespace

// ---- routing and delivery ------------------------------------------------

void Manager::Impl::dispatch(Message& m) {
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
    g.transport->deliver(std::move(g.request), [weak, id, refs = std::move(refs), name, dispatched](
                                                   transports::DeliveryResult res) mutable {
      if (auto self = weak.lock()) {
        self->on_io(
            [self, id, refs = std::move(refs), name, dispatched, res = std::move(res)]() mutable {
              self->results(id, std::move(refs), name, dispatched, std::move(res));
            });
      }
    });
  }
}

// One request's answers: log, then record durably, then count down.
void Manager::Impl::results(const std::string& id, std::vector<transports::RecipientRef> refs,
                            const std::string& component, double dispatched,
                            transports::DeliveryResult res) {
  auto it = active.find(id);
  if (it == active.end()) return;
  Message& m = *it->second;
  double now = epoch_now();
  std::int64_t when = now_s();
  std::string records;
  for (std::size_t k = 0; k < refs.size(); ++k) {
    transports::RecipientResult r =
        k < res.size()
            ? res[k]
            : transports::RecipientResult{transports::Outcome::tempfail,
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

void Manager::Impl::recorded(const std::string& id, const std::string& error) {
  auto it = active.find(id);
  if (it == active.end()) return;
  Message& m = *it->second;
  if (!error.empty()) {
    // The results stand in memory; after a crash they would be tried again.
    log::error("qmgr", id + ": cannot record delivery results: " + error);
  }
  if (--m.outstanding == 0) finish(m);
}

}  // namespace mp::queue
