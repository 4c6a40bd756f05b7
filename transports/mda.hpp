// The MDA transport: `/usr/bin/procmail -d %u` as given, and a bare program path
// (`/usr/bin/maildrop`) run as `/usr/bin/maildrop -d %u`.
//
// Called by LocalTransport for one recipient at a time, on a worker thread; runs
// through deliver_command() (pipe.hpp), so exit statuses, the message on stdin
// and the time limit behave exactly as for a pipe. Invariants: the program runs as
// the recipient's mapped unix user — a recipient without one bounces (5.1.1),
// there is no `nobody` fallback as for pipes; relay "local" in the log line.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transports/spawner.hpp"
#include "transports/transport.hpp"

namespace mp::transports {

// "/path [args]" -> argv template; a bare path gets "-d" "%u".
std::optional<std::vector<std::string>> parse_mda_hop(std::string_view next_hop, std::string& why);

RecipientResult deliver_mda(std::string_view next_hop, std::chrono::milliseconds timeout,
                            const DeliveryRequest& request, const RecipientRef& rcpt,
                            Spawner& spawner);

}  // namespace mp::transports
