// PROXY protocol v1 (text line) and v2 (binary) headers, after HAProxy's
// "The PROXY protocol" specification (versions 1 and 2).
#include "smtpd/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace mp::smtpd {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1MinLength = 15;  // "PROXY UNKNOWN\r\n"
constexpr std::size_t kV2HeaderLength = 16;

ProxyParse need(std::size_t n) {
  ProxyParse r;
  r.status = ProxyParse::Status::need_more;
  r.needed = n;
  return r;
}

ProxyParse fail(std::string why) {
  ProxyParse r;
  r.status = ProxyParse::Status::error;
  r.error = std::move(why);
  return r;
}

ProxyParse done(std::size_t consumed, ProxyHeader h) {
  ProxyParse r;
  r.status = ProxyParse::Status::done;
  r.consumed = consumed;
  r.header = std::move(h);
  return r;
}

bool is_prefix_of(std::string_view in, std::string_view whole) {
  return whole.substr(0, in.size()) == in;
}

// Canonical text of a raw address; an IPv4-mapped IPv6 address becomes IPv4.
std::string ip_text(const std::uint8_t* bytes, bool v6) {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (v6 && std::equal(kMapped, kMapped + 12, bytes)) {
    bytes += 12;
    v6 = false;
  }
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, buf, sizeof buf);
  return buf;
}

// An address of a v1 line, in the family its protocol names; nullopt-like empty on error.
bool v1_address(std::string_view text, bool v6, std::string& out) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  std::string s(text);
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), bytes.data()) != 1) return false;
  out = ip_text(bytes.data(), v6);
  return true;
}

// 0..65535 in decimal, no sign, no leading zero (but "0" itself).
bool v1_port(std::string_view text, std::uint16_t& out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  unsigned n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n > 65535) return false;
  out = static_cast<std::uint16_t>(n);
  return true;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t sp = line.find(' ', start);
    out.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
    if (sp == std::string_view::npos || out.size() > 6) return out;
    start = sp + 1;
  }
}

ProxyParse parse_v1(std::string_view in) {
  // The line ends at the first CR, which must be followed by LF; no LF before it.
  // The CR of a line of at most 107 bytes is among its first 106.
  const std::size_t last_cr = kProxyV1MaxLength - 2;
  std::size_t limit = std::min(in.size(), last_cr + 1);
  std::size_t cr = std::string_view::npos;
  for (std::size_t i = 0; i < limit; ++i) {
    char c = in[i];
    if (c == '\r') {
      cr = i;
      break;
    }
    if (c == '\n') return fail("PROXY v1 line ends in a bare LF");
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return fail("PROXY v1 line holds a control or non-ASCII character");
  }
  if (cr == std::string_view::npos) {
    if (in.size() > last_cr) return fail("PROXY v1 line longer than 107 bytes");
    if (in.size() < kV1MinLength) return need(kV1MinLength - in.size());
    return need(2);  // at least CR LF
  }
  if (cr + 1 == in.size()) return need(1);
  if (in[cr + 1] != '\n') return fail("PROXY v1 line: CR not followed by LF");
  const std::size_t length = cr + 2;
  if (length < kV1MinLength) return fail("PROXY v1 line too short");
  std::vector<std::string_view> f = split_spaces(in.substr(0, cr));
  ProxyHeader h;
  h.version = 1;
  if (f.size() >= 2 && f[1] == "UNKNOWN") {
    h.local = true;  // the rest of the line is ignored (specification, 2.1)
    return done(length, std::move(h));
  }
  if (f.size() < 2 || (f[1] != "TCP4" && f[1] != "TCP6"))
    return fail("PROXY v1 line: protocol is not TCP4, TCP6 or UNKNOWN");
  if (f.size() != 6)
    return fail("PROXY v1 line: expected 'PROXY " + std::string(f[1]) + " SRC DST SPORT DPORT'");
  bool v6 = f[1] == "TCP6";
  if (!v1_address(f[2], v6, h.source)) return fail("PROXY v1 line: bad source address");
  if (!v1_address(f[3], v6, h.destination)) return fail("PROXY v1 line: bad destination address");
  if (!v1_port(f[4], h.source_port)) return fail("PROXY v1 line: bad source port");
  if (!v1_port(f[5], h.destination_port)) return fail("PROXY v1 line: bad destination port");
  return done(length, std::move(h));
}

std::uint16_t be16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

ProxyParse parse_v2(std::string_view in) {
  if (in.size() < kV2HeaderLength) return need(kV2HeaderLength - in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned version = p[12] >> 4, command = p[12] & 0x0f;
  const unsigned family = p[13] >> 4, transport = p[13] & 0x0f;
  const std::size_t length = be16(p + 14);
  if (version != 2) return fail("PROXY v2 header: version " + std::to_string(version) + " unknown");
  if (command > 1) return fail("PROXY v2 header: command " + std::to_string(command) + " unknown");
  const std::size_t total = kV2HeaderLength + length;
  // Nothing past the 16 bytes is looked at before the whole header is in.
  if (in.size() < total) return need(total - in.size());
  ProxyHeader h;
  h.version = 2;
  if (command == 0) {  // LOCAL: the proxy's own connection (health check); the block is ignored
    h.local = true;
    return done(total, std::move(h));
  }
  if (family == 0) {  // UNSPEC: use the connection's own addresses (specification, 2.2)
    h.local = true;
    return done(total, std::move(h));
  }
  if (family != 1 && family != 2)
    return fail("PROXY v2 header: address family " + std::to_string(family) + " not supported");
  if (transport != 1) return fail("PROXY v2 header: transport is not STREAM");
  const bool v6 = family == 2;
  const std::size_t addr = v6 ? 16 : 4;
  if (length < 2 * addr + 4) return fail("PROXY v2 header: address block too short");
  const unsigned char* a = p + kV2HeaderLength;
  h.source = ip_text(a, v6);
  h.destination = ip_text(a + addr, v6);
  h.source_port = be16(a + 2 * addr);
  h.destination_port = be16(a + 2 * addr + 2);
  return done(total, std::move(h));  // TLVs after the addresses are skipped
}

}  // namespace

ProxyParse parse_proxy_header(std::string_view in) {
  if (in.empty()) return need(kV1MinLength);
  if (in[0] == 'P') {
    if (in.size() < kV1Prefix.size()) {
      if (!is_prefix_of(in, kV1Prefix)) return fail("not a PROXY header");
      return need(kV1MinLength - in.size());
    }
    if (!in.starts_with(kV1Prefix)) return fail("not a PROXY header");
    return parse_v1(in);
  }
  std::size_t sig = std::min(in.size(), kProxyV2Signature.size());
  if (in.substr(0, sig) != kProxyV2Signature.substr(0, sig)) return fail("not a PROXY header");
  return parse_v2(in);
}

}  // namespace mp::smtpd
