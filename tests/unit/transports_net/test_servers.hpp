// Real SMTP peers for the transport tests, on free loopback ports:
//   SmtpSink     — Postfix's /usr/sbin/smtp-sink as a child process (optionally dumping
//                  each message into a directory);
//   ScriptServer — a tiny SMTP/LMTP server on threads (TCP on any loopback address,
//                  or a unix socket; STARTTLS with a certificate made by
//                  make_test_certificate()) whose replies the test chooses per
//                  command, recording what the client sent and counting connections.
// Both stop (and clean up) in their destructors. Used by the transports_net tests.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
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
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
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

inline bool can_connect(std::uint16_t port, const std::string& address = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class SmtpSink {
 public:
  // `dump_dir` empty: accept and discard. `extra` are more smtp-sink options.
  // `address`/`port`: where to listen (port 0: a free one).
  explicit SmtpSink(const std::filesystem::path& dump_dir = {}, std::vector<std::string> extra = {},
                    std::string address = "127.0.0.1", std::uint16_t port = 0) {
    port_ = port != 0 ? port : free_port();
    std::vector<std::string> args{kSmtpSink};
    if (::geteuid() == 0) args.insert(args.end(), {"-u", "nobody"});
    if (!dump_dir.empty()) args.insert(args.end(), {"-d", (dump_dir / "%M.").string()});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(address + ":" + std::to_string(port_));
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
    while (!can_connect(port_, address)) {
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

// A self-signed certificate and key (EC P-256, CN=script.test) in `dir`, made with the
// openssl command: {cert, key} paths.
inline std::pair<std::string, std::string> make_test_certificate(const std::filesystem::path& dir) {
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=script.test -keyout '" +
      key + "' -out '" + cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  return {cert, key};
}

// What one client connection sent.
struct ScriptSession {
  std::vector<std::string> commands;  // every command line, without CRLF
  std::vector<std::string> messages;  // DATA contents, unstuffed, CRLF lines
  bool tls = false;                   // STARTTLS succeeded
  std::string sni;                    // the server name the client sent in the handshake
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
  // LMTP: after the message, one reply per accepted RCPT line (given that line).
  bool lmtp = false;
  std::function<std::string(const std::string& rcpt_line)> lmtp_dot = [](const std::string&) {
    return std::string("250 2.0.0 Ok");
  };
  bool close_after_mail = false;     // hang up instead of answering MAIL
  bool close_after_message = false;  // hang up (no 421) after answering the final "."
  // STARTTLS: the reply, and then (for 220) a TLS handshake with use_certificate()'s, or
  // garbage instead of a handshake when break_tls is set.
  std::string starttls = "220 2.0.0 Ready to start TLS";
  bool break_tls = false;

  // TCP on `address` ("127.0.0.1", "127.0.0.2", "::1") and `port` (0: any free one).
  explicit ScriptServer(const std::string& address = "127.0.0.1", std::uint16_t port = 0) {
    bool v6 = address.find(':') != std::string::npos;
    listen_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      ::inet_pton(AF_INET6, address.c_str(), &a.sin6_addr);
      rc = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
      socklen_t len = sizeof a;
      ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin6_port);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
      rc = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
      socklen_t len = sizeof a;
      ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    }
    finish_listen(rc);
  }
  // A unix-domain socket at `path`.
  static std::unique_ptr<ScriptServer> unix_socket(const std::string& path) {
    return std::unique_ptr<ScriptServer>(new ScriptServer(path, Unix{}));
  }
  ~ScriptServer() {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(stop_[1], &c, 1);
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : sessions_threads_) t.join();
    ::close(listen_);
    ::close(stop_[0]);
    ::close(stop_[1]);
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
  }
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  // The certificate offered after STARTTLS (see make_test_certificate()).
  void use_certificate(const std::string& cert, const std::string& key) {
    ssl_ctx_ = SSL_CTX_new(TLS_server_method());
    if (!ssl_ctx_ || SSL_CTX_use_certificate_chain_file(ssl_ctx_, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ssl_ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("cannot load the test certificate");
  }

  // Call after setting the replies.
  void start() {
    ::signal(SIGPIPE, SIG_IGN);  // a client that hung up must not kill the test
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
  // Most transactions (MAIL to the final reply) at once: what a concurrency limit bounds.
  int max_in_transaction() {
    std::lock_guard lock(mu_);
    return max_in_transaction_;
  }
  int max_active() {
    std::lock_guard lock(mu_);
    return max_active_;
  }
  std::size_t messages() {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& s : sessions_) n += s.messages.size();
    return n;
  }

 private:
  struct Unix {};
  ScriptServer(const std::string& path, Unix) : unix_path_(path) {
    listen_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long");
    std::copy(path.begin(), path.end(), a.sun_path);
    ::unlink(path.c_str());
    finish_listen(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a));
  }
  void finish_listen(int bind_rc) {
    if (bind_rc != 0 || ::listen(listen_, 64) != 0 || ::pipe(stop_) != 0) {
      ::close(listen_);
      throw std::runtime_error("cannot listen");
    }
  }

  // One client connection: plain until STARTTLS, then TLS.
  struct Peer {
    int fd = -1;
    SSL* ssl = nullptr;
    std::string buf;
  };

  void accept_loop() {
    for (;;) {
      pollfd p[2] = {{listen_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) continue;
      if (unix_path_.empty()) {
        int one = 1;  // one reply per send(): no Nagle delay between pipelined replies
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
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
  bool read_line(Peer& c, std::string& line) {
    for (;;) {
      std::size_t nl = c.buf.find("\r\n");
      if (nl != std::string::npos) {
        line = c.buf.substr(0, nl);
        c.buf.erase(0, nl + 2);
        return true;
      }
      if (!c.ssl || SSL_pending(c.ssl) == 0) {
        pollfd p[2] = {{c.fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) continue;
        if (p[1].revents) return false;
      }
      char tmp[4096];
      int n = c.ssl ? SSL_read(c.ssl, tmp, sizeof tmp)
                    : static_cast<int>(::read(c.fd, tmp, sizeof tmp));
      if (n <= 0) return false;
      c.buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  static void say(Peer& c, const std::string& reply) {
    std::string out = reply + "\r\n";
    if (c.ssl) {
      SSL_write(c.ssl, out.data(), static_cast<int>(out.size()));
    } else {
      [[maybe_unused]] auto n = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
  }

  void record(std::size_t index, const std::string& line) {
    std::lock_guard lock(mu_);
    sessions_[index].commands.push_back(line);
  }

  void finish(Peer& c, bool counted) {
    if (counted) {
      std::lock_guard lock(mu_);
      --active_;
    }
    if (c.ssl) SSL_free(c.ssl);
    ::close(c.fd);
  }

  // STARTTLS after its 220: true when the handshake worked.
  bool start_tls(Peer& c, std::size_t index) {
    if (break_tls || !ssl_ctx_) {
      const char junk[] = "this is not a TLS server hello\r\n";
      [[maybe_unused]] auto n = ::send(c.fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
      return false;
    }
    c.ssl = SSL_new(ssl_ctx_);
    SSL_set_fd(c.ssl, c.fd);
    if (SSL_accept(c.ssl) != 1) {
      ERR_clear_error();
      return false;
    }
    c.buf.clear();
    const char* sni = SSL_get_servername(c.ssl, TLSEXT_NAMETYPE_host_name);
    std::lock_guard lock(mu_);
    sessions_[index].tls = true;
    sessions_[index].sni = sni ? sni : "";
    return true;
  }

  void serve(int fd, std::size_t index) {
    Peer c;
    c.fd = fd;
    std::string line;
    bool counted = true;
    if (!greeting.empty()) say(c, greeting);
    if (greeting.empty() || greeting[0] != '2') {
      // Silent or refusing: wait for the client to hang up (or the test to end).
      while (read_line(c, line)) {
        record(index, line);
        if (!greeting.empty()) say(c, "503 5.5.1 go away");
      }
      return finish(c, counted);
    }
    std::vector<std::string> accepted;  // RCPT lines answered 2xx in this transaction
    while (read_line(c, line)) {
      record(index, line);
      std::string verb = line.substr(0, 4);
      for (char& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (verb == "EHLO" || verb == "LHLO") {
        say(c, ehlo);
      } else if (verb == "HELO") {
        say(c, "250 script.test");
      } else if (verb == "STAR") {
        say(c, starttls);
        if (starttls.rfind("220", 0) == 0 && !start_tls(c, index)) break;
      } else if (verb == "MAIL") {
        if (close_after_mail) break;
        {
          std::lock_guard lock(mu_);
          max_in_transaction_ = std::max(max_in_transaction_, ++in_transaction_);
        }
        accepted.clear();
        say(c, mail);
      } else if (verb == "RCPT") {
        std::string r = rcpt(line);
        if (!r.empty() && r[0] == '2') accepted.push_back(line);
        say(c, r);
      } else if (verb == "DATA") {
        say(c, data);
        if (data.rfind("354", 0) != 0) continue;
        std::string msg;
        bool complete = false;
        while (read_line(c, line)) {
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
          --in_transaction_;  // before the final reply: the client may start the next one then
        }
        if (lmtp) {
          for (const std::string& r : accepted) say(c, lmtp_dot(r));
        } else if (!dot.empty()) {
          say(c, dot);
        }
        if (close_after_message) break;
      } else if (verb == "RSET" || verb == "NOOP") {
        accepted.clear();
        say(c, "250 2.0.0 Ok");
      } else if (verb == "QUIT") {
        {
          std::lock_guard lock(mu_);
          --active_;  // before the reply: the client may connect again as soon as it has it
          counted = false;
        }
        say(c, "221 2.0.0 Bye");
        break;
      } else {
        say(c, "502 5.5.2 Error: command not recognized");
      }
    }
    finish(c, counted);
  }

  int listen_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::string unix_path_;
  SSL_CTX* ssl_ctx_ = nullptr;
  std::thread acceptor_;
  std::vector<std::thread> sessions_threads_;  // touched by the acceptor thread, joined after it
  std::mutex mu_;
  std::vector<ScriptSession> sessions_;
  int active_ = 0, max_active_ = 0;
  int in_transaction_ = 0, max_in_transaction_ = 0;  // MAIL .. end of data
};

}  // namespace mp::transports::testing
