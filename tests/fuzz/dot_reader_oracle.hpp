// A reference model of smtpd::DotReader, written differently on purpose
// (string searches instead of an automaton), used as the oracle by
// tests/unit/smtpd/dot_reader_test.cpp and tests/fuzz/dot_reader_fuzz.cpp.
//
// The message ends at the first "\r\n.\r\n" in "\r\n" + input (the leading
// CRLF stands for the end of the DATA command line). Everything before it is
// split into real lines on "\r\n"; a line starting with "." loses that dot; any
// CR or LF left inside a line is bare and becomes CRLF (normalize mode).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mp::test {

struct DotExpect {
  bool done = false;
  std::size_t consumed = 0;
  bool bare = false;    // a bare CR or LF was seen in what was consumed (as far as decidable)
  std::string content;  // normalize-mode content; only filled when done
};

inline DotExpect dot_oracle(std::string_view in) {
  DotExpect r;
  std::string full = "\r\n";
  full.append(in);
  const std::size_t e = full.find("\r\n.\r\n");
  if (e == std::string::npos) {
    r.consumed = in.size();
    // Decidable bare line ends only: a trailing CR may still become CRLF.
    for (std::size_t k = 2; k < full.size(); ++k) {
      if (full[k] == '\n' && full[k - 1] != '\r') r.bare = true;
      if (full[k] == '\r' && k + 1 < full.size() && full[k + 1] != '\n') r.bare = true;
    }
    return r;
  }
  r.done = true;
  r.consumed = e + 3;
  if (e == 0) return r;  // "." CRLF right away: the empty message
  const std::string_view body = std::string_view(full).substr(2, e - 2);
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = body.find("\r\n", pos);
    std::string_view line =
        body.substr(pos, end == std::string_view::npos ? body.size() - pos : end - pos);
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    for (char c : line) {
      if (c == '\r' || c == '\n') {
        r.bare = true;
        r.content += "\r\n";
      } else {
        r.content += c;
      }
    }
    r.content += "\r\n";
    if (end == std::string_view::npos) break;
    pos = end + 2;
  }
  return r;
}

// True when every CR in `s` is followed by LF and every LF preceded by CR.
inline bool only_crlf(std::string_view s) {
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\r' && (k + 1 == s.size() || s[k + 1] != '\n')) return false;
    if (s[k] == '\n' && (k == 0 || s[k - 1] != '\r')) return false;
  }
  return true;
}

}  // namespace mp::test
