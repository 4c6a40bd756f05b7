#include "common/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mp {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text, const std::string& name = "mailprocd.conf") {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

  // The errors of loading `text`; fails the test when it loads.
  std::vector<std::string> errors(const std::string& text) {
    fs::path p = write(text);
    try {
      load_config(p);
    } catch (const ConfigError& e) {
      return e.errors();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return {};
  }
  std::string one_error(const std::string& text) {
    auto e = errors(text);
    EXPECT_EQ(e.size(), 1u);
    return e.empty() ? "" : e.front();
  }
  std::string at(int line) {
    return (dir_ / "mailprocd.conf").string() + ":" + std::to_string(line) + ": ";
  }

  fs::path dir_;
};

void expect_defaults(const Config& c) {
  EXPECT_FALSE(c.myhostname.empty());
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].protocol, Listener::Protocol::smtp);
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 2525);
  EXPECT_EQ(c.spooldir, "/var/spool/mailproc");
  ASSERT_EQ(c.mynetworks.size(), 2u);
  EXPECT_EQ(c.mynetworks[0].str(), "127.0.0.0/8");
  EXPECT_EQ(c.mynetworks[1].str(), "::1/128");
  EXPECT_TRUE(c.relay_domains.empty());
  EXPECT_TRUE(c.relayhost.empty());
  EXPECT_TRUE(c.transport.empty());
  EXPECT_TRUE(c.variables.empty());
  EXPECT_TRUE(c.rewrite.empty());
  EXPECT_TRUE(c.users.empty());
  EXPECT_FALSE(c.rewrite_headers);
  EXPECT_EQ(c.maxqueuetime, 5 * 24h);
  EXPECT_TRUE(c.ndr);
  EXPECT_FALSE(c.archive);
  EXPECT_EQ(c.retry_min, 5min);
  EXPECT_EQ(c.retry_max, 1h);
  EXPECT_EQ(c.queue_run_interval, 5min);
  EXPECT_EQ(c.delay_warning, 0s);
  EXPECT_EQ(c.message_size_limit, 10240000u);
  EXPECT_EQ(c.max_recipients, 1000u);
  EXPECT_EQ(c.smtpd_timeout, 300s);
  EXPECT_EQ(c.smtpd_min_data_rate, 500u);
  EXPECT_EQ(c.max_connections, 1000u);
  EXPECT_EQ(c.max_connections_per_ip, 50u);
  EXPECT_EQ(c.bare_newline, BareNewline::reject);
  EXPECT_TRUE(c.tls_cert.empty());
  EXPECT_TRUE(c.tls_key.empty());
  EXPECT_EQ(c.smtp_tls, SmtpTls::may);
  EXPECT_TRUE(c.dns_servers.empty());
  EXPECT_EQ(c.smtp_port, 25);
  EXPECT_EQ(c.delivery_concurrency, 20u);
  EXPECT_EQ(c.smtp_connection_cache_time, 2s);
  EXPECT_EQ(c.pipe_timeout, 1000s);
  EXPECT_EQ(c.max_hops, 50u);
  EXPECT_EQ(c.spamd, "127.0.0.1:783");
  EXPECT_EQ(c.spam_workers_per_user, 1u);
  EXPECT_EQ(c.spam_worker_idle, 60s);
  EXPECT_EQ(c.spam_failure, SpamFailure::defer);
  EXPECT_TRUE(c.maildir_junk.empty());
  EXPECT_EQ(c.user, "mailproc");
  EXPECT_EQ(c.log, "stderr");
  EXPECT_EQ(c.control_socket, "/var/spool/mailproc/control");
  EXPECT_TRUE(c.proxy_trusted.empty());
  EXPECT_FALSE(c.metrics_listen.has_value());
  EXPECT_FALSE(c.listen[0].proxy);
}

TEST_F(ConfigTest, EmptyFileGivesEveryDefault) {
  fs::path p = write("# nothing here\n\n   \n");
  Config c = load_config(p);
  expect_defaults(c);
  EXPECT_EQ(c.file, p);
}

TEST_F(ConfigTest, DefaultConfigMatchesSpec) {
  expect_defaults(default_config());
}

TEST_F(ConfigTest, GoodValuesForEveryKey) {
  Config c = load_config(write(R"(# full example
myhostname = mx1.example.org
listen = 0.0.0.0:25, [::1]:2525 lmtp:127.0.0.1:24 *:587
spooldir = /srv/spool
mynetworks = 10.0.0.0/8, 192.168.1.7 [2001:db8::]/32
relay_domains = Example.ORG *.Example.Net
relayhost = smart1.example:2525, [10.1.1.1]  [::1]:26
transport = /etc/mp/transport
variables = /etc/mp/variables
rewrite = /etc/mp/rewrite
rewrite_headers = yes
users = /etc/mp/users
maxqueuetime = 4d
ndr = false
archive = 1
retry_min = 30s
retry_max = 2h
queue_run_interval = 1m
delay_warning = 4h
message_size_limit = 0
max_recipients = 5
smtpd_timeout = 60   # bare seconds
smtpd_min_data_rate = 0
max_connections = 10
max_connections_per_ip = 2
bare_newline = normalize
tls_cert = /etc/ssl/mx.pem
tls_key = /etc/ssl/mx.key
smtp_tls = encrypt
dns_servers = 127.0.0.1:5353 ::1
smtp_port = 2526
delivery_concurrency = 3
smtp_connection_cache_time = 0
pipe_timeout = 10m
max_hops = 30
spamd = unix:/run/spamd.sock
spam_workers_per_user = 2
spam_worker_idle = 2m
spam_failure = pass
maildir_junk = .Junk
user = nobody
log = syslog
control_socket = /run/mailproc.sock
)"));
  EXPECT_EQ(c.myhostname, "mx1.example.org");
  ASSERT_EQ(c.listen.size(), 4u);
  EXPECT_EQ(c.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.listen[0].port, 25);
  EXPECT_EQ(c.listen[1].host, "::1");
  EXPECT_EQ(c.listen[1].port, 2525);
  EXPECT_EQ(c.listen[1].protocol, Listener::Protocol::smtp);
  EXPECT_EQ(c.listen[2].protocol, Listener::Protocol::lmtp);
  EXPECT_EQ(c.listen[2].host, "127.0.0.1");
  EXPECT_EQ(c.listen[2].port, 24);
  EXPECT_EQ(c.listen[2].text, "lmtp:127.0.0.1:24");
  EXPECT_EQ(c.listen[3].host, "*");
  EXPECT_EQ(c.spooldir, "/srv/spool");
  ASSERT_EQ(c.mynetworks.size(), 3u);
  EXPECT_TRUE(any_contains(c.mynetworks, "192.168.1.7"));
  EXPECT_FALSE(any_contains(c.mynetworks, "127.0.0.1"));
  EXPECT_TRUE(any_contains(c.mynetworks, "2001:db8::5"));
  EXPECT_EQ(c.relay_domains, (std::vector<std::string>{"example.org", "*.example.net"}));
  EXPECT_EQ(c.relayhost,
            (std::vector<HostPort>{{"smart1.example", 2525}, {"10.1.1.1", 0}, {"::1", 26}}));
  EXPECT_EQ(c.transport, "/etc/mp/transport");
  EXPECT_EQ(c.variables, "/etc/mp/variables");
  EXPECT_EQ(c.rewrite, "/etc/mp/rewrite");
  EXPECT_TRUE(c.rewrite_headers);
  EXPECT_EQ(c.users, "/etc/mp/users");
  EXPECT_EQ(c.maxqueuetime, 4 * 24h);
  EXPECT_FALSE(c.ndr);
  EXPECT_TRUE(c.archive);
  EXPECT_EQ(c.retry_min, 30s);
  EXPECT_EQ(c.retry_max, 2h);
  EXPECT_EQ(c.queue_run_interval, 1min);
  EXPECT_EQ(c.delay_warning, 4h);
  EXPECT_EQ(c.message_size_limit, 0u);
  EXPECT_EQ(c.max_recipients, 5u);
  EXPECT_EQ(c.smtpd_timeout, 60s);
  EXPECT_EQ(c.smtpd_min_data_rate, 0u);
  EXPECT_EQ(c.max_connections, 10u);
  EXPECT_EQ(c.max_connections_per_ip, 2u);
  EXPECT_EQ(c.bare_newline, BareNewline::normalize);
  EXPECT_EQ(c.tls_cert, "/etc/ssl/mx.pem");
  EXPECT_EQ(c.tls_key, "/etc/ssl/mx.key");
  EXPECT_EQ(c.smtp_tls, SmtpTls::encrypt);
  EXPECT_EQ(c.dns_servers, (std::vector<HostPort>{{"127.0.0.1", 5353}, {"::1", 0}}));
  EXPECT_EQ(c.smtp_port, 2526);
  EXPECT_EQ(c.delivery_concurrency, 3u);
  EXPECT_EQ(c.smtp_connection_cache_time, 0s);
  EXPECT_EQ(c.pipe_timeout, 600s);
  EXPECT_EQ(c.max_hops, 30u);
  EXPECT_EQ(c.spamd, "unix:/run/spamd.sock");
  EXPECT_EQ(c.spam_workers_per_user, 2u);
  EXPECT_EQ(c.spam_worker_idle, 120s);
  EXPECT_EQ(c.spam_failure, SpamFailure::pass);
  EXPECT_EQ(c.maildir_junk, ".Junk");
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.log, "syslog");
  EXPECT_EQ(c.control_socket, "/run/mailproc.sock");
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
  fs::path p = write(R"(spooldir = spool
transport = maps/../maps/transport
variables = ./variables
rewrite = rewrite
users = /abs/users
tls_cert = tls/cert.pem
tls_key = tls/key.pem
log = log/mail.log
spamd = unix:run/spamd
)",
                     "etc/mailprocd.conf");
  // Load through a relative, unnormalized path to the file.
  fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  Config c = load_config("etc/../etc/mailprocd.conf");
  fs::current_path(cwd);
  fs::path etc = dir_ / "etc";
  EXPECT_EQ(c.file, etc / "mailprocd.conf");
  EXPECT_EQ(c.spooldir, etc / "spool");
  EXPECT_EQ(c.control_socket, etc / "spool" / "control");
  EXPECT_EQ(c.transport, etc / "maps" / "transport");
  EXPECT_EQ(c.variables, etc / "variables");
  EXPECT_EQ(c.rewrite, etc / "rewrite");
  EXPECT_EQ(c.users, "/abs/users");
  EXPECT_EQ(c.tls_cert, etc / "tls" / "cert.pem");
  EXPECT_EQ(c.tls_key, etc / "tls" / "key.pem");
  EXPECT_EQ(c.log, (etc / "log" / "mail.log").string());
  EXPECT_EQ(c.spamd, "unix:" + (etc / "run" / "spamd").string());
  EXPECT_TRUE(c.file.is_absolute());
}

TEST_F(ConfigTest, CommentsAndSpacing) {
  Config c =
      load_config(write("  myhostname=a.example   # trailing comment\n"
                        "#max_hops = x\n"
                        "\tmax_hops\t=\t7\t\n"
                        "maildir_junk = .Spam#notacomment\n"));
  EXPECT_EQ(c.myhostname, "a.example");
  EXPECT_EQ(c.max_hops, 7u);
  EXPECT_EQ(c.maildir_junk, ".Spam#notacomment");
}

TEST_F(ConfigTest, ExactErrorTexts) {
  EXPECT_EQ(one_error("bogus = 1\n"), at(1) + "unknown key 'bogus'");
  EXPECT_EQ(one_error("\nsmtpd_timeout = abc\n"),
            at(2) + "bad value for 'smtpd_timeout': 'abc' (expected a duration like 300s, 5m, 4h)");
  EXPECT_EQ(
      one_error("\n\nsmtpd_min_data_rate = 1k\n"),
      at(3) + "bad value for 'smtpd_min_data_rate': '1k' (expected a whole non-negative number)");
  EXPECT_EQ(one_error("myhostname\n"), at(1) + "missing '='");
  EXPECT_EQ(one_error("= x\n"), at(1) + "missing key before '='");
  EXPECT_EQ(one_error("ndr = yes\nndr = no\n"),
            at(2) + "duplicate key 'ndr' (first set at line 1)");
  EXPECT_EQ(one_error("ndr = maybe\n"),
            at(1) + "bad value for 'ndr': 'maybe' (expected yes or no)");
  EXPECT_EQ(one_error("max_hops = -1\n"),
            at(1) + "bad value for 'max_hops': '-1' (expected a whole number of at least 1)");
  EXPECT_EQ(
      one_error("message_size_limit = 1.5\n"),
      at(1) + "bad value for 'message_size_limit': '1.5' (expected a whole non-negative number)");
  EXPECT_EQ(one_error("max_connections = 0\n"),
            at(1) + "bad value for 'max_connections': '0' (expected a whole number of at least 1)");
  EXPECT_EQ(one_error("max_recipients = 99999999999\n"),
            at(1) + "bad value for 'max_recipients': '99999999999' (expected a smaller number)");
  EXPECT_EQ(one_error("smtp_port = 65536\n"),
            at(1) + "bad value for 'smtp_port': '65536' (expected a port number 1-65535)");
  EXPECT_EQ(one_error("smtp_port = 0\n"),
            at(1) + "bad value for 'smtp_port': '0' (expected a port number 1-65535)");
  EXPECT_EQ(one_error("listen = 127.0.0.1:25 ::1:25\n"),
            at(1) +
                "bad value for 'listen': '::1:25' (expected ADDR:PORT or lmtp:ADDR:PORT, IPv6 as "
                "[::1]:PORT)");
  EXPECT_EQ(one_error("bare_newline = fix\n"),
            at(1) + "bad value for 'bare_newline': 'fix' (expected reject or normalize)");
  EXPECT_EQ(one_error("smtp_connection_cache_time = 2ms\n"),
            at(1) +
                "bad value for 'smtp_connection_cache_time': '2ms' (expected a duration like "
                "300s, 5m, 4h)");
  EXPECT_EQ(one_error("smtp_tls = yes\n"),
            at(1) + "bad value for 'smtp_tls': 'yes' (expected none, may or encrypt)");
  EXPECT_EQ(one_error("spam_failure = drop\n"),
            at(1) + "bad value for 'spam_failure': 'drop' (expected defer or pass)");
  EXPECT_EQ(one_error("mynetworks = 10.0.0.0/33\n"),
            at(1) +
                "bad value for 'mynetworks': '10.0.0.0/33' (expected a network like 10.0.0.0/8 "
                "or [::1]/128)");
  EXPECT_EQ(one_error("relay_domains = ok.example bad_.-x\n"),
            at(1) + "bad value for 'relay_domains': 'bad_.-x' (expected a domain or *.domain)");
  EXPECT_EQ(one_error("relayhost = a.example:0\n"),
            at(1) + "bad value for 'relayhost': 'a.example:0' (expected host[:port])");
  EXPECT_EQ(one_error("dns_servers = ns.example\n"),
            at(1) + "bad value for 'dns_servers': 'ns.example' (expected ADDR[:PORT])");
  EXPECT_EQ(one_error("pipe_timeout = 0\n"),
            at(1) + "bad value for 'pipe_timeout': '0' (expected a duration greater than 0)");
  EXPECT_EQ(
      one_error("maildir_junk = a/b\n"),
      at(1) + "bad value for 'maildir_junk': 'a/b' (expected a maildir folder name like .Junk)");
  EXPECT_EQ(one_error("spooldir =\n"), at(1) + "bad value for 'spooldir': '' (expected a path)");
  EXPECT_EQ(one_error("tls_cert = c.pem\n"),
            at(1) + "tls_cert is set but tls_key is not (set both or neither)");
  EXPECT_EQ(one_error("\ntls_key = k.pem\n"),
            at(2) + "tls_key is set but tls_cert is not (set both or neither)");
  EXPECT_EQ(one_error("retry_max = 1m\nretry_min = 2m\n"),
            at(2) + "retry_min (2m) is larger than retry_max (1m)");
}

TEST_F(ConfigTest, AllErrorsReportedAtOnce) {
  auto e = errors(
      "listen = 127.0.0.1:2525\n"
      "bogus = 1\n"
      "# fine\n"
      "ndr = perhaps\n"
      "max_hops 5\n"
      "listen = 127.0.0.1:25\n"
      "delay_warning = 5x\n");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0], at(2) + "unknown key 'bogus'");
  EXPECT_EQ(e[1], at(4) + "bad value for 'ndr': 'perhaps' (expected yes or no)");
  EXPECT_EQ(e[2], at(5) + "missing '='");
  EXPECT_EQ(e[3], at(6) + "duplicate key 'listen' (first set at line 1)");
  EXPECT_EQ(e[4],
            at(7) + "bad value for 'delay_warning': '5x' (expected a duration like 300s, 5m, 4h)");
  try {
    load_config(dir_ / "mailprocd.conf");
  } catch (const ConfigError& err) {
    std::string what = err.what();
    EXPECT_NE(what.find(e[0] + "\n" + e[1]), std::string::npos) << what;
  }
}

TEST_F(ConfigTest, UnreadableFile) {
  fs::path missing = dir_ / "nope.conf";
  try {
    load_config(missing);
    FAIL() << "loaded a missing file";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0], missing.string() + ": cannot read: No such file or directory");
  }
  try {
    load_config(dir_);
    FAIL() << "loaded a directory";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.errors().at(0), dir_.string() + ": cannot read: Is a directory");
  }
}

TEST_F(ConfigTest, BooleanSpellings) {
  for (auto [text, value] : std::vector<std::pair<std::string, bool>>{{"yes", true},
                                                                      {"YES", true},
                                                                      {"true", true},
                                                                      {"1", true},
                                                                      {"no", false},
                                                                      {"false", false},
                                                                      {"0", false},
                                                                      {"No", false}}) {
    Config c = load_config(write("archive = " + text + "\n"));
    EXPECT_EQ(c.archive, value) << text;
  }
}

TEST_F(ConfigTest, ListenForms) {
  Config c = load_config(write("listen = lmtp:[::1]:24,127.0.0.1:2525\n"));
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].protocol, Listener::Protocol::lmtp);
  EXPECT_EQ(c.listen[0].host, "::1");
  EXPECT_EQ(c.listen[0].port, 24);
  EXPECT_EQ(c.listen[0].text, "lmtp:[::1]:24");
  EXPECT_EQ(c.listen[1].protocol, Listener::Protocol::smtp);
  for (std::string bad : {"127.0.0.1", "127.0.0.1:", "localhost:25", "[127.0.0.1]:25", "[::1]",
                          "::1:25", "lmtp:127.0.0.1", "smtp:127.0.0.1:25", "1.2.3.4:99999"}) {
    auto e = errors("listen = " + bad + "\n");
    ASSERT_EQ(e.size(), 1u) << bad;
    EXPECT_NE(e[0].find("bad value for 'listen': '" + bad + "'"), std::string::npos) << e[0];
  }
}

TEST_F(ConfigTest, ProxyListenersAndTrustedPeers) {
  Config c =
      load_config(write("listen = proxy:0.0.0.0:25 PROXY:lmtp:[::1]:24 127.0.0.1:2525\n"
                        "proxy_trusted = 10.0.0.5, 192.168.0.0/24 [::1]/128\n"));
  ASSERT_EQ(c.listen.size(), 3u);
  EXPECT_TRUE(c.listen[0].proxy);
  EXPECT_EQ(c.listen[0].protocol, Listener::Protocol::smtp);
  EXPECT_EQ(c.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.listen[0].port, 25);
  EXPECT_EQ(c.listen[0].text, "proxy:0.0.0.0:25");
  EXPECT_TRUE(c.listen[1].proxy);
  EXPECT_EQ(c.listen[1].protocol, Listener::Protocol::lmtp);
  EXPECT_EQ(c.listen[1].host, "::1");
  EXPECT_EQ(c.listen[1].port, 24);
  EXPECT_FALSE(c.listen[2].proxy);
  ASSERT_EQ(c.proxy_trusted.size(), 3u);
  EXPECT_TRUE(any_contains(c.proxy_trusted, "10.0.0.5"));
  EXPECT_FALSE(any_contains(c.proxy_trusted, "10.0.0.6"));
  EXPECT_TRUE(any_contains(c.proxy_trusted, "192.168.0.77"));
  EXPECT_TRUE(any_contains(c.proxy_trusted, "::1"));
  for (std::string bad : {"proxy:", "proxy:25", "proxy:127.0.0.1", "lmtp:proxy:127.0.0.1:25",
                          "proxy:proxy:127.0.0.1:25", "proxy:smtp:127.0.0.1:25"}) {
    auto e = errors("listen = " + bad + "\nproxy_trusted = 127.0.0.1\n");
    ASSERT_EQ(e.size(), 1u) << bad;
    EXPECT_NE(e[0].find("bad value for 'listen': '" + bad + "'"), std::string::npos) << e[0];
  }
  EXPECT_EQ(one_error("proxy_trusted = 10.0.0.0/8 haproxy.example\n"),
            at(1) +
                "bad value for 'proxy_trusted': 'haproxy.example' (expected a network like "
                "10.0.0.0/8 or [::1]/128)");
}

TEST_F(ConfigTest, ProxyListenerNeedsTrustedPeers) {
  // No one trusted: every connection to that listener would be refused.
  EXPECT_EQ(one_error("myhostname = mx.example\nlisten = 127.0.0.1:25, proxy:127.0.0.1:26\n"),
            at(2) +
                "listener 'proxy:127.0.0.1:26' expects PROXY headers but proxy_trusted is empty "
                "(set proxy_trusted to the load balancers' addresses)");
  EXPECT_EQ(one_error("listen = proxy:127.0.0.1:26\nproxy_trusted =\n"),
            at(1) +
                "listener 'proxy:127.0.0.1:26' expects PROXY headers but proxy_trusted is empty "
                "(set proxy_trusted to the load balancers' addresses)");
  // Trusted peers without a proxy listener are harmless.
  EXPECT_EQ(load_config(write("proxy_trusted = 127.0.0.1\n")).proxy_trusted.size(), 1u);
}

TEST_F(ConfigTest, MetricsListen) {
  Config c = load_config(write("metrics_listen = 127.0.0.1:9100\n"));
  ASSERT_TRUE(c.metrics_listen.has_value());
  EXPECT_EQ(*c.metrics_listen, (HostPort{"127.0.0.1", 9100}));
  c = load_config(write("metrics_listen = [::1]:9101\n"));
  EXPECT_EQ(*c.metrics_listen, (HostPort{"::1", 9101}));
  c = load_config(write("metrics_listen = *:9102\n"));
  EXPECT_EQ(*c.metrics_listen, (HostPort{"*", 9102}));
  c = load_config(write("metrics_listen =\n"));
  EXPECT_FALSE(c.metrics_listen.has_value());
  for (std::string bad : {"9100", "localhost:9100", "127.0.0.1", "lmtp:127.0.0.1:9100",
                          "proxy:127.0.0.1:9100", "127.0.0.1:0"}) {
    EXPECT_EQ(one_error("metrics_listen = " + bad + "\n"),
              at(1) + "bad value for 'metrics_listen': '" + bad +
                  "' (expected ADDR:PORT like 127.0.0.1:9100, [::1]:9100 or *:9100)");
  }
}

TEST(HostPort, ParseAndStr) {
  struct Case {
    std::string in;
    std::string host;
    std::uint16_t port;
    std::string str;
  };
  for (const auto& c : std::vector<Case>{{"mx.example", "mx.example", 0, "mx.example"},
                                         {"mx.example:2525", "mx.example", 2525, "mx.example:2525"},
                                         {"10.1.1.1", "10.1.1.1", 0, "10.1.1.1"},
                                         {"10.1.1.1:25", "10.1.1.1", 25, "10.1.1.1:25"},
                                         {"[::1]", "::1", 0, "[::1]"},
                                         {"[::1]:2425", "::1", 2425, "[::1]:2425"},
                                         {"2001:db8::1", "2001:db8::1", 0, "[2001:db8::1]"},
                                         {"[mx.example]:26", "mx.example", 26, "mx.example:26"}}) {
    auto hp = parse_host_port(c.in);
    ASSERT_TRUE(hp) << c.in;
    EXPECT_EQ(hp->host, c.host);
    EXPECT_EQ(hp->port, c.port);
    EXPECT_EQ(hp->str(), c.str);
  }
  for (std::string bad : {"", ":25", "a:", "a:b", "a:0", "a:65536", "[::1", "[::1]x",
                          "[::1]:", "-a.example", "a..b", "a b", "a.example.", "::g"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

TEST(RelayDomains, Matching) {
  Config c;
  c.relay_domains = {"example.org", "*.example.net"};
  EXPECT_TRUE(c.relay_domain_matches("example.org"));
  EXPECT_TRUE(c.relay_domain_matches("EXAMPLE.Org"));
  EXPECT_FALSE(c.relay_domain_matches("sub.example.org"));
  EXPECT_FALSE(c.relay_domain_matches("badexample.org"));
  EXPECT_TRUE(c.relay_domain_matches("a.example.net"));
  EXPECT_TRUE(c.relay_domain_matches("A.B.Example.NET"));
  EXPECT_FALSE(c.relay_domain_matches("example.net"));
  EXPECT_FALSE(c.relay_domain_matches("xexample.net"));
  EXPECT_FALSE(c.relay_domain_matches(".example.net"));
  EXPECT_FALSE(c.relay_domain_matches("other.example"));
  EXPECT_FALSE(c.relay_domain_matches(""));
}

TEST_F(ConfigTest, RelayDomainsFromFileAreLowercased) {
  Config c = load_config(write("relay_domains = *.Corp.Example, Mail.Example\n"));
  EXPECT_TRUE(c.relay_domain_matches("x.corp.example"));
  EXPECT_TRUE(c.relay_domain_matches("mail.example"));
  EXPECT_FALSE(c.relay_domain_matches("corp.example"));
}

TEST_F(ConfigTest, SmtpdBanner) {
  Config d = load_config(write("myhostname = mx.example.org\n"));
  EXPECT_EQ(d.smtpd_banner, "$myhostname ESMTP");
  EXPECT_EQ(d.expanded_banner(), "mx.example.org ESMTP");
  Config c = load_config(write(
      "myhostname = mx.example.org\nsmtpd_banner = ${myhostname} ready, $myhostname ESMTP\n"));
  EXPECT_EQ(c.expanded_banner(), "mx.example.org ready, mx.example.org ESMTP");
  EXPECT_EQ(
      one_error("smtpd_banner = a\x01z\n"),
      at(1) + "bad value for 'smtpd_banner': 'a\\x01z' (expected one line of printable ASCII text)");
}

TEST_F(ConfigTest, ErrorsQuoteAtMostAHundredBytesEscaped) {
  std::string huge(2 * 1024 * 1024, 'x');
  std::string e = one_error("max_hops = " + huge + "\n");
  EXPECT_EQ(e, at(1) + "bad value for 'max_hops': '" + std::string(100, 'x') +
                   "'... (expected a whole number of at least 1)");
  EXPECT_EQ(one_error("bogus\x7f\xff = 1\n"), at(1) + "unknown key 'bogus\\x7f\\xff'");
}

TEST(QuoteExcerpt, EscapesAndCuts) {
  EXPECT_EQ(quote_excerpt("plain"), "'plain'");
  EXPECT_EQ(quote_excerpt(std::string_view("a\0b\tc", 5)), "'a\\x00b\\x09c'");
  EXPECT_EQ(quote_excerpt("abcdef", 3), "'abc'...");
  EXPECT_EQ(quote_excerpt("abc", 3), "'abc'");
}

TEST_F(ConfigTest, DestinationConcurrency) {
  Config c = load_config(write("destination_concurrency = Example.COM=5, *=20 [192.0.2.1]=1\n"));
  EXPECT_EQ(c.destination_concurrency,
            (std::map<std::string, unsigned>{{"example.com", 5}, {"*", 20}, {"[192.0.2.1]", 1}}));
  EXPECT_TRUE(load_config(write("\n")).destination_concurrency.empty());
  EXPECT_EQ(one_error("\ndestination_concurrency = example.com=0\n"),
            at(2) +
                "bad value for 'destination_concurrency': 'example.com=0' (expected "
                "DESTINATION=N items (N at least 1), like example.com=5, *=20)");
  EXPECT_NE(one_error("destination_concurrency = example.com\n").find(at(1)), std::string::npos);
  EXPECT_NE(one_error("destination_concurrency = =3\n").find(at(1)), std::string::npos);
}

}  // namespace
// The in-memory entry points (used by the fuzzers) read text as load_config reads a file.
TEST(ConfigText, ParseConfigFromLines) {
  auto lines = split_config_lines("# c\nmax_recipients = 7\n\n  retry_min = 1m # x\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].number, 4);
  EXPECT_EQ(lines[1].text, "retry_min = 1m");
  Config c = parse_config(lines, "/fuzz/etc/mailprocd.conf");
  EXPECT_EQ(c.max_recipients, 7u);
  EXPECT_EQ(c.retry_min, std::chrono::seconds(60));
  EXPECT_THROW(parse_config(split_config_lines("nope = 1\n"), "/x.conf"), ConfigError);
}

}  // namespace mp
