// What a session leaves in the log besides replies, in Postfix's shapes
// (SPEC: Logs): the command counts of the disconnect line and the Message-ID
// of each accepted message. Pure: no I/O, fed by smtpd::Protocol.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "smtpd/command.hpp"

namespace mp::smtpd {

// "ehlo=1 mail=1 rcpt=0/1 data=1 quit=1 commands=3/5": per command verb how many
// succeeded / how many were given (one number when all succeeded), in the order
// Postfix prints them; verbs never given are left out.
class CommandCounts {
 public:
  void count(Verb verb, bool ok);
  std::string text() const;

 private:
  struct Tally {
    unsigned ok = 0, total = 0;
  };
  std::array<Tally, static_cast<std::size_t>(Verb::unknown) + 1> tallies_{};
};

// Collects a message's header section (up to a bound) as its content arrives,
// to find its Message-ID for the "ID: message-id=<...>" line.
class HeaderScan {
 public:
  static constexpr std::size_t kLimit = 64 * 1024;
  void reset();
  void feed(std::string_view content);  // the message's bytes, CRLF lines
  // The Message-ID field's value, unfolded and trimmed ("" when there is none).
  std::string message_id() const;

 private:
  std::string headers_;
  bool done_ = false;
};

}  // namespace mp::smtpd
