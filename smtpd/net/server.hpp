// The SMTP/LMTP listeners: binds every `listen` address (before privileges are
// dropped), accepts connections, enforces max_connections and
// max_connections_per_ip (421 4.7.0), and runs one Session coroutine per client.
// Runs on the io_context it is given; all its state is touched only there.
// A reload hands it a new Config (reconfigure): sessions accepted from then on use
// it (mynetworks, relay_domains, limits, banner, TLS certificate); sessions already
// open keep the one they started with.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/reply.hpp"
#include "queue/writer.hpp"

namespace mp::smtpd {

class Stream;

// RCPT decision beyond relay control (the router's answer); nullopt accepts.
using RecipientCheck =
    std::function<std::optional<Reply>(const Address& sender, const Address& rcpt)>;

// The server side of STARTTLS for `config` (tls_cert, tls_key); nullptr when TLS is
// not configured. Throws std::runtime_error naming the file that cannot be loaded.
std::shared_ptr<asio::ssl::context> make_tls_context(const Config& config);

class Server {
 public:
  // Binds the listeners and loads the TLS certificate; throws std::runtime_error
  // naming the listener or file on failure.
  Server(asio::io_context& io, std::shared_ptr<const Config> config, queue::Writer& writer,
         RecipientCheck check = {});
  ~Server();

  // After a reload, on the io_context's thread: new sessions use `config` and `tls`
  // (from make_tls_context). The listeners stay as bound (`listen` needs a restart).
  void reconfigure(std::shared_ptr<const Config> config, std::shared_ptr<asio::ssl::context> tls);
  std::shared_ptr<asio::ssl::context> tls_context() const { return tls_; }

  void start();  // begins accepting
  // Stops accepting; sessions go on. `idle` runs once no session is left.
  void stop_accepting(std::function<void()> idle);
  // Closes every remaining session (after the grace period of a shutdown).
  void close_all();
  std::size_t sessions() const { return live_.size(); }

 private:
  struct Listening;
  asio::awaitable<void> accept_loop(Listening& l);
  asio::awaitable<void> run_session(asio::ip::tcp::socket socket, bool lmtp, bool proxy);
  void session_ended(Stream* s, const std::string& ip);

  asio::io_context& io_;
  std::shared_ptr<const Config> config_;
  queue::Writer& writer_;
  RecipientCheck check_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::vector<std::unique_ptr<Listening>> listeners_;
  std::set<Stream*> live_;
  std::map<std::string, unsigned> per_ip_;
  std::function<void()> idle_;
  bool stopping_ = false;
};

}  // namespace mp::smtpd
