// mpsendmail's side of the daemon's sockets: the submit socket (queue a message
// when this user may not write the spool, tools/submit_protocol.hpp) and the
// control socket (wake the queue manager after a direct write to the spool).
//
// Called by tools/mpsendmail_main.cpp only. Blocking, with a time limit on
// every read and write. submit() reports ok (exit 0) only when the daemon said
// "ok ID", i.e. once the message is durably queued.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "common/envelope.hpp"

namespace mp::submission {

// The submit socket of a configuration (SPEC key `submit_socket`, default
// /run/mailproc/submit: outside the owner-only spool, world-accessible).
std::filesystem::path submit_socket_path(const Config& config);

struct SubmitResult {
  int status = 75;    // sysexits: 0 queued, 65 refused for good, 75 try later
  std::string id;     // the queue ID when queued
  std::string error;  // why not, one line
};

// Hands `content` (CRLF lines, without our Received: header: the daemon adds
// it with the uid it sees on the socket) to the daemon listening on `socket`.
SubmitResult submit(const std::filesystem::path& socket, const Envelope& env,
                    std::string_view content,
                    std::chrono::seconds limit = std::chrono::seconds(300));

// Best effort: asks a running daemon (through its control socket, reachable
// by root and the spool's owner only) to pick message `id` up now. Silent
// when no daemon runs: its periodic scan of incoming/ finds the file anyway.
void wake_daemon(const Config& config, const std::string& id);

}  // namespace mp::submission
