// mailprocd's control socket (tools/control_server.hpp) with its client
// (tools/control_client.hpp), against a real queue::Manager on a scratch spool:
// the socket's mode, stale and live sockets, every queue action, reload,
// malformed requests, time limits and the owner-only rule.
#include "tools/control_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/config.hpp"
#include "queue/writer.hpp"
#include "rewrite/router.hpp"
#include "tools/control_client.hpp"

namespace fs = std::filesystem;
using namespace mp;
using namespace mp::control;
using queue::SubQueue;

namespace {

int connect_to(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes (bounded by a 10 s poll).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// One raw exchange: send `bytes` (then half-close), return the whole answer.
std::string raw(const fs::path& path, const std::string& bytes) {
  int fd = connect_to(path);
  if (fd < 0) return "connect failed";
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out = read_all(fd);
  ::close(fd);
  return out;
}

class ControlServer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-control-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    layout_ = std::make_unique<queue::Layout>(root_ / "spool");
    layout_->create();
    socket_ = root_ / "spool" / "control";
    writer_ = std::make_unique<queue::Writer>(*layout_);
    manager_ = std::make_unique<queue::Manager>(
        io_, *layout_, *writer_, queue::ManagerSettings{},
        std::make_shared<const rewrite::Router>(default_config()),
        [](const rewrite::NextHop&) -> transports::Transport* { return nullptr; });
  }

  void TearDown() override {
    stop();
    server_.reset();
    manager_.reset();
    writer_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Starts the server on io_, run by a thread of its own.
  void start(ReloadFn reload = {}) {
    server_ = std::make_unique<Server>(io_, socket_, *manager_, std::move(reload));
    server_->set_io_limit(std::chrono::milliseconds(300));
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  void stop() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::string write_message(SubQueue where) {
    Envelope env;
    std::string error;
    env.sender = *parse_address("a@x.org", PathOptions{}, error);
    env.recipients.push_back(*parse_address("b@y.org", PathOptions{}, error));
    env.arrival = 1732280000;
    auto draft = writer_->begin(env);
    draft->append("Subject: x\r\n\r\nhi\r\n");
    std::string id = writer_->commit(std::move(draft));
    if (where != SubQueue::incoming)
      fs::rename(layout_->file(SubQueue::incoming, id), layout_->file(where, id));
    return id;
  }

  bool in(SubQueue q, const std::string& id) { return fs::exists(layout_->file(q, id)); }

  Response call_ok(Command c, std::vector<std::string> args) {
    std::string error;
    auto request = make_request(c, args, error);
    EXPECT_TRUE(request) << error;
    return call(socket_, *request, std::chrono::seconds(10));
  }

  fs::path root_, socket_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<queue::Layout> layout_;
  std::unique_ptr<queue::Writer> writer_;
  std::unique_ptr<queue::Manager> manager_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

}  // namespace

TEST_F(ControlServer, SocketIsOwnerOnlyAndRemovedAtTheEnd) {
  start();
  struct stat st;
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  stop();
  server_.reset();
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket_)));
}

TEST_F(ControlServer, StaleSocketIsReplacedLiveOneIsNot) {
  {  // a socket file nobody listens on, as a crash leaves it
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  start();
  EXPECT_TRUE(call_ok(Command::flush, {}).ok);
  // A second daemon on the same spool must not steal the socket.
  try {
    Server second(io_, socket_, *manager_, {});
    FAIL() << "a second server took over a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another daemon answers there"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(call_ok(Command::flush, {}).ok);  // the first one still answers
}

TEST_F(ControlServer, NeverReplacesAFileThatIsNotASocket) {
  std::ofstream(socket_) << "precious";
  try {
    Server s(io_, socket_, *manager_, {});
    FAIL() << "replaced a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("exists and is not a socket"), std::string::npos)
        << e.what();
  }
  std::ifstream in(socket_);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "precious");
}

TEST_F(ControlServer, PathTooLongIsAClearError) {
  fs::path deep = root_ / std::string(120, 'x');
  try {
    Server s(io_, deep, *manager_, {});
    FAIL() << "bound a path longer than sun_path";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
}

TEST_F(ControlServer, HoldReleaseDelete) {
  std::string a = write_message(SubQueue::deferred);
  std::string b = write_message(SubQueue::deferred);
  start();
  Response r = call_ok(Command::hold, {a});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.done, std::vector<std::string>{a});
  EXPECT_TRUE(in(SubQueue::hold, a));
  EXPECT_FALSE(in(SubQueue::deferred, a));

  r = call_ok(Command::release, {a});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.done, std::vector<std::string>{a});
  EXPECT_FALSE(in(SubQueue::hold, a));

  // Deleting one that is there and one that is not.
  std::string nowhere = "1NBH0E5OQ3B2K7VQ";
  r = call_ok(Command::remove, {b, nowhere});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.done, std::vector<std::string>{b});
  EXPECT_EQ(r.missing, std::vector<std::string>{nowhere});
  EXPECT_NE(r.error.find("not found"), std::string::npos) << r.error;
  EXPECT_FALSE(in(SubQueue::deferred, b));
}

TEST_F(ControlServer, DeleteAll) {
  std::string a = write_message(SubQueue::deferred);
  std::string b = write_message(SubQueue::hold);
  start();
  Response r = call_ok(Command::remove, {"ALL"});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_FALSE(in(SubQueue::deferred, a));
  EXPECT_FALSE(in(SubQueue::hold, b));
}

TEST_F(ControlServer, ReleaseOfAMessageNotOnHoldIsMissing) {
  std::string a = write_message(SubQueue::deferred);
  start();
  Response r = call_ok(Command::release, {a});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.missing, std::vector<std::string>{a});
  EXPECT_TRUE(in(SubQueue::deferred, a));
}

TEST_F(ControlServer, ReloadReportsTheErrorsOfTheFilesOrItsNotices) {
  bool fail = true;
  start([&](std::function<void(ReloadResult)> done) {
    // The daemon calls back on its io_context; so do we.
    asio::post(io_, [&fail, done] {
      ReloadResult result;
      if (fail) {
        result.errors = {"/etc/mailproc/transport:3: bad next hop 'a b'",
                         "/etc/mailproc/transport:7: undefined variable $x"};
      } else {
        result.ok = true;
        result.notices = {"listen changed: takes effect at restart"};
      }
      done(result);
    });
  });
  Response r = call_ok(Command::reload, {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.messages,
            (std::vector<std::string>{"/etc/mailproc/transport:3: bad next hop 'a b'",
                                      "/etc/mailproc/transport:7: undefined variable $x"}));
  EXPECT_NE(r.error.find("reload refused"), std::string::npos) << r.error;
  fail = false;
  r = call_ok(Command::reload, {});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.messages, std::vector<std::string>{"listen changed: takes effect at restart"});
}

TEST_F(ControlServer, ReloadWithoutAReloaderIsAnError) {
  start();
  Response r = call_ok(Command::reload, {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "reload is not available");
}

TEST_F(ControlServer, WakeAnswersAtOnce) {
  std::string a = write_message(SubQueue::incoming);
  start();
  Response r = call_ok(Command::wake, {a});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.done, std::vector<std::string>{a});
}

TEST_F(ControlServer, MalformedRequestsGetAnErrorLine) {
  start();
  EXPECT_EQ(raw(socket_, "frobnicate\n"), "error: unknown command 'frobnicate'\n");
  EXPECT_EQ(raw(socket_, "delete ../../x\n"), "error: bad queue ID '../../x'\n");
  EXPECT_EQ(raw(socket_, "\n"), "error: empty request\n");
  EXPECT_EQ(raw(socket_, std::string(kMaxRequestLine + 10, 'a')), "error: request too long\n");
  // No newline before the client gave up: nothing to answer.
  EXPECT_EQ(raw(socket_, "flush"), "");
}

TEST_F(ControlServer, SilentClientIsDisconnected) {
  start();
  int fd = connect_to(socket_);
  ASSERT_GE(fd, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(fd), "");  // closed by the server after its 300 ms limit
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ::close(fd);
  EXPECT_TRUE(call_ok(Command::flush, {}).ok);  // and it still serves others
}

TEST_F(ControlServer, ClientErrors) {
  // Nobody there: Unreachable, with the reason.
  Request flush;
  flush.all = true;
  try {
    call(root_ / "nothing-here", flush);
    FAIL();
  } catch (const Unreachable& e) {
    EXPECT_STREQ(e.what(), "No such file or directory");
  }
  try {
    call(root_ / std::string(120, 'x'), flush);
    FAIL();
  } catch (const Unreachable& e) {
    EXPECT_STREQ(e.what(), "socket path too long");
  }
}

TEST_F(ControlServer, OtherUsersAreRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  start();
  // Let the other user reach the socket: past the file modes, SO_PEERCRED still says no.
  ASSERT_EQ(::chmod(root_.c_str(), 0711), 0);
  ASSERT_EQ(::chmod(layout_->root().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    int fd = connect_to(socket_);
    if (fd < 0) ::_exit(4);
    const char req[] = "delete ALL\n";
    (void)::send(fd, req, sizeof req - 1, MSG_NOSIGNAL);  // may find the socket closed already
    std::string answer = read_all(fd);
    ::_exit(answer == "error: permission denied\n" ? 0 : 6);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
