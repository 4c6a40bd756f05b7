// SpamdClient against a scripted spamd in a thread (TCP and unix socket): the exact
// request, recorded replies, replies dribbled byte by byte, errors, a refused
// connection, a server that never answers (deadline), abort(), big messages.
#include "transports/spam_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "local_test_util.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

const std::string kSymbolsSpam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 55\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
    "GTUBE,MSGID_SHORT,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO";
const std::string kSymbolsHam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 33\r\nSpam: False ; -0.0 / 5.0\r\n\r\n"
    "MSGID_SHORT,NO_RECEIVED,NO_RELAYS";
const std::string kMessage = "Subject: hi\r\n\r\nhello\r\n";

// One scripted answer per connection (the last one repeats).
struct Answer {
  std::string reply;
  bool dribble = false;      // one byte per write
  bool hold = false;         // read the request, then never answer (until the server stops)
  bool read_request = true;  // false: answer at once, without reading
};

class FakeSpamd {
 public:
  explicit FakeSpamd(std::deque<Answer> answers, std::string unix_path = "")
      : answers_(std::move(answers)), unix_path_(std::move(unix_path)) {
    if (unix_path_.empty()) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
      socklen_t len = sizeof a;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    } else {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, unix_path_.c_str(), sizeof a.sun_path - 1);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    EXPECT_EQ(::listen(fd_, 16), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeSpamd() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }

  SpamdEndpoint endpoint() const {
    SpamdEndpoint ep;
    if (unix_path_.empty()) {
      ep.host = "127.0.0.1";
      ep.port = port_;
    } else {
      ep.unix_path = unix_path_;
    }
    return ep;
  }

  // Waits (bounded) until `n` requests were read; returns them.
  std::vector<std::string> requests(std::size_t n = 0) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return requests_.size() >= n; });
    return requests_;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      Answer a;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) {
          ::close(c);
          return;
        }
        a = answers_.front();
        if (answers_.size() > 1) answers_.pop_front();
      }
      if (a.read_request) {
        std::string req = read_request(c);
        std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      changed_.notify_all();
      if (a.hold) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_; });
      } else if (a.dribble) {
        for (char ch : a.reply) ::send(c, &ch, 1, MSG_NOSIGNAL);
      } else {
        ::send(c, a.reply.data(), a.reply.size(), MSG_NOSIGNAL);
      }
      ::close(c);
    }
  }

  static std::string read_request(int c) {
    std::string data;
    char buf[65536];
    std::size_t want = std::string::npos;
    for (;;) {
      std::size_t end = data.find("\r\n\r\n");
      if (end != std::string::npos && want == std::string::npos) {
        std::size_t cl = data.find("Content-length: ");
        std::size_t len = cl < end ? std::stoul(data.substr(cl + 16)) : 0;
        want = end + 4 + len;
      }
      if (want != std::string::npos && data.size() >= want) return data;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return data;
      data.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::deque<Answer> answers_;
  std::string unix_path_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(SpamClient, HamOverTcpWithTheExactRequest) {
  FakeSpamd server({{kSymbolsHam}});
  SpamdClient client(server.endpoint(), 5s);
  SpamCheck c = client.scan("alice", kMessage);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_FALSE(c.verdict.spam);
  EXPECT_EQ(c.verdict.tests.size(), 3u);
  auto reqs = server.requests(1);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0], "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(kMessage.size()) +
                         "\r\nUser: alice\r\n\r\n" + kMessage);
}

TEST(SpamClient, SpamOverAUnixSocket) {
  testing::TempDir dir;
  FakeSpamd server({{kSymbolsSpam}}, (dir.path() / "spamd.sock").string());
  SpamdClient client(server.endpoint(), 5s);
  EXPECT_EQ(client.describe(), "spamd unix:" + (dir.path() / "spamd.sock").string());
  SpamCheck c = client.scan("bob", kMessage);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_TRUE(c.verdict.spam);
  EXPECT_DOUBLE_EQ(c.verdict.score, 1000.0);
  EXPECT_EQ(c.verdict.tests.front(), "GTUBE");
}

TEST(SpamClient, RepliesDribbledByteByByte) {
  FakeSpamd server({{kSymbolsSpam, true}, {"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0", true}});
  SpamdClient client(server.endpoint(), 5s);
  SpamCheck c = client.scan("alice", kMessage);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_TRUE(c.verdict.spam);
  c = client.scan("alice", kMessage);  // no trailing CRLF, ended by the close
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_FALSE(c.verdict.spam);
}

TEST(SpamClient, ErrorReplies) {
  FakeSpamd server({{"SPAMD/1.0 76 Bad header line: (header not in 'Name: value' format)\r\n"},
                    {"SPAMD/1.1 0 EX_OK\r\n\r\n"},
                    {"HTTP/1.1 400 Bad Request\r\n\r\n"},
                    {""}});
  SpamdClient client(server.endpoint(), 5s);
  std::string ep = server.endpoint().str();
  SpamCheck c = client.scan("alice", kMessage);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "spamd " + ep +
                         ": spamd said: 76 Bad header line: (header not in 'Name: value' format)");
  c = client.scan("alice", kMessage);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "spamd " + ep + ": spamd reply has no Spam: header");
  c = client.scan("alice", kMessage);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("not a spamd reply"), std::string::npos) << c.error;
  c = client.scan("alice", kMessage);  // closed without a word
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("closed without a reply"), std::string::npos) << c.error;
}

TEST(SpamClient, EarlyErrorWhileStillSending) {
  // The server answers before reading a large message and closes: its reply explains.
  FakeSpamd server({{"SPAMD/1.0 76 Bad header line: go away\r\n", false, false, false}});
  SpamdClient client(server.endpoint(), 5s);
  SpamCheck c = client.scan("alice", std::string(8 * 1024 * 1024, 'x'));
  EXPECT_FALSE(c.ok);
  EXPECT_TRUE(c.error.find("76 Bad header line: go away") != std::string::npos ||
              c.error.find("Connection reset") != std::string::npos ||
              c.error.find("Broken pipe") != std::string::npos)
      << c.error;
}

TEST(SpamClient, ConnectionRefused) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // bound, never listening
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  SpamdEndpoint ep{"127.0.0.1", ntohs(a.sin_port), ""};
  SpamdClient client(ep, 5s);
  SpamCheck c = client.scan("alice", kMessage);
  ::close(fd);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.error, "spamd " + ep.str() + ": connect: Connection refused");
  SpamdClient missing(SpamdEndpoint{"", 0, "/nonexistent/spamd.sock"}, 5s);
  c = missing.scan("alice", kMessage);
  EXPECT_EQ(c.error, "spamd unix:/nonexistent/spamd.sock: connect: No such file or directory");
}

TEST(SpamClient, DeadlineWhenTheServerNeverAnswers) {
  FakeSpamd server({{"", false, true}});
  SpamdClient client(server.endpoint(), 300ms);
  auto start = std::chrono::steady_clock::now();
  SpamCheck c = client.scan("alice", kMessage);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("timed out waiting for the reply"), std::string::npos) << c.error;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(SpamClient, AbortEndsARunningScanAtOnce) {
  FakeSpamd server({{"", false, true}});
  SpamdClient client(server.endpoint(), 60s);
  SpamCheck c;
  std::thread t([&] { c = client.scan("alice", kMessage); });
  server.requests(1);  // the scan is waiting for its reply now
  auto start = std::chrono::steady_clock::now();
  client.abort();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("aborted"), std::string::npos) << c.error;
  // And later scans fail at once too.
  c = client.scan("alice", kMessage);
  EXPECT_FALSE(c.ok);
}

TEST(SpamClient, UnsafeUserIsLeftOut) {
  FakeSpamd server({{kSymbolsHam}});
  SpamdClient client(server.endpoint(), 5s);
  ASSERT_TRUE(client.scan("evil\r\nUser: root", kMessage).ok);
  auto reqs = server.requests(1);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].find("User:"), std::string::npos) << reqs[0];
}

TEST(SpamClient, BigMessageIsSentWhole) {
  FakeSpamd server({{kSymbolsHam}});
  SpamdClient client(server.endpoint(), 10s);
  std::string big = "Subject: big\r\n\r\n" + std::string(3 * 1024 * 1024, 'a') + "\r\n";
  SpamCheck c = client.scan("alice", big);
  ASSERT_TRUE(c.ok) << c.error;
  auto reqs = server.requests(1);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].size(), spamd_request_head("SYMBOLS", "alice", big.size()).size() + big.size());
}

TEST(SpamClient, Ping) {
  FakeSpamd server({{"SPAMD/1.5 0 PONG\r\n"}, {"SPAMD/1.5 0 EX_OK\r\n"}});
  SpamdClient client(server.endpoint(), 5s);
  std::string error;
  EXPECT_TRUE(client.ping(error)) << error;
  EXPECT_EQ(server.requests(1)[0], "PING SPAMC/1.5\r\n\r\n");
  EXPECT_FALSE(client.ping(error));
  EXPECT_NE(error.find("unexpected PING reply"), std::string::npos) << error;
}

TEST(SpamClient, Endpoints) {
  auto ep = parse_spamd_endpoint("127.0.0.1:783");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 783);
  EXPECT_EQ(ep->str(), "127.0.0.1:783");
  ep = parse_spamd_endpoint("[::1]:11333");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->str(), "[::1]:11333");
  ep = parse_spamd_endpoint("unix:/run/spamd.sock");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->unix_path, "/run/spamd.sock");
  EXPECT_EQ(ep->str(), "unix:/run/spamd.sock");
  EXPECT_FALSE(parse_spamd_endpoint("127.0.0.1"));  // a port is needed
  EXPECT_FALSE(parse_spamd_endpoint("unix:"));
  EXPECT_FALSE(parse_spamd_endpoint("unix:relative"));
  EXPECT_FALSE(parse_spamd_endpoint(""));
}

}  // namespace
}  // namespace mp::transports
