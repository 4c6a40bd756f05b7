#include "smtpd/relay_control.hpp"

namespace mp::smtpd {

std::optional<Reply> check_relay(const Config& config, std::string_view client_addr,
                                 const Address& rcpt) {
  if (any_contains(config.mynetworks, client_addr)) return std::nullopt;
  if (rcpt.domain.empty()) return std::nullopt;  // <postmaster>: always accepted (RFC 5321 4.5.1)
  if (config.relay_domain_matches(rcpt.domain)) return std::nullopt;
  return Reply{554, "5.7.1", rcpt.bracketed() + ": Relay access denied"};
}

}  // namespace mp::smtpd
