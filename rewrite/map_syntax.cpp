// Field splitting and name checks shared by the rewrite/ map file parsers.
#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::optional<std::vector<ConfigLine>> read_map_lines(const std::filesystem::path& file,
                                                      std::vector<std::string>& errors) {
  try {
    return read_config_lines(file);
  } catch (const ConfigError& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  } catch (const std::exception& e) {
    errors.push_back(file.string() + ": cannot read: " + e.what());
  }
  return std::nullopt;
}

std::string where(const std::filesystem::path& file, int line) {
  return file.string() + ":" + std::to_string(line);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<std::string> next_field(std::string_view& rest, bool regex_aware,
                                      std::string& error) {
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  if (rest.empty()) return std::nullopt;
  std::size_t end = 0;
  if (regex_aware && rest.front() == '/') {
    std::size_t i = 1;
    bool closed = false;
    while (i < rest.size()) {
      if (rest[i] == '\\') {
        i += 2;
        continue;
      }
      if (rest[i] == '/' && (i + 1 == rest.size() || is_blank(rest[i + 1]))) {
        closed = true;
        end = i + 1;
        break;
      }
      ++i;
    }
    if (!closed) {
      std::size_t blank = 0;
      while (blank < rest.size() && !is_blank(rest[blank])) ++blank;
      error = "regex " + std::string(rest.substr(0, blank)) +
              " is not closed by a '/' followed by a blank (write \\/ for a '/' inside)";
      return std::nullopt;
    }
  } else {
    while (end < rest.size() && !is_blank(rest[end])) ++end;
  }
  std::string field(rest.substr(0, end));
  rest.remove_prefix(end);
  return field;
}

bool is_regex_field(std::string_view field) {
  return field.size() >= 3 && field.front() == '/' && field.back() == '/';
}

std::string_view regex_body(std::string_view field) {
  return field.substr(1, field.size() - 2);
}

bool valid_domain(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  if (s.front() == '[') {
    if (s.size() < 3 || s.back() != ']') return false;
    for (char c : s.substr(1, s.size() - 2)) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      std::size_t len = i - label;
      if (len == 0 || len > 63) return false;
      if (s[label] == '-' || s[i - 1] == '-') return false;
      label = i + 1;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c >= 0x80;
    if (!ok) return false;
  }
  return true;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace mp::rewrite
