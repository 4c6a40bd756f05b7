// LdnsResolver against a real DNS server: Debian's ldns-testns (package
// ldnsutils) serving tests/unit/transports_net/data/ldns_resolver.zone on a
// random loopback port (it binds 0.0.0.0; we only ever query 127.0.0.1).
// Covers every outcome (ok, nodata, nxdomain, tempfail from SERVFAIL, REFUSED,
// timeout and an unreachable port), null MX, A/AAAA merging, the TCP fallback
// of a truncated answer, the cache (positive, negative, never tempfail), the
// sharing of identical queries in flight, and shutdown with queries queued.
#include "transports/net/ldns_resolver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "transports/mx_plan.hpp"

extern char** environ;

namespace mp::transports {
namespace {

using namespace std::chrono_literals;

const std::string zone_file =
    std::string(MP_TEST_DATA) + "/unit/transports_net/data/ldns_resolver.zone";

// ldns-testns on a random port; stopped (SIGTERM, reaped) by stop() or the destructor.
class TestNameServer {
 public:
  // ldns-testns -r picks a random port, which a parallel test may hold: a few tries.
  TestNameServer() {
    for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
      stop();
      start();
    }
  }

 private:
  void start() {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    // stdbuf: line-buffered stdout, so "Listening on port N" arrives at once.
    std::vector<std::string> args = {"stdbuf", "-oL", "ldns-testns", "-r", zone_file};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "stdbuf", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    // The port line is printed once the sockets are bound: no polling of the server.
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pid_ > 0 && port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 1000) <= 0) continue;
      char buf[256];
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      const std::string marker = "Listening on port ";
      if (auto at = out.find(marker);
          at != std::string::npos && out.find('\n', at) != std::string::npos)
        port_ = static_cast<std::uint16_t>(std::stoi(out.substr(at + marker.size())));
    }
    out_ = fds[0];  // kept open until stop(): a write to a closed pipe would kill the server
  }

 public:
  ~TestNameServer() { stop(); }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (out_ >= 0) close(out_);
    out_ = -1;
  }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::uint16_t port_ = 0;
};

LdnsResolverOptions options_for(std::uint16_t port) {
  LdnsResolverOptions o;
  o.servers = {HostPort{"127.0.0.1", port}};
  o.timeout = 2000ms;
  o.retries = 1;
  o.threads = 2;
  return o;
}

template <typename Answer>
struct Waiter {
  std::promise<Answer> promise;
  std::future<Answer> future = promise.get_future();
  std::thread::id thread;
  std::function<void(Answer)> callback() {
    return [this](Answer a) {
      thread = std::this_thread::get_id();
      promise.set_value(std::move(a));
    };
  }
  Answer get() {
    if (future.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      return Answer{};
    }
    return future.get();
  }
};

MxAnswer mx(Resolver& r, const std::string& name) {
  Waiter<MxAnswer> w;
  r.resolve_mx(name, w.callback());
  auto a = w.get();
  EXPECT_NE(w.thread, std::this_thread::get_id()) << "callback on the caller's thread";
  return a;
}

AddressAnswer addresses(Resolver& r, const std::string& name) {
  Waiter<AddressAnswer> w;
  r.resolve_addresses(name, w.callback());
  auto a = w.get();
  EXPECT_NE(w.thread, std::this_thread::get_id()) << "callback on the caller's thread";
  return a;
}

class LdnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(server.port(), 0) << "ldns-testns did not start (package ldnsutils)";
  }
  TestNameServer server;
};

TEST_F(LdnsResolverTest, MxWithTwoPreferences) {
  LdnsResolver r(options_for(server.port()));
  auto a = mx(r, "two-mx.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok) << a.error;
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[0].preference, 20);
  EXPECT_EQ(a.records[0].exchange, "mx2.example.test");
  EXPECT_EQ(a.records[1].preference, 10);
  EXPECT_EQ(a.records[1].exchange, "mx1.example.test");
  auto plan = plan_mx("two-mx.example.test", a, "me.example.net");
  EXPECT_EQ(plan.hosts, (std::vector<std::string>{"mx1.example.test", "mx2.example.test"}));
}

TEST_F(LdnsResolverTest, NamesAreCaseInsensitiveAndMayEndInADot) {
  LdnsResolver r(options_for(server.port()));
  EXPECT_EQ(mx(r, "Two-MX.Example.Test.").status, DnsStatus::ok);
  EXPECT_EQ(mx(r, "two-mx.example.test").status, DnsStatus::ok);
  EXPECT_EQ(r.queries_sent(), 1u);  // one cache entry for both spellings
}

TEST_F(LdnsResolverTest, DomainWithOnlyAnAddress) {
  LdnsResolver r(options_for(server.port()));
  auto m = mx(r, "only-a.example.test");
  EXPECT_EQ(m.status, DnsStatus::nodata);
  EXPECT_TRUE(m.records.empty());
  auto plan = plan_mx("only-a.example.test", m, "me");
  EXPECT_EQ(plan.hosts, (std::vector<std::string>{"only-a.example.test"}));

  auto a = addresses(r, "only-a.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok) << a.error;
  EXPECT_EQ(a.addresses, (std::vector<std::string>{"192.0.2.10"}));
}

TEST_F(LdnsResolverTest, NullMx) {
  LdnsResolver r(options_for(server.port()));
  auto a = mx(r, "null-mx.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].exchange, "");
  auto plan = plan_mx("null-mx.example.test", a, "me");
  EXPECT_EQ(plan.kind, MxPlan::Kind::permfail);
  EXPECT_EQ(plan.reply.status, "5.1.10");
}

TEST_F(LdnsResolverTest, Nxdomain) {
  LdnsResolver r(options_for(server.port()));
  EXPECT_EQ(mx(r, "nope.example.test").status, DnsStatus::nxdomain);
  EXPECT_EQ(addresses(r, "nope.example.test").status, DnsStatus::nxdomain);
  EXPECT_EQ(mx(r, "nosoa.example.test").status, DnsStatus::nxdomain);
}

TEST_F(LdnsResolverTest, ServfailAndRefusedAreTempfailAndNotCached) {
  LdnsResolver r(options_for(server.port()));
  auto a = mx(r, "broken.example.test");
  EXPECT_EQ(a.status, DnsStatus::tempfail);
  EXPECT_NE(a.error.find("SERVFAIL"), std::string::npos) << a.error;
  auto b = mx(r, "refused.example.test");
  EXPECT_EQ(b.status, DnsStatus::tempfail);
  EXPECT_NE(b.error.find("REFUSED"), std::string::npos) << b.error;
  const auto before = r.queries_sent();
  EXPECT_EQ(mx(r, "broken.example.test").status, DnsStatus::tempfail);
  EXPECT_EQ(r.queries_sent(), before + 1);
}

TEST_F(LdnsResolverTest, AddressesMergeAAndAaaa) {
  LdnsResolver r(options_for(server.port()));
  auto v6 = addresses(r, "v6.example.test");
  ASSERT_EQ(v6.status, DnsStatus::ok) << v6.error;
  EXPECT_EQ(v6.addresses, (std::vector<std::string>{"2001:db8::25"}));

  auto dual = addresses(r, "dual.example.test");
  ASSERT_EQ(dual.status, DnsStatus::ok);
  EXPECT_EQ(dual.addresses, (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "2001:db8::1"}));

  auto half = addresses(r, "half.example.test");  // AAAA SERVFAIL, A fine
  ASSERT_EQ(half.status, DnsStatus::ok);
  EXPECT_EQ(half.addresses, (std::vector<std::string>{"192.0.2.3"}));
}

TEST_F(LdnsResolverTest, TruncatedAnswerFallsBackToTcp) {
  LdnsResolver r(options_for(server.port()));
  auto a = mx(r, "big.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok) << a.error;
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].exchange, "tcp-only.example.test");  // only the TCP entry has it
}

TEST_F(LdnsResolverTest, CnameIsFollowedButNotReturned) {
  LdnsResolver r(options_for(server.port()));
  auto a = mx(r, "alias.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].exchange, "mx1.example.test");
}

TEST_F(LdnsResolverTest, CacheServesAnswersWithoutTheServer) {
  auto o = options_for(server.port());
  o.timeout = 300ms;  // the last query times out
  o.retries = 0;
  LdnsResolver r(o);
  EXPECT_EQ(mx(r, "two-mx.example.test").status, DnsStatus::ok);
  EXPECT_EQ(mx(r, "nope.example.test").status, DnsStatus::nxdomain);   // SOA: cached 60s
  EXPECT_EQ(mx(r, "only-a.example.test").status, DnsStatus::nodata);   // SOA: cached 60s
  EXPECT_EQ(addresses(r, "dual.example.test").status, DnsStatus::ok);  // A + AAAA
  EXPECT_EQ(mx(r, "zero-ttl.example.test").status, DnsStatus::ok);     // TTL 0: not cached
  EXPECT_EQ(mx(r, "nosoa.example.test").status, DnsStatus::nxdomain);  // no SOA: not cached
  const auto sent = r.queries_sent();
  EXPECT_EQ(sent, 7u);
  server.stop();

  auto a = mx(r, "two-mx.example.test");
  ASSERT_EQ(a.status, DnsStatus::ok);
  EXPECT_EQ(a.records.size(), 2u);
  EXPECT_EQ(mx(r, "nope.example.test").status, DnsStatus::nxdomain);
  EXPECT_EQ(mx(r, "only-a.example.test").status, DnsStatus::nodata);
  auto d = addresses(r, "dual.example.test");
  EXPECT_EQ(d.status, DnsStatus::ok);
  EXPECT_EQ(d.addresses.size(), 3u);
  EXPECT_EQ(r.queries_sent(), sent);

  r.clear_cache();
  auto gone = mx(r, "two-mx.example.test");  // the server is gone
  EXPECT_EQ(gone.status, DnsStatus::tempfail);
  EXPECT_FALSE(gone.error.empty());
  EXPECT_EQ(r.queries_sent(), sent + 1);
}

TEST_F(LdnsResolverTest, UncachedAnswersAskAgain) {
  LdnsResolver r(options_for(server.port()));
  EXPECT_EQ(mx(r, "zero-ttl.example.test").status, DnsStatus::ok);
  EXPECT_EQ(mx(r, "nosoa.example.test").status, DnsStatus::nxdomain);
  EXPECT_EQ(mx(r, "zero-ttl.example.test").status, DnsStatus::ok);
  EXPECT_EQ(mx(r, "nosoa.example.test").status, DnsStatus::nxdomain);
  EXPECT_EQ(r.queries_sent(), 4u);
}

TEST_F(LdnsResolverTest, IdenticalQueriesInFlightShareOne) {
  LdnsResolver r(options_for(server.port()));  // the server holds this answer for 1s
  std::vector<std::unique_ptr<Waiter<MxAnswer>>> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.push_back(std::make_unique<Waiter<MxAnswer>>());
    r.resolve_mx("slow.example.test", waiters.back()->callback());
  }
  for (auto& w : waiters) {
    auto a = w->get();
    ASSERT_EQ(a.status, DnsStatus::ok) << a.error;
    EXPECT_EQ(a.records.at(0).exchange, "mx.slow.example.test");
  }
  EXPECT_EQ(r.queries_sent(), 1u);
}

TEST_F(LdnsResolverTest, InvalidNameIsNxdomainWithoutAQuery) {
  LdnsResolver r(options_for(server.port()));
  const std::vector<std::string> bads = {
      "", ".", "a..b", "spa ce.example", "x\\032y.example", std::string(64, 'a') + ".test"};
  for (const auto& bad : bads) {
    auto a = mx(r, bad);
    EXPECT_EQ(a.status, DnsStatus::nxdomain) << bad;
    EXPECT_FALSE(a.error.empty());
  }
  EXPECT_EQ(r.queries_sent(), 0u);
}

// A bound UDP socket that never answers: queries time out.
class SilentPort {
 public:
  SilentPort() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~SilentPort() { close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST(LdnsResolverNoServer, TimeoutIsTempfail) {
  SilentPort silent;
  ASSERT_NE(silent.port(), 0);
  auto o = options_for(silent.port());
  o.timeout = 150ms;
  o.retries = 1;
  LdnsResolver r(o);
  const auto start = std::chrono::steady_clock::now();
  auto a = mx(r, "example.test");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(a.status, DnsStatus::tempfail);
  EXPECT_FALSE(a.error.empty());
  EXPECT_GE(took, 250ms);  // two tries of 150 ms
  EXPECT_LT(took, 5s);
  EXPECT_EQ(addresses(r, "example.test").status, DnsStatus::tempfail);
}

TEST_F(LdnsResolverTest, NextServerWhenTheFirstFails) {
  // ldns-testns listens on IPv4 only: ::1 fails (refused, or no IPv6 at all) and
  // 127.0.0.1 answers. One port for all servers: the first entry's.
  LdnsResolverOptions o;
  o.servers = {HostPort{"::1", server.port()}, HostPort{"127.0.0.1", 0}};
  o.timeout = 300ms;
  o.retries = 0;
  LdnsResolver r(o);
  auto a = mx(r, "two-mx.example.test");
  EXPECT_EQ(a.status, DnsStatus::ok) << a.error;
  EXPECT_EQ(mx(r, "big.example.test").status,
            DnsStatus::ok);  // TCP fallback past the failed server too
}

TEST(LdnsResolverNoServer, MissingResolvConfIsTempfail) {
  LdnsResolverOptions o;
  o.resolv_conf = "/nonexistent/resolv.conf";
  LdnsResolver r(o);
  auto a = mx(r, "example.test");
  EXPECT_EQ(a.status, DnsStatus::tempfail);
  EXPECT_NE(a.error.find("/nonexistent/resolv.conf"), std::string::npos) << a.error;
}

TEST(LdnsResolverNoServer, ServerMustBeAnAddress) {
  LdnsResolverOptions o;
  o.servers = {HostPort{"dns.example", 53}};
  EXPECT_THROW(LdnsResolver{o}, std::invalid_argument);
}

TEST(LdnsResolverNoServer, DestroyingAnswersQueuedQueries) {
  SilentPort silent;
  auto o = options_for(silent.port());
  o.timeout = 300ms;
  o.retries = 0;
  o.threads = 1;
  std::atomic<int> calls{0};
  std::vector<MxAnswer> answers(3);
  {
    LdnsResolver r(o);
    for (int i = 0; i < 3; ++i)
      r.resolve_mx("q" + std::to_string(i) + ".example.test", [&, i](MxAnswer a) {
        answers[static_cast<std::size_t>(i)] = std::move(a);
        calls.fetch_add(1);
      });
  }  // one query is on the worker (times out), the others are still queued
  EXPECT_EQ(calls.load(), 3);
  int stopped = 0;
  for (auto& a : answers) {
    EXPECT_EQ(a.status, DnsStatus::tempfail);
    if (a.error == "resolver stopped") ++stopped;
  }
  EXPECT_GE(stopped, 2);
}

}  // namespace
}  // namespace mp::transports
