// Record deadlines (see client_deadline.hpp for the contract).
#include "smtpd/client_deadline.hpp"

namespace mp::smtpd {

ClientDeadline::Clock::time_point ClientDeadline::before_read(Clock::time_point now, bool message,
                                                              bool line_pending,
                                                              std::uint64_t lines_read) {
  if (message) {
    if (!in_message_) {
      in_message_ = true;
      start_ = now;
      message_bytes_ = 0;
    }
    if (min_data_rate_ == 0) return now + timeout_;
    auto credit = std::chrono::duration<double>(static_cast<double>(message_bytes_) /
                                                static_cast<double>(min_data_rate_));
    return start_ + timeout_ + std::chrono::duration_cast<Clock::duration>(credit);
  }
  // A command line begins when nothing of it is buffered, or when the bytes
  // buffered came after a line (or the message data) that has just ended.
  if (in_message_ || !line_pending || lines_read != lines_read_) start_ = now;
  in_message_ = false;
  lines_read_ = lines_read;
  return start_ + timeout_;
}

void ClientDeadline::received(std::size_t n) {
  if (in_message_) message_bytes_ += n;
}

}  // namespace mp::smtpd
