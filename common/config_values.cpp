// The value parsers of mailprocd.conf keys (see config_values.hpp).
#include "common/config_values.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "common/ascii.hpp"
#include "common/config_file.hpp"

namespace mp::config_values {
namespace fs = std::filesystem;

bool is_ip(std::string_view s) {
  std::string str(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, str.c_str(), buf) == 1 || inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

// Letters/digits/hyphen labels separated by dots; no empty label, no hyphen at a label's edge.
// Underscores are tolerated (real host names carry them).
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      std::size_t len = i - label;
      if (len == 0 || len > 63) return false;
      if (s[label] == '-' || s[i - 1] == '-') return false;
      label = i + 1;
      continue;
    }
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  auto n = parse_number(s);
  if (!n || *n < 1 || *n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*n);
}

std::optional<bool> parse_bool(std::string_view s) {
  std::string v = ascii_lower(s);
  if (v == "yes" || v == "true" || v == "1" || v == "on") return true;
  if (v == "no" || v == "false" || v == "0" || v == "off") return false;
  return std::nullopt;
}

// "ADDR:PORT" / "[v6]:PORT" / "*:PORT", optionally prefixed by "lmtp:", and the
// whole optionally by "proxy:" (PROXY protocol listener).
std::optional<Listener> parse_listener(std::string_view text) {
  Listener l;
  l.text = std::string(text);
  if (text.size() > 6 && ascii_lower(text.substr(0, 6)) == "proxy:") {
    l.proxy = true;
    text.remove_prefix(6);
  }
  if (text.size() > 5 && ascii_lower(text.substr(0, 5)) == "lmtp:") {
    l.protocol = Listener::Protocol::lmtp;
    text.remove_prefix(5);
  }
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos || !is_ip(host)) return std::nullopt;
  } else if (host != "*") {
    if (host.find(':') != std::string_view::npos || !is_ip(host)) return std::nullopt;
  }
  l.host = std::string(host);
  l.port = *port;
  return l;
}

fs::path resolve(const fs::path& dir, std::string_view value) {
  fs::path p(value);
  if (p.is_relative()) p = dir / p;
  return p.lexically_normal();
}

std::string bad(std::string_view key, std::string_view value, std::string_view expected) {
  return "bad value for '" + std::string(key) + "': " + quote_excerpt(value) + " (expected " +
         std::string(expected) + ")";
}

}  // namespace mp::config_values
