// `name value` lines and `$name` expansion.
#include "rewrite/variables.hpp"

#include "common/config_file.hpp"

#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

}  // namespace

bool valid_variable_name(std::string_view name) {
  if (name.empty() || !name_start(name.front())) return false;
  for (char c : name) {
    if (!name_char(c)) return false;
  }
  return true;
}

Variables Variables::parse(const std::vector<ConfigLine>& lines, const std::filesystem::path& file,
                           std::vector<std::string>& errors) {
  Variables vars;
  std::map<std::string, int, std::less<>> defined_at;
  for (const auto& line : lines) {
    auto error = [&](const std::string& what) {
      errors.push_back(where(file, line.number) + ": " + what);
    };
    std::string_view text = trim(line.text);
    std::size_t blank = text.find_first_of(" \t");
    std::string_view name = text.substr(0, blank);
    std::string_view value = blank == std::string_view::npos ? "" : trim(text.substr(blank));
    if (!valid_variable_name(name)) {
      error("bad variable name '" + std::string(name) +
            "' (letters, digits and '_', not starting with a digit)");
      continue;
    }
    if (value.empty()) {
      error("variable '" + std::string(name) + "' has no value");
      continue;
    }
    if (auto it = defined_at.find(name); it != defined_at.end()) {
      error("variable '" + std::string(name) + "' is already defined at line " +
            std::to_string(it->second));
      continue;
    }
    std::string why;
    auto expanded = vars.expand(value, why);
    if (!expanded) {
      error(why);
      continue;
    }
    defined_at.emplace(std::string(name), line.number);
    vars.vars_.emplace(std::string(name), std::move(*expanded));
  }
  return vars;
}

Variables Variables::load(const std::filesystem::path& file, std::vector<std::string>& errors) {
  auto lines = read_map_lines(file, errors);
  if (!lines) return {};
  return parse(*lines, file, errors);
}

bool Variables::define(std::string_view name, std::string_view value) {
  if (!valid_variable_name(name)) return false;
  vars_.insert_or_assign(std::string(name), std::string(value));
  return true;
}

const std::string* Variables::find(std::string_view name) const {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : &it->second;
}

std::optional<std::string> Variables::expand(std::string_view text, std::string& error) const {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 == text.size()) {
      out += c;
      ++i;
      continue;
    }
    char next = text[i + 1];
    std::string_view name;
    std::size_t after;
    if (next == '$') {
      out += '$';
      i += 2;
      continue;
    } else if (next == '{') {
      std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        error = "unterminated '${' in " + quote_excerpt(text);
        return std::nullopt;
      }
      name = text.substr(i + 2, close - i - 2);
      if (!valid_variable_name(name)) {
        error = "bad variable name '${" + std::string(name) + "}'";
        return std::nullopt;
      }
      after = close + 1;
    } else if (name_start(next)) {
      std::size_t end = i + 1;
      while (end < text.size() && name_char(text[end])) ++end;
      name = text.substr(i + 1, end - i - 1);
      after = end;
    } else {
      out += c;  // a lone '$' (regex end anchor, "$1", ...) stays as written
      ++i;
      continue;
    }
    const std::string* value = find(name);
    if (!value) {
      error = "undefined variable '$" + std::string(name) + "'";
      return std::nullopt;
    }
    out += *value;
    i = after;
  }
  return out;
}

}  // namespace mp::rewrite
