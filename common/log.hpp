// Postfix-shaped log lines, one per event:
//   "Nov 22 10:00:00 HOST mailprocd/smtpd[PID]: ID: client=host[1.2.3.4]"
// The target is `stderr`, `syslog` (facility mail) or a file path; stderr and
// file lines carry the syslog prefix so pflogsumm can read them. Thread safe.
#pragma once

#include <string>
#include <string_view>

namespace mp::log {

// Chooses the target; until called, lines go to stderr with the system host name.
// Throws std::runtime_error when a log file cannot be opened.
void open(const std::string& target, const std::string& hostname);

// One line from a component ("smtpd", "qmgr", "smtp", "local", "pipe", "master", ...).
void info(std::string_view component, std::string_view text);
void warning(std::string_view component, std::string_view text);  // "warning: text"
void error(std::string_view component, std::string_view text);    // "error: text"

}  // namespace mp::log
