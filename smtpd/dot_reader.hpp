// The DATA reader: turns the dot-stuffed SMTP byte stream into message content.
//
// Smuggling-safe by construction: the message ends only at CRLF "." CRLF where
// both line ends are real CRLF pairs. A bare LF or bare CR never ends a line
// for the purpose of finding the end, never starts a line for dot-unstuffing,
// and never splits the message. With BareNewline::reject the reader still reads
// to the real end, then reports rejected() so the whole message is refused;
// with BareNewline::normalize each bare LF or CR is stored as CRLF.
// Content is stored with CRLF line ends, without the final "." line, dots
// unstuffed. Long lines are kept intact. Fed incrementally, any split of the
// input gives the same result (fuzzed: tests/fuzz/dot_reader_fuzz.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/config.hpp"

namespace mp::smtpd {

class DotReader {
 public:
  explicit DotReader(BareNewline mode) : mode_(mode) {}

  // Consumes bytes from `in`, appending content to `out`; returns how many bytes
  // were consumed. Stops right after the terminating CRLF.CRLF (done() is then true),
  // leaving the rest (pipelined commands) unconsumed.
  std::size_t feed(std::string_view in, std::string& out);

  bool done() const { return done_; }
  bool rejected() const { return saw_bare_; }  // only meaningful in reject mode
  bool saw_bare_newline() const { return saw_bare_; }

 private:
  BareNewline mode_;
  bool done_ = false;
  bool saw_bare_ = false;
  int state_ = 0;  // position in the line/terminator automaton (see dot_reader.cpp)
};

}  // namespace mp::smtpd
