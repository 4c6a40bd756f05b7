// How mpsendmail queues a message, whatever mode it runs in (a message on
// stdin, or each message of a `-bs` SMTP dialogue): directly into the spool
// when this process may write it (root, which first becomes the spool's
// owner, or the owner), otherwise through the daemon's submit socket.
//
// Called by tools/mpsendmail_main.cpp and tools/sendmail_modes.cpp.
// Invariants: status 0 only once the message is durably queued; the first
// queue() decides the way once (root's change of user is for good); the log
// is opened before privileges change.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>

#include "common/config.hpp"
#include "common/envelope.hpp"

namespace mp::submission {

struct Invoker {
  uid_t uid = 0;
  std::string name;       // login name, or "#UID" when the uid has no passwd entry
  std::string full_name;  // GECOS, first field
};
Invoker invoking_user();

int utc_offset(std::time_t now);                                   // of local time, in seconds
std::string message_id(const std::string& host, std::time_t now);  // "<...@host>"

struct Queued {
  int status = 0;     // sysexits: 0 queued, 65 refused for good, 75 try later
  std::string id;     // the queue ID when queued
  std::string error;  // why not, one line (without "mpsendmail: ")
};

class Queuer {
 public:
  Queuer(const Config& config, Invoker who);  // opens the log (when it is a file or syslog)
  // `content`: CRLF lines, without our Received: header (added here, or by the
  // daemon with the uid it sees); `date` is that header's date.
  Queued queue(const Envelope& env, const std::string& content, const std::string& date);
  const Invoker& who() const { return who_; }

 private:
  const Config& config_;
  Invoker who_;
  bool logging_ = false;
  bool decided_ = false;
  bool direct_ = false;
  std::string why_not_direct_;
};

}  // namespace mp::submission
