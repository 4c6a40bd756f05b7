// Relay control for RCPT (SPEC: mynetworks, relay_domains): clients in
// mynetworks may send anywhere; anyone may send to relay_domains (and to a
// bare postmaster); everything else gets 554 5.7.1 Relay access denied.
// Pure; called by the session's recipient check before any routing decision.
#pragma once

#include <optional>
#include <string_view>

#include "common/address.hpp"
#include "common/config.hpp"
#include "common/reply.hpp"

namespace mp::smtpd {

// nullopt: the client may send to `rcpt`; otherwise the refusal.
std::optional<Reply> check_relay(const Config& config, std::string_view client_addr,
                                 const Address& rcpt);

}  // namespace mp::smtpd
