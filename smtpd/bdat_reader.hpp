// The BDAT content reader: applies bare_newline to chunked message content
// exactly as DotReader does to DATA (RFC 3030 chunks carry no dot-stuffing,
// so only the line-end rule is left).
//
// A CR followed by LF is a line end, wherever the chunk boundaries fall (a CR
// ending one chunk and an LF starting the next is a proper CRLF); any other
// CR or LF is bare, and so is a CR that ends the last chunk. With
// BareNewline::reject nothing more is written once a bare one is seen and
// rejected() tells the caller to refuse the message; with BareNewline::normalize
// each bare CR or LF is stored as CRLF. Any split of the content gives the same
// result.
#pragma once

#include <string>
#include <string_view>

#include "common/config.hpp"

namespace mp::smtpd {

class BdatReader {
 public:
  explicit BdatReader(BareNewline mode) : mode_(mode) {}

  // Consumes all of `chunk` (a piece of one BDAT chunk), appending content to `out`.
  void feed(std::string_view chunk, std::string& out);
  // After the LAST chunk: a CR still pending is bare.
  void finish(std::string& out);

  bool rejected() const { return saw_bare_; }  // only meaningful in reject mode

 private:
  void put(std::string_view s, std::string& out) const;
  void bare(std::string& out);

  BareNewline mode_;
  bool saw_bare_ = false;
  bool pending_cr_ = false;  // the last byte fed was a CR (CRLF if an LF follows)
};

}  // namespace mp::smtpd
