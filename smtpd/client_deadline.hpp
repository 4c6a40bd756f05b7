// When the client's input must have arrived: a deadline per record, not per
// read (Postfix's smtpd_per_record_deadline and smtpd_min_data_rate).
//
//   command line    the whole line within smtpd_timeout of when the server
//                   started waiting for it, however the bytes trickle in;
//   DATA / a BDAT   smtpd_timeout plus one second per smtpd_min_data_rate
//   chunk           bytes received so far, from the start of the data; the
//                   deadline grows as data arrives, so a client below the rate
//                   floor runs out of time. min_data_rate 0: no floor, each read
//                   of the data gets smtpd_timeout.
//
// Pure (no I/O, clock passed in); smtpd/net/session.cpp asks it before each
// read and tells it what each read brought. Unit tested on its own
// (tests/unit/smtpd/client_deadline_test.cpp).
#pragma once

#include <chrono>
#include <cstdint>

namespace mp::smtpd {

class ClientDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  ClientDeadline(std::chrono::seconds timeout, std::uint64_t min_data_rate)
      : timeout_(timeout), min_data_rate_(min_data_rate) {}

  // Before a read. `message`: the protocol reads message data (DATA, a BDAT
  // chunk). Otherwise it reads command lines: `line_pending` says part of one has
  // arrived, `lines_read` counts complete ones (a new count: a new line began).
  Clock::time_point before_read(Clock::time_point now, bool message, bool line_pending,
                                std::uint64_t lines_read);

  // A read brought `n` bytes.
  void received(std::size_t n);

  // Bytes received since the message data began (for "timeout after DATA (N bytes)").
  std::uint64_t message_bytes() const { return message_bytes_; }

 private:
  std::chrono::seconds timeout_;
  std::uint64_t min_data_rate_;
  bool in_message_ = false;
  Clock::time_point start_{};  // when the current line or message data began
  std::uint64_t lines_read_ = 0;
  std::uint64_t message_bytes_ = 0;
};

}  // namespace mp::smtpd
