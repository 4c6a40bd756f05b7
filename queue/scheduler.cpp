#include "queue/scheduler.hpp"

#include <algorithm>

namespace mp::queue {

std::chrono::seconds retry_delay(unsigned attempts, std::chrono::seconds retry_min,
                                 std::chrono::seconds retry_max) {
  std::chrono::seconds d = retry_min;
  for (unsigned i = 1; i < attempts && d < retry_max; ++i) d *= 2;
  return std::min(d, retry_max);
}

void Scheduler::add(const std::string& id, std::int64_t when) {
  remove(id);
  when_[id] = when;
  order_.emplace(when, id);
}

bool Scheduler::remove(const std::string& id) {
  auto it = when_.find(id);
  if (it == when_.end()) return false;
  order_.erase({it->second, id});
  when_.erase(it);
  return true;
}

std::optional<std::int64_t> Scheduler::earliest() const {
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

std::vector<std::string> Scheduler::take_due(std::int64_t now) {
  std::vector<std::string> due;
  while (!order_.empty() && order_.begin()->first <= now) {
    due.push_back(order_.begin()->second);
    when_.erase(order_.begin()->second);
    order_.erase(order_.begin());
  }
  return due;
}

std::size_t Scheduler::make_due(std::int64_t now) {
  std::vector<std::string> ids;
  for (const auto& [id, when] : when_) ids.push_back(id);
  for (const std::string& id : ids) add(id, now);
  return ids.size();
}

}  // namespace mp::queue
