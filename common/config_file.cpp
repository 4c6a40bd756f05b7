// Line reader shared by mailprocd.conf and the rewrite/ map files.
#include "common/config_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mp {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_space(char c) {
  return is_blank(c) || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

[[noreturn]] void cannot_read(const std::filesystem::path& file, int err) {
  throw ConfigError({file.string() + ": cannot read: " + std::strerror(err)});
}

std::string read_all(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) cannot_read(file, errno);
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      cannot_read(file, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

std::string join_errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += '\n';
    out += e;
  }
  return out;
}

}  // namespace

std::string quote_excerpt(std::string_view text, std::size_t limit) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  if (text.size() > limit) out += "...";
  return out;
}

std::vector<ConfigLine> read_config_lines(const std::filesystem::path& file) {
  return split_config_lines(read_all(file));
}

std::vector<ConfigLine> split_config_lines(std::string_view data) {
  std::vector<ConfigLine> lines;
  std::string_view rest(data);
  int number = 0;
  while (!rest.empty()) {
    ++number;
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    // A comment starts with '#' at the start of the line or after a blank.
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) {
        line = line.substr(0, i);
        break;
      }
    }
    line = trim(line);
    if (!line.empty()) lines.push_back({number, std::string(line)});
  }
  return lines;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t i = 0;
  auto sep = [](char c) { return c == ',' || is_blank(c); };
  while (i < text.size()) {
    while (i < text.size() && sep(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !sep(text[i])) ++i;
    if (i > start) items.emplace_back(text.substr(start, i - start));
  }
  return items;
}

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error(join_errors(errors)), errors_(std::move(errors)) {}

}  // namespace mp
