// mailprocd's submit socket (see submit_server.hpp).
#include "tools/submit_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <list>
#include <stdexcept>

#include "common/log.hpp"
#include "tools/submission.hpp"
#include "tools/submit_protocol.hpp"

namespace mp::submit {
namespace {

using asio::local::stream_protocol;

std::runtime_error path_error(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("submit socket " + path.string() + ": " + what);
}

sockaddr_un socket_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.empty() || p.size() >= sizeof addr.sun_path)
    throw path_error(path, "path too long for a unix socket");
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  return addr;
}

bool someone_listens(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int e = errno;
  ::close(fd);
  return rc == 0 || e == EAGAIN || e == EINPROGRESS;
}

std::string local_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  return submission::rfc5322_date(now, static_cast<int>(tm.tm_gmtoff));
}

}  // namespace

Settings Settings::from(const Config& c) {
  Settings s;
  s.hostname = c.myhostname;
  s.message_size_limit = c.message_size_limit;
  s.max_recipients = c.max_recipients;
  s.io_limit = std::chrono::duration_cast<std::chrono::milliseconds>(c.smtpd_timeout);
  return s;
}

struct Connection;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& io_, std::filesystem::path path_, queue::Writer& writer_, Settings s)
      : io(io_),
        path(std::move(path_)),
        writer(writer_),
        settings(std::move(s)),
        acceptor(io_),
        retry(io_) {}

  asio::io_context& io;
  std::filesystem::path path;
  queue::Writer& writer;
  Settings settings;
  stream_protocol::acceptor acceptor;
  asio::steady_timer retry;
  std::list<std::weak_ptr<Connection>> connections;
  bool closed = false;
  dev_t dev = 0;
  ino_t ino = 0;

  void bind();
  void accept();
  std::size_t live() {
    connections.remove_if([](const std::weak_ptr<Connection>& w) { return w.expired(); });
    return connections.size();
  }
  std::size_t same_uid(uid_t uid);  // live connections of `uid`, counting the caller
};

// One submission: header, content, commit, answer, close.
struct Connection : std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<Server::Impl> s, stream_protocol::socket sock)
      : server(std::move(s)), socket(std::move(sock)), timer(server->io) {}

  std::shared_ptr<Server::Impl> server;
  stream_protocol::socket socket;
  asio::steady_timer timer;
  std::string in, out;
  uid_t uid = 0;
  bool identified = false;
  RequestHeader header;

  void close() {
    asio::error_code ignored;
    timer.cancel();
    socket.close(ignored);
  }

  void start(bool over_limit) {
    arm_timer();
    if (over_limit) return answer({Outcome::tempfail, "too many local submissions at once"});
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
      return answer({Outcome::tempfail, "cannot identify the client"});
    uid = cred.uid;
    identified = true;
    if (server->same_uid(uid) > server->settings.connections_per_uid)
      return answer(
          {Outcome::tempfail, "too many submissions in progress for uid " + std::to_string(uid)});
    asio::async_read_until(socket, asio::dynamic_buffer(in, kMaxHeader), "\n\n",
                           [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                             self->on_header(ec, n);
                           });
  }

  void arm_timer() {
    timer.expires_after(server->settings.io_limit);
    timer.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->close();  // too slow: nothing queued
    });
  }

  void on_header(const asio::error_code& ec, std::size_t n) {
    if (ec) {
      if (ec == asio::error::not_found) return answer({Outcome::fail, "request header too long"});
      return close();
    }
    std::string error;
    auto h = parse_request_header(std::string_view(in).substr(0, n), error);
    if (!h) return answer({Outcome::fail, error});
    const std::uint64_t limit = server->settings.message_size_limit;  // 0: no limit
    if (limit != 0 && h->size > limit)
      return answer({Outcome::fail, "message larger than message_size_limit (" +
                                        std::to_string(server->settings.message_size_limit) +
                                        " bytes)"});
    if (h->recipients.size() > server->settings.max_recipients)
      return answer({Outcome::fail, "too many recipients"});
    header = std::move(*h);
    in.erase(0, n);
    if (in.size() > header.size) return answer({Outcome::fail, "more data than announced"});
    std::size_t missing = header.size - in.size();
    asio::async_read(socket, asio::dynamic_buffer(in, header.size + 1),
                     asio::transfer_exactly(missing),
                     [self = shared_from_this()](const asio::error_code& e, std::size_t) {
                       self->on_content(e);
                     });
  }

  void on_content(const asio::error_code& ec) {
    if (ec && in.size() != header.size) return close();  // gone before the end: nothing queued
    if (!crlf_clean(in)) return answer({Outcome::fail, "content has a bare CR or LF"});
    Envelope env;
    env.sender = header.sender;
    env.recipients = header.recipients;
    env.helo = server->settings.hostname;
    env.client_name = "localhost";
    env.protocol = "local";
    env.smtputf8 = env.sender.needs_smtputf8();
    for (const Address& a : env.recipients) env.smtputf8 = env.smtputf8 || a.needs_smtputf8();
    for (unsigned char c : in) {
      if (c >= 0x80) {
        env.eightbit = true;
        break;
      }
    }
    std::unique_ptr<queue::Draft> draft = server->writer.begin(std::move(env));
    draft->append("Received: by " + server->settings.hostname + " (mailproc, from userid " +
                  std::to_string(uid) + ")\r\n\tid " + draft->id() + "; " + local_date() + "\r\n");
    draft->append(in);
    std::string().swap(in);
    std::string sender = header.sender.bracketed();
    server->writer.commit_async(
        std::move(draft), [self = shared_from_this(), io = &server->io, uid = uid,
                           sender = std::move(sender)](queue::CommitResult r) mutable {
          // On a writer thread: log here (the message is queued whatever happens
          // to the client), answer from the io_context.
          if (r.ok) {
            log::info("pickup", r.id + ": uid=" + std::to_string(uid) + " from=" + sender);
          } else {
            log::warning("pickup", r.id + ": queue file write error: " + r.error);
          }
          // `self` moves on: the connection is released on its own thread.
          asio::post(*io, [self = std::move(self), r = std::move(r)] {
            self->answer(r.ok ? Response{Outcome::ok, r.id}
                              : Response{Outcome::tempfail, "queue file write error"});
          });
        });
  }

  void answer(const Response& r) {
    if (server->closed) return;
    out = encode_response(r);
    asio::async_write(
        socket, asio::buffer(out),
        [self = shared_from_this()](const asio::error_code&, std::size_t) { self->close(); });
  }
};

std::size_t Server::Impl::same_uid(uid_t uid) {
  std::size_t n = 0;
  for (const std::weak_ptr<Connection>& w : connections)
    if (auto c = w.lock(); c && c->identified && c->uid == uid) ++n;
  return n;
}

void Server::Impl::bind() {
  const sockaddr_un addr = socket_address(path);
  std::error_code fsec;
  if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), fsec)) {
    std::filesystem::create_directories(path.parent_path(), fsec);
    if (fsec) throw path_error(path, "cannot create its folder: " + fsec.message());
    ::chmod(path.parent_path().c_str(), 0755);
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw path_error(path, "exists and is not a socket; not replacing it");
    if (someone_listens(addr)) throw path_error(path, "another daemon answers there");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw path_error(path,
                       std::string("cannot remove the stale socket: ") + std::strerror(errno));
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw path_error(path, std::string("socket: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    throw path_error(path, std::string("bind: ") + std::strerror(e));
  }
  if (::chmod(path.c_str(), 0666) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::stat(path.c_str(), &st) != 0) {
    int e = errno;
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

void Server::Impl::accept() {
  if (closed) return;
  acceptor.async_accept(
      [self = shared_from_this()](const asio::error_code& ec, stream_protocol::socket socket) {
        if (self->closed || ec == asio::error::operation_aborted) return;
        if (ec) {
          log::warning("pickup", "submit socket: accept failed: " + ec.message());
          self->retry.expires_after(std::chrono::seconds(1));
          self->retry.async_wait([self](const asio::error_code& e) {
            if (!e) self->accept();
          });
          return;
        }
        bool over = self->live() >= kMaxConnections;
        auto conn = std::make_shared<Connection>(self, std::move(socket));
        self->connections.push_back(conn);
        conn->start(over);
        self->accept();
      });
}

Server::Server(asio::io_context& io, std::filesystem::path path, queue::Writer& writer,
               Settings settings)
    : impl_(std::make_shared<Impl>(io, std::move(path), writer, std::move(settings))) {
  impl_->bind();
}

void Server::set_settings(Settings settings) {
  impl_->settings = std::move(settings);
}

Server::~Server() {
  impl_->closed = true;
  asio::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->retry.cancel();
  for (const std::weak_ptr<Connection>& w : impl_->connections)
    if (auto c = w.lock()) c->close();
  struct stat st;
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
    ::unlink(impl_->path.c_str());
}

void Server::start() {
  impl_->accept();
}

std::unique_ptr<Server> start_server(asio::io_context& io, const std::filesystem::path& path,
                                     queue::Writer& writer, const Config& config) {
  if (path.empty()) return nullptr;
  try {
    auto server = std::make_unique<Server>(io, path, writer, Settings::from(config));
    server->start();
    return server;
  } catch (const std::exception& e) {
    log::warning("master", std::string(e.what()) +
                               "; local submission by users other than root and the spool's "
                               "owner is off (mpsendmail answers them with 75)");
    return nullptr;
  }
}

}  // namespace mp::submit
