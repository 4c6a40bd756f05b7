// transports::LocalTransport — every local next hop behind one Transport:
// `|/prog args` (pipe), `/usr/bin/procmail -d %u` (MDA), `maildir:/path`,
// `discard`, `error:5.1.1 text`.
//
// One class that dispatches on the next-hop text rather than one class per
// kind: the kinds share the spawner, the worker pool and pipe_timeout, and the
// manager then needs a single object for "local" routes (is_local_next_hop()).
// Called by the queue manager (deliver(), any thread); `mailprocd` creates it
// with make_spawner() (spawner.hpp) before dropping privileges.
// Invariants: deliver() never blocks — the request runs on an internal pool of
// `threads` workers, and `done` is called there exactly once, with one result
// per recipient in order; recipients are delivered one after the other (the
// manager sends one per request). Nothing throws out of deliver(): any failure
// is a tempfail. Destroying the transport defers (4.3.0) requests not started
// yet and waits for running ones.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "transports/local_pool.hpp"
#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

enum class LocalKind { pipe, mda, maildir, discard, error };

// The local kind of a next hop, or nullopt for a network (or spam:) next hop.
std::optional<LocalKind> local_kind(std::string_view next_hop);
inline bool is_local_next_hop(std::string_view next_hop) {
  return local_kind(next_hop).has_value();
}

struct LocalOptions {
  std::chrono::milliseconds pipe_timeout{std::chrono::seconds(1000)};  // SPEC pipe_timeout
  std::size_t threads = 8;
  std::string maildir_junk;  // issue 6: SPEC maildir_junk, the folder for request.junk mail
};

class LocalTransport final : public Transport {
 public:
  explicit LocalTransport(std::shared_ptr<Spawner> spawner, LocalOptions options = {});
  ~LocalTransport() override;

  std::string_view name() const override { return "local"; }
  void deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) override;

  // The same, blocking the calling thread (the pool's workers; tests).
  DeliveryResult deliver_now(const DeliveryRequest& request);

 private:
  RecipientResult deliver_one(const DeliveryRequest& request, const RecipientRef& rcpt);

  std::shared_ptr<Spawner> spawner_;
  LocalOptions options_;
  WorkerPool pool_;  // last: destroyed (joined) first
};

}  // namespace mp::transports
