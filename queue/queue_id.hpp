// Queue IDs: the name of a message in the spool, in logs and in `mpqueue`.
//
// Called by queue::Writer::begin() (one ID per message) and by anything that
// validates an ID given by an operator (`mpqueue delete ID`) or found as a
// file name in a sub-queue.
// Invariants: every ID is exactly queue_id_length characters from
// "0-9A-V" (a subset of [0-9A-Z]; filename safe); IDs made by one process
// strictly increase, so sorting IDs as strings sorts them by creation time
// (microseconds, across processes too); an ID is unique across threads,
// processes and restarts: 11 characters of creation time in microseconds
// (kept strictly increasing inside a process) followed by 5 characters of a
// random per-process tag (re-drawn after fork()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mp::queue {

inline constexpr std::size_t queue_id_length = 16;

// A new, unique ID. Thread safe.
std::string new_queue_id();

// True when `id` has the shape new_queue_id() produces.
bool is_valid_queue_id(std::string_view id);

// Creation time of a valid ID, in microseconds since the epoch.
std::int64_t queue_id_micros(std::string_view id);

}  // namespace mp::queue
