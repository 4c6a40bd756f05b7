// Program deliveries: the pipe transport (`|/path/prog arg %r`) and the code it
// shares with the MDA transport (mda.hpp).
//
// Called by LocalTransport for one recipient at a time, on a worker thread.
// Invariants: the program is run by the spawner with an argv built from the
// template (placeholders expanded one element each, never through a shell), as
// the recipient's unix user (`nobody` for a pipe recipient without one), with
// the message on stdin (Return-Path, Delivered-To, LF line ends) and a time
// limit (pipe_timeout). Exit 0: delivered (2.0.0). Exit 75 (EX_TEMPFAIL), a
// signal or the time limit: deferred (4.3.0, the text names the status, signal
// or limit). Any other status: bounced (5.3.0) with the program's first stderr
// line as the reply text.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

inline constexpr int kExTempfail = 75;

// "|/path/prog args" -> {"/path/prog", "args"...}; nullopt (and why) when malformed.
std::optional<std::vector<std::string>> parse_pipe_hop(std::string_view next_hop, std::string& why);

// Runs argv_template (placeholders kept) for one recipient as `run_as`.
RecipientResult deliver_command(const std::vector<std::string>& argv_template,
                                const std::string& run_as, const std::string& relay,
                                std::chrono::milliseconds timeout, const DeliveryRequest& request,
                                const RecipientRef& rcpt, Spawner& spawner);

// How a program's end maps to a recipient result (see above).
RecipientResult command_result(const JobResult& job, const std::string& program,
                               std::chrono::milliseconds timeout, const std::string& relay);

// The pipe transport for one recipient; relay "pipe".
RecipientResult deliver_pipe(std::string_view next_hop, std::chrono::milliseconds timeout,
                             const DeliveryRequest& request, const RecipientRef& rcpt,
                             Spawner& spawner);

}  // namespace mp::transports
