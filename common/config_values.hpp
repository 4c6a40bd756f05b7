// The value parsers of mailprocd.conf keys (common/config.cpp): numbers, ports,
// yes/no, listeners, host names, paths, and the "bad value" error text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.hpp"

namespace mp::config_values {

bool is_ip(std::string_view s);
// Letters/digits/hyphen labels separated by dots; no empty label, no hyphen at a label's edge.
// Underscores are tolerated (real host names carry them).
bool is_host_name(std::string_view s);
std::optional<std::uint64_t> parse_number(std::string_view s);
std::optional<std::uint16_t> parse_port(std::string_view s);
std::optional<bool> parse_bool(std::string_view s);
// "ADDR:PORT" / "[v6]:PORT" / "*:PORT", optionally prefixed by "lmtp:", and the
// whole optionally by "proxy:" (PROXY protocol listener).
std::optional<Listener> parse_listener(std::string_view text);
// `value` against the config file's folder when relative.
std::filesystem::path resolve(const std::filesystem::path& dir, std::string_view value);
// "bad value for 'KEY': 'VALUE' (expected ...)", the value quoted at most ~100 bytes.
std::string bad(std::string_view key, std::string_view value, std::string_view expected);

}  // namespace mp::config_values
