// IdlePool<T> — the bookkeeping of outbound connection reuse: connections that
// finished a delivery and may serve the next one to the same destination, kept
// per destination key ("mx:example.org", "a.example,b.example:2525",
// "lmtp:unix:/run/lmtp") and host ("mx1.example.org", "b.example:2525").
//
// Pure (no Asio, no clock: callers pass `now`), generic over the kept item so
// tests use plain values; transports/net/smtp_relay.cpp keeps
// std::unique_ptr<SmtpConnection>s in one, on its strand (not thread safe).
// Invariants: an item is idle for at most `max_idle` — take() never returns
// one older than that, expire() hands back every one that is; at most
// `per_key` items per destination (put() hands back the oldest beyond that);
// max_idle == 0 turns the pool off (put() hands the item straight back).
// take() prefers the most recently parked item, so the others age out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mp::transports {

template <typename T>
class IdlePool {
 public:
  using Clock = std::chrono::steady_clock;

  IdlePool(std::chrono::milliseconds max_idle, std::size_t per_key)
      : max_idle_(max_idle), per_key_(per_key) {}

  bool enabled() const { return max_idle_.count() > 0 && per_key_ > 0; }
  std::chrono::milliseconds max_idle() const { return max_idle_; }

  // Parks `item` (idle since `now`) under `key` and `host`. Returns what the caller must
  // close now: `item` itself when the pool is off, else the oldest item of `key` when the
  // destination already has `per_key` idle ones; nullopt when nothing.
  std::optional<T> put(std::string key, std::string host, T item, Clock::time_point now) {
    if (!enabled()) return std::optional<T>(std::move(item));
    std::optional<T> evicted;
    if (size(key) >= per_key_) {
      auto oldest = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Entry& e) { return e.key == key; });
      evicted.emplace(std::move(oldest->item));
      entries_.erase(oldest);
    }
    entries_.push_back(Entry{std::move(key), std::move(host), std::move(item), now});
    return evicted;
  }

  // The most recently parked item of `key` on `host` (on any host when `host` is empty)
  // that is still fresh at `now`, removed from the pool; nullopt when there is none.
  std::optional<T> take(std::string_view key, std::string_view host, Clock::time_point now) {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (it->key != key || (!host.empty() && it->host != host)) continue;
      if (now - it->since >= max_idle_) continue;  // expire() will collect it
      std::optional<T> out(std::move(it->item));
      entries_.erase(std::next(it).base());
      return out;
    }
    return std::nullopt;
  }

  // Removes and returns every item idle for `max_idle` or longer at `now`.
  std::vector<T> expire(Clock::time_point now) {
    std::vector<T> out;
    auto keep = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (now - it->since >= max_idle_) {
        out.push_back(std::move(it->item));
      } else {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
    }
    entries_.erase(keep, entries_.end());
    return out;
  }

  // When the next item expires; nullopt when the pool is empty.
  std::optional<Clock::time_point> next_expiry() const {
    if (entries_.empty()) return std::nullopt;
    auto oldest =
        std::min_element(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.since < b.since; });
    return oldest->since + max_idle_;
  }

  // Removes and returns everything (shutdown).
  std::vector<T> drain() {
    std::vector<T> out;
    for (Entry& e : entries_) out.push_back(std::move(e.item));
    entries_.clear();
    return out;
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t size(std::string_view key) const {
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                  [&](const Entry& e) { return e.key == key; }));
  }

 private:
  struct Entry {
    std::string key;
    std::string host;
    T item;
    Clock::time_point since;
  };

  std::chrono::milliseconds max_idle_;
  std::size_t per_key_;
  std::vector<Entry> entries_;  // in parking order: oldest first
};

}  // namespace mp::transports
