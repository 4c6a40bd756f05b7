// The retry schedule: which deferred message is due when. A cache of what the
// disk says (each deferred file's mtime is its next attempt), rebuilt at
// start-up; DESIGN: "disk is the truth; the scheduler is a cache".
// Pure: no clock, no I/O. Used only on the queue manager's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mp::queue {

// Exponential backoff: retry_min after the first attempt, doubling, capped at retry_max.
std::chrono::seconds retry_delay(unsigned attempts, std::chrono::seconds retry_min,
                                 std::chrono::seconds retry_max);

class Scheduler {
 public:
  void add(const std::string& id, std::int64_t when);  // replaces an earlier entry for id
  bool remove(const std::string& id);
  bool contains(const std::string& id) const { return when_.count(id) != 0; }
  std::optional<std::int64_t> earliest() const;
  // Removes and returns every id due at `now` (earliest first).
  std::vector<std::string> take_due(std::int64_t now);
  // Makes every id (or the given ones) due at `now`; returns how many.
  std::size_t make_due(std::int64_t now);
  std::size_t size() const { return when_.size(); }

 private:
  std::map<std::string, std::int64_t> when_;
  std::set<std::pair<std::int64_t, std::string>> order_;
};

}  // namespace mp::queue
