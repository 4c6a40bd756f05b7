// The DATA reader automaton (see dot_reader.hpp for the contract).
//
// States (DotReader::state_):
//   kBol    at the start of a real line: right after the 354, or after a real CRLF
//   kMid    inside a line
//   kCr     inside a line, a CR is pending (CRLF if an LF follows, else a bare CR)
//   kDot    a "." was seen at the start of a real line (pending: unstuffing or end)
//   kDotCr  ".\r" at the start of a real line: an LF now ends the message
//
// Only kCr + LF leads to kBol, so a line (for unstuffing and end detection)
// starts only after a real CRLF; only kDotCr + LF ends the message. A pending
// CR or dot is kept in the state, never in a look-ahead buffer, so the result
// does not depend on where the input is split. Bare CR/LF are written as CRLF
// (normalize), or nothing more is written once one is seen (reject: the caller
// refuses the message anyway, so storing it would only waste memory/disk).
#include "smtpd/dot_reader.hpp"

namespace mp::smtpd {

namespace {

enum State : int { kBol = 0, kMid, kCr, kDot, kDotCr };

}  // namespace

std::size_t DotReader::feed(std::string_view in, std::string& out) {
  if (done_) return 0;
  const bool reject = mode_ == BareNewline::reject;
  // Appends content unless this message is already refused.
  auto put = [&](std::string_view s) {
    if (!(reject && saw_bare_)) out.append(s);
  };
  auto bare = [&] {
    saw_bare_ = true;
    put("\r\n");
  };
  // One byte inside a line (no line start is possible here).
  auto mid = [&](char c) {
    if (c == '\r') {
      state_ = kCr;
    } else if (c == '\n') {
      bare();
      state_ = kMid;
    } else {
      put(std::string_view(&c, 1));
      state_ = kMid;
    }
  };

  const char* const data = in.data();
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (i < n) {
    if (state_ == kMid) {
      // Fast path: copy the run of ordinary bytes up to the next CR or LF.
      std::size_t j = i;
      while (j < n && data[j] != '\r' && data[j] != '\n') ++j;
      if (j > i) put(in.substr(i, j - i));
      i = j;
      if (i == n) break;
    }
    const char c = data[i++];
    switch (state_) {
      case kBol:
        if (c == '.') {
          state_ = kDot;
        } else {
          mid(c);
        }
        break;
      case kMid:
        mid(c);
        break;
      case kCr:
        if (c == '\n') {
          put("\r\n");
          state_ = kBol;
        } else {
          bare();  // the pending CR was not followed by LF
          mid(c);
        }
        break;
      case kDot:
        // A line starting with "." loses that dot, whatever follows it.
        if (c == '\r') {
          state_ = kDotCr;
        } else {
          mid(c);
        }
        break;
      case kDotCr:
        if (c == '\n') {
          done_ = true;
          return i;
        }
        bare();  // ".\r" + not LF: the dot was stuffing, the CR is bare
        mid(c);
        break;
    }
  }
  return i;
}

}  // namespace mp::smtpd
