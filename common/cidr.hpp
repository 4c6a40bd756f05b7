// IPv4/IPv6 networks for `mynetworks` (and later: trusted PROXY senders).
// Accepts "127.0.0.0/8", "10.1.2.3" (a /32), "[::1]/128", "::1/128", "[2001:db8::]/32".
// An IPv4-mapped IPv6 client ("::ffff:127.0.0.1") matches IPv4 networks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mp {

struct Cidr {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  int prefix = 0;

  static std::optional<Cidr> parse(std::string_view text);
  bool contains(std::string_view ip) const;  // ip as text: "1.2.3.4", "::1", "[::1]"
  std::string str() const;
};

bool any_contains(const std::vector<Cidr>& nets, std::string_view ip);

}  // namespace mp
