// mailprocd.conf: `key = value` lines, every key of SPEC.md typed and validated.
//
// Loaded by every program (mailprocd, mpqueue, mpsendmail). load_config()
// collects all errors of the file and throws one ConfigError listing them as
// "FILE:LINE: ..." lines; an unknown key is an error. Relative paths are
// resolved against the folder of the config file. Map files (transport,
// variables, rewrite, users) are only named here; rewrite/ parses them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cidr.hpp"
#include "common/config_file.hpp"

namespace mp {

struct HostPort {
  std::string host;         // name or IP literal, without brackets
  std::uint16_t port = 0;   // 0: the caller's default
  std::string str() const;  // "host", "host:port", "[::1]:port"
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// "host", "host:port", "[v6]", "[v6]:port", "1.2.3.4:25". nullopt when malformed.
std::optional<HostPort> parse_host_port(std::string_view text);

struct Listener {
  enum class Protocol { smtp, lmtp };
  Protocol protocol = Protocol::smtp;
  std::string host;  // IP address literal ("127.0.0.1", "::1") or "*"
  std::uint16_t port = 0;
  std::string text;  // as written, for logs
  // "proxy:" prefix: each connection starts with a PROXY v1/v2 header (proxy_trusted).
  bool proxy = false;
};

enum class BareNewline { reject, normalize };
enum class SmtpTls { none, may, encrypt };
enum class SpamFailure { defer, pass };

struct Config {
  std::filesystem::path file;  // the config file itself (absolute)
  // Each key the file sets, with its value as written (trimmed): `mailprocd config`.
  std::map<std::string, std::string, std::less<>> set_in_file;

  std::string myhostname;  // default: the system host name
  // The text after `220 ` in the SMTP greeting; $myhostname (or ${myhostname}) is expanded.
  std::string smtpd_banner = "$myhostname ESMTP";
  std::vector<Listener> listen{{Listener::Protocol::smtp, "127.0.0.1", 2525, "127.0.0.1:2525"}};
  std::filesystem::path spooldir = "/var/spool/mailproc";
  std::vector<Cidr> mynetworks;            // default 127.0.0.0/8 and ::1/128
  std::vector<std::string> relay_domains;  // lowercased; "*.example.org" for subdomains
  std::vector<HostPort> relayhost;
  std::filesystem::path transport, variables, rewrite, users;  // empty: not set
  bool rewrite_headers = false;
  std::chrono::seconds maxqueuetime{5 * 86400};
  bool ndr = true;
  bool archive = false;
  std::chrono::seconds retry_min{300}, retry_max{3600};
  std::chrono::seconds queue_run_interval{300};
  std::chrono::seconds delay_warning{0};
  std::uint64_t message_size_limit = 10240000;
  unsigned max_recipients = 1000;
  std::chrono::seconds smtpd_timeout{300};  // per command line, not per read
  std::uint64_t smtpd_min_data_rate = 500;  // bytes/s floor over DATA/BDAT; 0: none
  unsigned max_connections = 1000, max_connections_per_ip = 50;
  BareNewline bare_newline = BareNewline::reject;
  std::filesystem::path tls_cert, tls_key;
  SmtpTls smtp_tls = SmtpTls::may;
  std::vector<HostPort> dns_servers;  // empty: /etc/resolv.conf
  std::uint16_t smtp_port = 25;
  unsigned delivery_concurrency = 20;
  // destination_concurrency: destination (lower case) or "*" -> limit; unlisted:
  // delivery_concurrency
  std::map<std::string, unsigned> destination_concurrency;
  std::chrono::seconds smtp_connection_cache_time{2};  // idle outbound connections kept; 0: off
  std::chrono::seconds pipe_timeout{1000};
  unsigned max_hops = 50;
  std::string spamd = "127.0.0.1:783";  // "host:port" or "unix:/path"
  unsigned spam_workers_per_user = 1;
  std::chrono::seconds spam_worker_idle{60};
  SpamFailure spam_failure = SpamFailure::defer;
  std::string maildir_junk;
  std::string user = "mailproc";
  std::string log = "stderr";            // "stderr", "syslog" or an absolute file path
  std::filesystem::path control_socket;  // default: spooldir/control
  // Local submission by users who may not write the spool (mpsendmail); empty: off.
  std::filesystem::path submit_socket = "/run/mailproc/submit";

  // Peers that may send a PROXY header on a proxy: listener; empty: no one.
  std::vector<Cidr> proxy_trusted;
  // Where GET /metrics is served (host: an IP literal or "*"); unset: off.
  std::optional<HostPort> metrics_listen;

  bool relay_domain_matches(std::string_view domain) const;  // case-insensitive
  std::string expanded_banner() const;  // smtpd_banner with $myhostname filled in
};

// Throws ConfigError (all errors, "FILE:LINE: ...") or, when the file is unreadable, ConfigError
// with one "FILE: cannot read: ..." line.
Config load_config(const std::filesystem::path& file);
// The same for the lines of `file` already read (tests, fuzzers): `file` only names
// errors and anchors relative paths; it is not opened.
Config parse_config(const std::vector<ConfigLine>& lines, const std::filesystem::path& file);

// For `mailprocd check`: the same load, but the errors are appended to `errors` and
// the keys that parsed are kept, so the map files they name can be checked too.
Config load_config_collecting(const std::filesystem::path& file, std::vector<std::string>& errors);
Config parse_config_collecting(const std::vector<ConfigLine>& lines,
                               const std::filesystem::path& file, std::vector<std::string>& errors);

// Defaults only (no file), with myhostname set from the system. The defaults are
// those of the key table (common/config_keys.hpp).
Config default_config();

}  // namespace mp
