// mailprocd's control socket (see control_server.hpp).
#include "tools/control_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>

#include "common/log.hpp"
#include "tools/control_protocol.hpp"

namespace mp::control {
namespace {

using asio::local::stream_protocol;

std::runtime_error path_error(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("control socket " + path.string() + ": " + what);
}

sockaddr_un socket_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.empty() || p.size() >= sizeof addr.sun_path)
    throw path_error(path, "path too long for a unix socket (at most " +
                               std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  return addr;
}

// True when a process accepts connections on the socket at `addr`.
bool someone_listens(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int e = errno;
  ::close(fd);
  return rc == 0 || e == EAGAIN || e == EINPROGRESS;  // EAGAIN: a listener with a full backlog
}

std::optional<queue::AdminOp> admin_op(Command c) {
  switch (c) {
    case Command::flush:
      return queue::AdminOp::flush;
    case Command::remove:
      return queue::AdminOp::remove;
    case Command::hold:
      return queue::AdminOp::hold;
    case Command::release:
      return queue::AdminOp::release;
    case Command::requeue:
      return queue::AdminOp::requeue;
    case Command::wake:
    case Command::reload:
      break;
  }
  return std::nullopt;
}

}  // namespace

struct ControlConnection;

struct ServerImpl : std::enable_shared_from_this<ServerImpl> {
  ServerImpl(asio::io_context& io_, std::filesystem::path path_, queue::Manager& manager_,
             ReloadFn reload_)
      : io(io_),
        path(std::move(path_)),
        manager(manager_),
        reload(std::move(reload_)),
        acceptor(io_),
        retry(io_) {}

  asio::io_context& io;
  std::filesystem::path path;
  queue::Manager& manager;
  ReloadFn reload;
  stream_protocol::acceptor acceptor;
  asio::steady_timer retry;  // after a failed accept (out of file descriptors...)
  std::chrono::milliseconds limit{30000};
  std::list<std::weak_ptr<ControlConnection>> connections;
  bool closed = false;
  dev_t dev = 0;
  ino_t ino = 0;

  void bind();
  void accept();
};

// One client: read one request line, run it, write the answer, close.
struct ControlConnection : std::enable_shared_from_this<ControlConnection> {
  ControlConnection(std::shared_ptr<ServerImpl> s, stream_protocol::socket sock)
      : server(std::move(s)), socket(std::move(sock)), timer(server->io) {}

  std::shared_ptr<ServerImpl> server;
  stream_protocol::socket socket;
  asio::steady_timer timer;
  std::string in, out;

  void close() {
    asio::error_code ignored;
    timer.cancel();
    socket.close(ignored);
  }

  void arm_timer() {
    timer.expires_after(server->limit);
    timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->close();  // the client took too long
    });
  }

  void start() {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      log::warning("master", std::string("control socket: cannot identify a client: ") +
                                 std::strerror(errno));
      return fail("cannot identify the client");
    }
    if (cred.uid != 0 && cred.uid != ::geteuid()) {
      log::warning("master", "control socket: refused a client running as uid " +
                                 std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) +
                                 ")");
      return fail("permission denied");
    }
    arm_timer();
    asio::async_read_until(socket, asio::dynamic_buffer(in, kMaxRequestLine + 2), '\n',
                           [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                             self->on_line(ec, n);
                           });
  }

  void on_line(const asio::error_code& ec, std::size_t n) {
    timer.cancel();
    if (ec) {
      if (ec == asio::error::not_found) return fail("request too long");
      return close();  // gone, or timed out, before a whole line
    }
    std::string error;
    std::optional<Request> request = parse_request(std::string_view(in).substr(0, n - 1), error);
    if (!request) return fail(error);
    execute(*request);
  }

  void execute(const Request& request) {
    if (request.command == Command::reload) {
      if (!server->reload) return fail("reload is not available");
      log::info("master", "reload requested through the control socket");
      server->reload([self = shared_from_this()](ReloadResult result) {
        Response r;
        if (result.ok) {
          r.messages = std::move(result.notices);
        } else {
          r.ok = false;
          r.messages = std::move(result.errors);
          r.error = "reload refused, the old settings are kept";
        }
        self->respond(r);
      });
      return;
    }
    if (request.command == Command::wake) {
      for (const std::string& id : request.ids) server->manager.wake(id);
      Response r;
      r.done = request.ids;
      return respond(r);
    }
    std::optional<queue::AdminOp> op = admin_op(request.command);
    if (!op) return fail("unsupported command");
    std::vector<std::string> ids = request.all ? std::vector<std::string>{} : request.ids;
    // `done` runs on the manager's thread: the answer is written from ours.
    server->manager.admin(*op, std::move(ids),
                          [self = shared_from_this()](queue::AdminReport report) {
                            asio::post(self->server->io, [self, report = std::move(report)] {
                              Response r;
                              r.done = report.done;
                              r.missing = report.missing;
                              if (!r.missing.empty()) {
                                r.ok = false;
                                r.error = std::to_string(r.missing.size()) +
                                          " queue ID(s) not found where the action applies";
                              }
                              self->respond(r);
                            });
                          });
  }

  void fail(const std::string& error) {
    Response r;
    r.ok = false;
    r.error = error;
    respond(r);
  }

  void respond(const Response& r) {
    if (server->closed) return;
    out = format_response(r);
    arm_timer();
    asio::async_write(
        socket, asio::buffer(out),
        [self = shared_from_this()](const asio::error_code&, std::size_t) { self->close(); });
  }
};

void ServerImpl::bind() {
  const sockaddr_un addr = socket_address(path);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw path_error(path, "exists and is not a socket; not replacing it");
    if (someone_listens(addr))
      throw path_error(
          path, "another daemon answers there (is mailprocd already running on this spool?)");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw path_error(path,
                       std::string("cannot remove the stale socket: ") + std::strerror(errno));
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw path_error(path, std::string("socket: ") + std::strerror(errno));
  mode_t old = ::umask(0177);  // the socket is created owner-only, never wider even briefly
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int e = errno;
  ::umask(old);
  if (rc != 0) {
    ::close(fd);
    throw path_error(path, std::string("bind: ") + std::strerror(e));
  }
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::stat(path.c_str(), &st) != 0) {
    e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    throw path_error(path, std::strerror(e));
  }
  dev = st.st_dev;
  ino = st.st_ino;
  asio::error_code ec;
  acceptor.assign(stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    throw path_error(path, ec.message());
  }
}

void ServerImpl::accept() {
  if (closed) return;
  acceptor.async_accept(
      [self = shared_from_this()](const asio::error_code& ec, stream_protocol::socket socket) {
        if (self->closed || ec == asio::error::operation_aborted) return;
        if (ec) {
          log::warning("master", "control socket: accept failed: " + ec.message());
          self->retry.expires_after(std::chrono::seconds(1));
          self->retry.async_wait([self](const asio::error_code& e) {
            if (!e) self->accept();
          });
          return;
        }
        auto conn = std::make_shared<ControlConnection>(self, std::move(socket));
        self->connections.remove_if(
            [](const std::weak_ptr<ControlConnection>& w) { return w.expired(); });
        self->connections.push_back(conn);
        conn->start();
        self->accept();
      });
}

Server::Server(asio::io_context& io, std::filesystem::path path, queue::Manager& manager,
               ReloadFn reload)
    : impl_(std::make_shared<ServerImpl>(io, std::move(path), manager, std::move(reload))) {
  impl_->bind();
}

Server::~Server() {
  impl_->closed = true;
  asio::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->retry.cancel();
  for (const std::weak_ptr<ControlConnection>& w : impl_->connections)
    if (auto c = w.lock()) c->close();
  // Remove the socket file only if it is still the one we made.
  struct stat st;
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
    ::unlink(impl_->path.c_str());
}

void Server::start() {
  impl_->accept();
}

void Server::set_io_limit(std::chrono::milliseconds limit) {
  impl_->limit = limit;
}

}  // namespace mp::control
