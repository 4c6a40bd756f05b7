// IPv4/IPv6 networks (inet_pton based).
#include "common/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace mp {
namespace {

struct Ip {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;
};

std::string_view strip_brackets(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
  return s;
}

std::optional<Ip> parse_ip(std::string_view text) {
  text = strip_brackets(text);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  Ip ip;
  if (s.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    ip.v6 = true;
  } else {
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  }
  return ip;
}

// "::ffff:a.b.c.d" → the IPv4 address in the first four bytes.
bool unmap_v4(Ip& ip) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!ip.v6) return true;
  for (int i = 0; i < 12; ++i) {
    if (ip.bytes[i] != prefix[i]) return false;
  }
  std::array<std::uint8_t, 16> v4{};
  for (int i = 0; i < 4; ++i) v4[i] = ip.bytes[12 + i];
  ip.bytes = v4;
  ip.v6 = false;
  return true;
}

bool prefix_equal(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                  int prefix) {
  int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != b[i]) return false;
  }
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  std::string_view addr = text;
  std::optional<int> prefix;
  if (auto slash = text.rfind('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    int n = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
    }
    std::from_chars(p.data(), p.data() + p.size(), n);
    prefix = n;
  }
  // Brackets must enclose the whole address part.
  if ((addr.find('[') != std::string_view::npos || addr.find(']') != std::string_view::npos) &&
      !(addr.size() >= 2 && addr.front() == '[' && addr.back() == ']'))
    return std::nullopt;
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  Cidr c;
  c.v6 = ip->v6;
  int max = c.v6 ? 128 : 32;
  c.prefix = prefix.value_or(max);
  if (c.prefix > max) return std::nullopt;
  // Keep only the network bits so str() is canonical.
  for (int i = 0; i < 16; ++i) {
    int bits = c.prefix - i * 8;
    std::uint8_t mask = bits >= 8   ? 0xff
                        : bits <= 0 ? 0
                                    : static_cast<std::uint8_t>(0xff << (8 - bits));
    c.bytes[i] = ip->bytes[i] & mask;
  }
  return c;
}

bool Cidr::contains(std::string_view text) const {
  auto ip = parse_ip(text);
  if (!ip) return false;
  if (!v6) {
    if (!unmap_v4(*ip)) return false;
    return prefix_equal(bytes, ip->bytes, prefix);
  }
  if (!ip->v6) {  // IPv4 client against an IPv6 net: compare as ::ffff:a.b.c.d
    std::array<std::uint8_t, 16> mapped{};
    mapped[10] = mapped[11] = 0xff;
    for (int i = 0; i < 4; ++i) mapped[12 + i] = ip->bytes[i];
    return prefix_equal(bytes, mapped, prefix);
  }
  return prefix_equal(bytes, ip->bytes, prefix);
}

std::string Cidr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

bool any_contains(const std::vector<Cidr>& nets, std::string_view ip) {
  for (const auto& n : nets) {
    if (n.contains(ip)) return true;
  }
  return false;
}

}  // namespace mp
