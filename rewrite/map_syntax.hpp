// Shared syntax of the rewrite/ map files (transport, variables, rewrite, users):
// splitting a line into fields where a `/regex/` field may contain blanks,
// domain-name checks, ASCII case folding and "FILE:LINE" locations.
//
// Called by the parsers in rewrite/ only. Pure functions, no state.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.hpp"
#include "common/config_file.hpp"

namespace mp::rewrite {

// Reads a map file's lines; when it cannot be read, appends "FILE: cannot read: ..." to
// `errors` and returns nullopt.
std::optional<std::vector<ConfigLine>> read_map_lines(const std::filesystem::path& file,
                                                      std::vector<std::string>& errors);

// "FILE:LINE" as used in error lines and in Route::rule.
std::string where(const std::filesystem::path& file, int line);

std::string_view trim(std::string_view s);  // blanks (space, tab) at both ends
using mp::ascii_lower;                      // common/ascii.hpp
using mp::iequals;

// Takes the next field off the front of `rest` (leading blanks skipped) and returns it;
// nullopt when `rest` holds no more fields. With `regex_aware`, a field that starts with
// '/' runs to the first '/' that is not escaped by '\' and is followed by a blank or the end
// of the line, so `/a b\/c/` is one field; when there is no such '/', `error` is set and
// nullopt returned.
std::optional<std::string> next_field(std::string_view& rest, bool regex_aware, std::string& error);

// `/.../` with at least one character inside.
bool is_regex_field(std::string_view field);
// The pattern inside `/.../`.
std::string_view regex_body(std::string_view field);

// A domain name as a map key or rewrite target: labels of letters, digits, '-', '_' or
// UTF-8 octets, separated by single dots, no '-' at a label edge; or an address literal
// "[...]" without blanks or brackets inside.
bool valid_domain(std::string_view s);

// No octet below 0x20 and no 0x7f.
bool has_control(std::string_view s);

}  // namespace mp::rewrite
