// X-Spam-* headers: removal of incoming ones, ours in front.
#include "transports/spam_headers.hpp"

#include <cstdio>
#include <vector>

namespace mp::transports {
namespace {

constexpr std::size_t kLineLimit = 78;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i])) return false;
  return true;
}

// A header field line's name is ours to replace: "X-Spam" or "X-Spam-*".
bool spam_field(std::string_view line) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return (name.size() == 6 && istarts_with(name, "x-spam")) || istarts_with(name, "x-spam-");
}

std::string printable(std::string_view s, std::size_t limit) {
  std::string out;
  for (char c : s) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string prepend(std::string_view lines, std::string_view message) {
  std::string stripped = strip_spam_headers(message);
  std::string out;
  out.reserve(lines.size() + stripped.size());
  out += lines;
  out += stripped;
  return out;
}

}  // namespace

std::string strip_spam_headers(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  std::size_t pos = 0;
  bool dropping = false;
  while (pos < message.size()) {
    std::size_t nl = message.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view line = message.substr(pos, end - pos);
    std::string_view text = line;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) break;  // the blank line: the body follows, untouched
    if (text.front() == ' ' || text.front() == '\t') {
      if (!dropping) out += line;  // a continuation line belongs to the field before it
    } else {
      dropping = spam_field(text);
      if (!dropping) out += line;
    }
    pos = end;
  }
  out += message.substr(pos);
  return out;
}

std::string format_score(double score) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  std::string s(buf);
  if (s == "-0.0") s = "0.0";
  return s;
}

std::string spam_header_lines(const SpamVerdict& v) {
  std::string out;
  out += v.spam ? "X-Spam-Flag: YES\r\n" : "X-Spam-Flag: NO\r\n";
  out += "X-Spam-Score: " + format_score(v.score) + "\r\n";
  std::string line = std::string("X-Spam-Status: ") + (v.spam ? "Yes" : "No") +
                     ", score=" + format_score(v.score) + " required=" + format_score(v.threshold) +
                     " tests=";
  std::vector<std::string> tests;
  for (const std::string& t : v.tests) {
    std::string item = printable(t, 60);
    if (!item.empty()) tests.push_back(std::move(item));
  }
  if (tests.empty()) line += "none";
  for (std::size_t i = 0; i < tests.size(); ++i) {
    std::string item = tests[i] + (i + 1 < tests.size() ? "," : "");
    if (line.size() + item.size() > kLineLimit) {
      out += line + "\r\n";
      line = "\t";
    }
    line += item;
  }
  out += line + "\r\n";
  return out;
}

std::string tag_scanned(std::string_view message, const SpamVerdict& verdict) {
  return prepend(spam_header_lines(verdict), message);
}

std::string tag_unscanned(std::string_view message, std::string_view reason) {
  std::string why = printable(reason, 48);
  std::string line = "X-Spam-Status: unscanned";
  if (!why.empty()) line += " (" + why + ")";
  return prepend(line + "\r\n", message);
}

}  // namespace mp::transports
