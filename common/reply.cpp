// SMTP reply formatting (RFC 5321 4.2, enhanced status codes per RFC 2034).
#include "common/reply.hpp"

#include <vector>

namespace mp {
namespace {

// The text's lines: split on '\n', CRs dropped (a bare CR never reaches the wire),
// one trailing newline ignored; always at least one (possibly empty) line.
std::vector<std::string> text_lines(const std::string& text) {
  std::vector<std::string> lines(1);
  for (char c : text) {
    if (c == '\n') {
      lines.emplace_back();
    } else if (c != '\r') {
      lines.back() += c;
    }
  }
  if (lines.size() > 1 && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string head(int code, const std::string& status, char sep) {
  std::string out = std::to_string(code);
  out += sep;
  if (!status.empty()) out += status;
  return out;
}

}  // namespace

std::string Reply::wire() const {
  auto lines = text_lines(text);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    bool last = i + 1 == lines.size();
    std::string h = head(code, status, last ? ' ' : '-');
    if (!status.empty() && !lines[i].empty()) h += ' ';
    if (status.empty() && lines[i].empty() && last) h.pop_back();  // "250" alone
    out += h + lines[i] + "\r\n";
  }
  return out;
}

std::string Reply::joined_text() const {
  std::string out;
  for (const auto& l : text_lines(text)) {
    if (l.empty()) continue;
    if (!out.empty()) out += ' ';
    out += l;
  }
  return out;
}

std::string Reply::line() const {
  std::string out = std::to_string(code);
  if (!status.empty()) out += " " + status;
  std::string joined = joined_text();
  if (!joined.empty()) out += " " + joined;
  return out;
}

}  // namespace mp
