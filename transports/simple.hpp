// The two transports that deliver nothing: `discard` (or `discard:TEXT`) and
// `error:5.1.1 TEXT` (status optional, default 5.0.0).
//
// Called by LocalTransport for each recipient. Pure functions of the next-hop
// text. Invariants: discard is `ok` with relay "none" and the text "discarded"
// (or its own TEXT); error is a permfail with its status and text — a 4.X.Y
// status makes it a tempfail (the router only lets 5.X.Y through today); a
// malformed status is read as part of the text under 5.0.0.
#pragma once

#include <string_view>

#include "transports/transport.hpp"

namespace mp::transports {

bool is_discard_hop(std::string_view next_hop);  // "discard", "discard:..." (any case)
bool is_error_hop(std::string_view next_hop);    // "error", "error:..." (any case)

RecipientResult discard_result(std::string_view next_hop);
RecipientResult error_result(std::string_view next_hop);

}  // namespace mp::transports
