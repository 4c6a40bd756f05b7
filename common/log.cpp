// Postfix-shaped log lines to stderr, a file or syslog(3).
#include "common/log.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>

namespace mp::log {
namespace {

enum class Target { stderr_, file, syslog };

struct State {
  std::mutex mu;
  Target target = Target::stderr_;
  int fd = -1;  // file target
  std::string host;
  std::string syslog_ident;                                // component of the last openlog()
  std::map<std::string, std::string, std::less<>> idents;  // storage openlog() keeps pointing to
};

State& state() {
  static State s;
  return s;
}

std::string system_host() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// "Nov  2 10:00:00" in local time, independent of the locale.
std::string timestamp() {
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %2d %02d:%02d:%02d", months[tm.tm_mon % 12], tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

void write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void emit(int priority, std::string_view component, std::string_view prefix,
          std::string_view text) {
  State& s = state();
  std::lock_guard lock(s.mu);
  std::string body(prefix);
  body += text;
  // A line is one line: embedded CR/LF would forge log entries.
  for (char& c : body) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (s.target == Target::syslog) {
    if (s.syslog_ident != component) {
      auto it = s.idents.find(component);
      if (it == s.idents.end()) {
        it = s.idents.emplace(std::string(component), "mailprocd/" + std::string(component)).first;
      }
      openlog(it->second.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
      s.syslog_ident = std::string(component);
    }
    syslog(priority, "%s", body.c_str());
    return;
  }
  if (s.host.empty()) s.host = system_host();
  std::string line = timestamp() + " " + s.host + " mailprocd/" + std::string(component) + "[" +
                     std::to_string(::getpid()) + "]: " + body + "\n";
  write_all(s.target == Target::file ? s.fd : STDERR_FILENO, line);
}

}  // namespace

void open(const std::string& target, const std::string& hostname) {
  State& s = state();
  int fd = -1;
  Target t;
  if (target.empty() || target == "stderr") {
    t = Target::stderr_;
  } else if (target == "syslog") {
    t = Target::syslog;
  } else {
    t = Target::file;
    fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
      throw std::runtime_error(target + ": cannot open log file: " + std::strerror(errno));
  }
  std::lock_guard lock(s.mu);
  if (s.fd >= 0) ::close(s.fd);
  s.fd = fd;
  s.target = t;
  s.host = hostname.empty() ? system_host() : hostname;
  s.syslog_ident.clear();
}

void info(std::string_view component, std::string_view text) {
  emit(LOG_INFO, component, "", text);
}

void warning(std::string_view component, std::string_view text) {
  emit(LOG_WARNING, component, "warning: ", text);
}

void error(std::string_view component, std::string_view text) {
  emit(LOG_ERR, component, "error: ", text);
}

}  // namespace mp::log
