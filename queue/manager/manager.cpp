// The queue manager: its public API, picking messages up (incoming/, deferred/,
// active/ after a crash), the retry timer and the periodic queue scan. The rest of
// Manager::Impl is in dispatch.cpp, attempt_end.cpp and admin.cpp (see impl.hpp).
#include "queue/manager/manager.hpp"

#include <filesystem>
#include <system_error>

#include "common/log.hpp"
#include "queue/manager/impl.hpp"

namespace mp::queue {

using manager_detail::epoch_now;
using manager_detail::now_s;
using manager_detail::SysClock;

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

// ---- picking messages up -------------------------------------------------

void Manager::Impl::activate(const std::string& id) {
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
void Manager::Impl::load(const std::string& id) {
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
      log::error("qmgr", id + ": unreadable queue file, and it cannot be moved aside: " + q.what());
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

void Manager::Impl::loaded(const std::string& id, std::shared_ptr<Message> shared) {
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

// ---- timers and scans ----------------------------------------------------

void Manager::Impl::arm_retry_timer() {
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
void Manager::Impl::scan() {
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

void Manager::Impl::arm_scan_timer() {
  if (stopping) return;
  scan_timer.expires_after(settings.queue_run_interval);
  scan_timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self && !self->stopping) self->scan();
  });
}

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

void Manager::stop(std::function<void()> drained) {
  impl_->stopping = true;
  impl_->drained = std::move(drained);
  impl_->retry_timer.cancel();
  impl_->scan_timer.cancel();
  impl_->pump();
}

}  // namespace mp::queue
