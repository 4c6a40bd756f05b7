// The job protocol between mailprocd and its root delivery helper
// (PrivilegedSpawner): one Job from the daemon, one JobResult back, each a
// small length-prefixed record on a fresh unix stream socket.
//
// Called by spawner.cpp (daemon side) and local_helper.cpp (the helper's per-job
// process, which runs as root and so treats every byte as untrusted).
// Invariants: encode_*() output always decodes; decode_*() never reads past its
// input, never allocates more than the limits below, and rejects trailing bytes;
// validate_job() is the single definition of an acceptable job (user name,
// absolute program and maildir, environment names, sizes), applied on both sides.
//   job    = "MPJ1" kind:u8 user:str timeout_ms:u64 argc:u32 str* envc:u32 str*
//            maildir:str folder:str data:blob
//   result = "MPR1" status:u8 code:i32 temporary:u8 text:str
//   str = len:u32 bytes (<= 64 KiB), blob = len:u64 bytes (<= kMaxJobData);
//   integers little-endian.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "transports/spawner.hpp"

namespace mp::transports {

inline constexpr std::size_t kMaxJobData = std::size_t{1} << 30;  // 1 GiB
inline constexpr std::size_t kMaxJobArgs = 256;
inline constexpr std::size_t kMaxJobEnv = 64;

// "" when acceptable, else why not.
std::string validate_job(const Job& job);

std::string encode_job(const Job& job);
std::optional<Job> decode_job(std::string_view wire, std::string& why);  // also validates

std::string encode_result(const JobResult& result);
std::optional<JobResult> decode_result(std::string_view wire, std::string& why);

}  // namespace mp::transports
