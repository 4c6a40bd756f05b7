// Real SMTP peers for the transport tests, on free loopback ports:
//   SmtpSink     — Postfix's /usr/sbin/smtp-sink as a child process (optionally dumping
//                  each message into a directory);
//   ScriptServer — a tiny SMTP server on threads (plain sockets) whose replies the test
//                  chooses per command, recording what the client sent.
// Both stop (and clean up) in their destructors. Used by smtp_relay_test.cpp and
// smtp_connection_test.cpp.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mp::transports::testing {

inline constexpr const char* kSmtpSink = "/usr/sbin/smtp-sink";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mp-smtp-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    ::chmod(path_.c_str(), 0777);  // smtp-sink runs as nobody when we are root
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A loopback port nobody listens on right now (bind to port 0, read it back, close).
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool can_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class SmtpSink {
 public:
  // `dump_dir` empty: accept and discard. `extra` are more smtp-sink options.
  explicit SmtpSink(const std::filesystem::path& dump_dir = {},
                    std::vector<std::string> extra = {}) {
    port_ = free_port();
    std::vector<std::string> args{kSmtpSink};
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "nobody"});
    if (!dump_dir.empty()) args.insert(args.end(), {"-d", (dump_dir / "%M.").string()});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("127.0.0.1:" + std::to_string(port_));
    args.push_back("100");
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Started when it accepts: poll (a child has no other way to say it is listening).
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!can_connect(port_)) {
      if (std::chrono::steady_clock::now() > until)
        throw std::runtime_error("smtp-sink did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~SmtpSink() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// What one client connection sent.
struct ScriptSession {
  std::vector<std::string> commands;  // every command line, without CRLF
  std::vector<std::string> messages;  // DATA contents, unstuffed, CRLF lines
};

class ScriptServer {
 public:
  std::string greeting = "220 script.test ESMTP";  // empty: say nothing, ever
  std::string ehlo = "250-script.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES";
  std::string mail = "250 2.1.0 Ok";
  std::function<std::string(const std::string& rcpt_line)> rcpt = [](const std::string&) {
    return std::string("250 2.1.5 Ok");
  };
  std::string data = "354 End data with <CR><LF>.<CR><LF>";
  std::string dot = "250 2.0.0 Ok: queued as SCRIPT";  // empty: never answer the final "."
  bool close_after_mail = false;                       // hang up instead of answering MAIL

  explicit ScriptServer(bool ipv6 = false) {
    listen_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (ipv6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      rc = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
      socklen_t len = sizeof a;
      ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin6_port);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
      socklen_t len = sizeof a;
      ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    }
    if (rc != 0 || ::listen(listen_, 16) != 0 || ::pipe(stop_) != 0) {
      ::close(listen_);
      throw std::runtime_error("cannot listen");
    }
  }
  ~ScriptServer() {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(stop_[1], &c, 1);
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : sessions_threads_) t.join();
    ::close(listen_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  // Call after setting the replies.
  void start() {
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  std::uint16_t port() const { return port_; }

  std::vector<ScriptSession> sessions() {
    std::lock_guard lock(mu_);
    return sessions_;
  }
  std::size_t connections() {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }
  int max_active() {
    std::lock_guard lock(mu_);
    return max_active_;
  }

 private:
  void accept_loop() {
    for (;;) {
      pollfd p[2] = {{listen_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;  // one reply per send(): no Nagle delay between pipelined replies
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::size_t index;
      {
        std::lock_guard lock(mu_);
        index = sessions_.size();
        sessions_.emplace_back();
        max_active_ = std::max(max_active_, ++active_);
      }
      sessions_threads_.emplace_back([this, fd, index] { serve(fd, index); });
    }
  }

  // One line (without CRLF); false on EOF or stop.
  bool read_line(int fd, std::string& buf, std::string& line) {
    for (;;) {
      std::size_t nl = buf.find("\r\n");
      if (nl != std::string::npos) {
        line = buf.substr(0, nl);
        buf.erase(0, nl + 2);
        return true;
      }
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return false;
      char tmp[4096];
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  static void say(int fd, const std::string& reply) {
    std::string out = reply + "\r\n";
    [[maybe_unused]] auto n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  }

  void record(std::size_t index, const std::string& line) {
    std::lock_guard lock(mu_);
    sessions_[index].commands.push_back(line);
  }

  void finish(std::size_t index, int fd, bool counted) {
    if (counted) {
      std::lock_guard lock(mu_);
      --active_;
    }
    (void)index;
    ::close(fd);
  }

  void serve(int fd, std::size_t index) {
    std::string buf, line;
    bool counted = true;
    if (!greeting.empty()) say(fd, greeting);
    if (greeting.empty() || greeting[0] != '2') {
      // Silent or refusing: wait for the client to hang up (or the test to end).
      while (read_line(fd, buf, line)) {
        record(index, line);
        if (!greeting.empty()) say(fd, "503 5.5.1 go away");
      }
      return finish(index, fd, counted);
    }
    while (read_line(fd, buf, line)) {
      record(index, line);
      std::string verb = line.substr(0, 4);
      for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (verb == "EHLO" || verb == "LHLO") {
        say(fd, ehlo);
      } else if (verb == "HELO") {
        say(fd, "250 script.test");
      } else if (verb == "MAIL") {
        if (close_after_mail) break;
        say(fd, mail);
      } else if (verb == "RCPT") {
        say(fd, rcpt(line));
      } else if (verb == "DATA") {
        say(fd, data);
        if (data.rfind("354", 0) != 0) continue;
        std::string msg;
        bool complete = false;
        while (read_line(fd, buf, line)) {
          if (line == ".") {
            complete = true;
            break;
          }
          msg += (line.rfind(".", 0) == 0 ? line.substr(1) : line) + "\r\n";
        }
        if (!complete) break;
        {
          std::lock_guard lock(mu_);
          sessions_[index].messages.push_back(msg);
        }
        if (!dot.empty()) say(fd, dot);
      } else if (verb == "RSET" || verb == "NOOP") {
        say(fd, "250 2.0.0 Ok");
      } else if (verb == "QUIT") {
        {
          std::lock_guard lock(mu_);
          --active_;  // before the reply: the client may connect again as soon as it has it
          counted = false;
        }
        say(fd, "221 2.0.0 Bye");
        break;
      } else {
        say(fd, "502 5.5.2 Error: command not recognized");
      }
    }
    finish(index, fd, counted);
  }

  int listen_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> sessions_threads_;  // touched by the acceptor thread, joined after it
  std::mutex mu_;
  std::vector<ScriptSession> sessions_;
  int active_ = 0, max_active_ = 0;
};

}  // namespace mp::transports::testing
