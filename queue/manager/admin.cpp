// The queue manager: operator actions (mpqueue through the control socket; see impl.hpp).
#include "queue/manager/impl.hpp"

#include "common/log.hpp"

namespace mp::queue {

using manager_detail::epoch_now;
using manager_detail::now_s;

// ---- operator actions ----------------------------------------------------

void Manager::Impl::admin(AdminOp op, std::vector<std::string> ids,
                          std::function<void(AdminReport)> done) {
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
void Manager::Impl::run_admin(AdminOp op, std::vector<std::string> ids,
                              std::function<void(AdminReport)> done) {
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

}  // namespace mp::queue
