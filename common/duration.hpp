// Durations in config files: a whole number with a unit s, m, h or d ("300s",
// "5m", "4h", "5d"); a bare number means seconds. Used by the config loader.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mp {

std::optional<std::chrono::seconds> parse_duration(std::string_view text);
std::string format_duration(std::chrono::seconds d);  // "5m", "1h", "90s"...

}  // namespace mp
