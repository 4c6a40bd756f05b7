// mailprocd's submit socket (tools/submit_server.hpp) driven by mpsendmail's
// client (tools/submit_client.hpp): a message is queued durably with the
// peer's uid in its Received: header, and "ok ID" comes only after that;
// malformed or oversized requests are refused and leave nothing in the queue.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/unique_fd.hpp"
#include "queue/layout.hpp"
#include "queue/writer.hpp"
#include "tools/submission.hpp"
#include "tools/submit_client.hpp"
#include "tools/submit_protocol.hpp"
#include "tools/submit_server.hpp"

namespace fs = std::filesystem;
using namespace mp;

namespace {

class SubmitServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mp-submit-server-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    layout_ = std::make_unique<queue::Layout>(dir_ / "spool");
    layout_->create();
    writer_ = std::make_unique<queue::Writer>(*layout_);
    socket_ = dir_ / "run" / "submit";
  }
  void TearDown() override {
    stop();
    writer_.reset();
    fs::remove_all(dir_);
  }

  void start(submit::Settings settings = {}) {
    if (settings.hostname.empty()) settings.hostname = "h.test";
    server_ = std::make_unique<submit::Server>(io_, socket_, *writer_, settings);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { server_.reset(); });
    work_.reset();
    thread_.join();
  }

  std::vector<fs::path> incoming() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(layout_->dir(queue::SubQueue::incoming)))
      out.push_back(e.path());
    return out;
  }

  static std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  // A raw request on the socket; returns the answer line.
  std::string raw(const std::string& bytes) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, socket_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::shutdown(fd, SHUT_WR);
    std::string answer;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) answer.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return answer;
  }

  Envelope envelope() {
    Envelope env;
    std::string error;
    env.sender = *submission::parse_recipient("alice@x.org", "h", error);
    env.recipients = {*submission::parse_recipient("bob@y.org", "h", error)};
    return env;
  }

  fs::path dir_, socket_;
  std::unique_ptr<queue::Layout> layout_;
  std::unique_ptr<queue::Writer> writer_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<submit::Server> server_;
  std::thread thread_;
};

TEST_F(SubmitServerTest, QueuesDurablyWithThePeersUid) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u) << "every local user must be able to connect";

  submission::SubmitResult r = submission::submit(
      socket_, envelope(), "Subject: hi\r\n\r\nbody\r\n", std::chrono::seconds(10));
  ASSERT_EQ(r.status, 0) << r.error;
  auto files = incoming();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string(), r.id);  // "ok" named the file already in incoming/
  std::string qf = read_file(files[0]);
  EXPECT_NE(qf.find("sender: <alice@x.org>\n"), std::string::npos) << qf;
  EXPECT_NE(qf.find("rcpt: <bob@y.org>\n"), std::string::npos) << qf;
  EXPECT_NE(qf.find("protocol: local\n"), std::string::npos) << qf;
  EXPECT_NE(qf.find("Received: by h.test (mailproc, from userid " + std::to_string(::getuid()) +
                    ")\r\n\tid " + r.id + "; "),
            std::string::npos)
      << qf;
  EXPECT_TRUE(qf.ends_with("\r\nSubject: hi\r\n\r\nbody\r\n")) << qf;
}

TEST_F(SubmitServerTest, RefusesBadRequestsAndQueuesNothing) {
  submit::Settings s;
  s.message_size_limit = 100;
  s.max_recipients = 2;
  start(s);
  const std::string head = "MAILPROC-SUBMIT 1\nsender <a@x.org>\nrcpt <b@y.org>\n";
  EXPECT_EQ(raw(head + "size 4\n\nx\ny\n").rfind("fail ", 0), 0u);  // bare LF
  EXPECT_EQ(raw(head + "size 3\n\nx\r\r").rfind("fail ", 0), 0u);   // bare CR
  EXPECT_EQ(raw(head + "size 101\n\n" + std::string(99, 'x') + "\r\n").rfind("fail ", 0), 0u);
  EXPECT_EQ(raw(head + "rcpt <c@z.org>\nrcpt <d@z.org>\nsize 3\n\nx\r\n").rfind("fail ", 0), 0u);
  EXPECT_EQ(raw(head + "size 3\n\nx\r\nEXTRA").rfind("fail ", 0), 0u);  // more than announced
  EXPECT_EQ(raw("HELO\n\n").rfind("fail ", 0), 0u);
  EXPECT_EQ(raw(head + "size 10\n\nx\r\n"), "");  // the client went away early: no answer
  EXPECT_TRUE(incoming().empty());
  EXPECT_TRUE(fs::is_empty(layout_->tmp()));
  // And a good one still works after all that.
  EXPECT_EQ(raw(head + "size 3\n\nx\r\n").rfind("ok ", 0), 0u);
  EXPECT_EQ(incoming().size(), 1u);
}

TEST_F(SubmitServerTest, ZeroMessageSizeLimitMeansNoLimit) {
  submit::Settings s;
  s.message_size_limit = 0;  // as in Postfix: unlimited, not "refuse everything"
  start(s);
  submission::SubmitResult r = submission::submit(
      socket_, envelope(), "Subject: hi\r\n\r\nbody\r\n", std::chrono::seconds(10));
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_EQ(incoming().size(), 1u);
}

TEST_F(SubmitServerTest, OverTheConnectionLimitTheClientReportsTheRefusal) {
  submit::Settings s;
  s.connections_per_uid = submit::kMaxConnections + 1;  // the overall cap, not the per-uid one
  start(s);
  std::vector<UniqueFd> held;
  for (std::size_t i = 0; i < submit::kMaxConnections; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, socket_.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    held.emplace_back(fd);
  }
  std::string big(4 * 1024 * 1024, 'x');
  submission::SubmitResult r = submission::submit(
      socket_, envelope(), "Subject: hi\r\n\r\n" + big + "\r\n", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 75);
  EXPECT_NE(r.error.find("too many local submissions"), std::string::npos) << r.error;
}

TEST_F(SubmitServerTest, OneUidCannotHoldEveryConnection) {
  submit::Settings s;
  s.connections_per_uid = 3;
  start(s);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, socket_.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    held.emplace_back(fd);
  }
  // Accepted in order, each identified at once: the held ones count before ours.
  submission::SubmitResult r =
      submission::submit(socket_, envelope(), "Subject: hi\r\n\r\nx\r\n", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 75);
  EXPECT_NE(r.error.find("too many submissions in progress for uid " + std::to_string(::getuid())),
            std::string::npos)
      << r.error;
  held.clear();
}

TEST_F(SubmitServerTest, StaleSocketReplacedOtherFilesKept) {
  fs::create_directories(socket_.parent_path());
  {  // a socket file nobody listens on (left by a crash)
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, socket_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  start();
  EXPECT_EQ(submission::submit(socket_, envelope(), "x\r\n", std::chrono::seconds(10)).status, 0);
  // A second server on a live socket, or on a regular file, refuses to start.
  EXPECT_THROW(submit::Server(io_, socket_, *writer_, submit::Settings{}), std::runtime_error);
  fs::path file = dir_ / "regular";
  std::ofstream(file) << "x";
  EXPECT_THROW(submit::Server(io_, file, *writer_, submit::Settings{}), std::runtime_error);
  EXPECT_TRUE(fs::is_regular_file(file));
}

TEST_F(SubmitServerTest, SocketRemovedAtStopAndStartServerNeverThrows) {
  start();
  stop();
  EXPECT_FALSE(fs::exists(socket_));
  Config config;
  EXPECT_EQ(submit::start_server(io_, "", *writer_, config), nullptr);
  EXPECT_EQ(submit::start_server(io_, dir_ / std::string(200, 'x'), *writer_, config), nullptr);
}

}  // namespace
