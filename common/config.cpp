// mailprocd.conf loader: every key of SPEC.md, typed and validated, all errors collected.
#include "common/config.hpp"
#include "common/ascii.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <algorithm>

#include <charconv>
#include <functional>
#include <limits>
#include <map>
#include <mutex>

#include "common/config_keys.hpp"
#include "common/config_values.hpp"
#include "common/duration.hpp"

namespace mp {
namespace fs = std::filesystem;

namespace {

using namespace config_values;

constexpr std::string_view kDuration = "a duration like 300s, 5m, 4h";
constexpr std::string_view kNumber = "a whole non-negative number";
constexpr std::string_view kCount = "a whole number of at least 1";
constexpr std::string_view kBool = "yes or no";

// A key's parser: sets the field or returns the error text (without "FILE:LINE: ").
using Setter = std::function<std::string(Config&, std::string_view key, std::string_view value,
                                         const fs::path& dir)>;

Setter duration(std::chrono::seconds Config::*field, bool allow_zero) {
  return [=](Config& c, std::string_view key, std::string_view v, const fs::path&) {
    auto d = parse_duration(v);
    if (!d) return bad(key, v, kDuration);
    if (!allow_zero && d->count() == 0) return bad(key, v, "a duration greater than 0");
    c.*field = *d;
    return std::string();
  };
}

template <typename T>
Setter number(T Config::*field, std::uint64_t min) {
  return [=](Config& c, std::string_view key, std::string_view v, const fs::path&) {
    auto n = parse_number(v);
    if (!n) return bad(key, v, min > 0 ? kCount : kNumber);
    if (*n > std::numeric_limits<T>::max()) return bad(key, v, "a smaller number");
    if (*n < min) return bad(key, v, kCount);
    c.*field = static_cast<T>(*n);
    return std::string();
  };
}

Setter boolean(bool Config::*field) {
  return [=](Config& c, std::string_view key, std::string_view v, const fs::path&) {
    auto b = parse_bool(v);
    if (!b) return bad(key, v, kBool);
    c.*field = *b;
    return std::string();
  };
}

// A file path; empty means "not set" unless required.
// A list of networks (mynetworks, proxy_trusted).
Setter networks(std::vector<Cidr> Config::*field) {
  return [field](Config& c, std::string_view key, std::string_view v, const fs::path&) {
    std::vector<Cidr> out;
    for (const auto& item : split_list(v)) {
      auto n = Cidr::parse(item);
      if (!n) return bad(key, item, "a network like 10.0.0.0/8 or [::1]/128");
      out.push_back(*n);
    }
    c.*field = std::move(out);
    return std::string();
  };
}

Setter path(fs::path Config::*field, bool required) {
  return [=](Config& c, std::string_view key, std::string_view v, const fs::path& dir) {
    if (v.empty()) {
      if (required) return bad(key, v, "a path");
      c.*field = fs::path();
      return std::string();
    }
    c.*field = resolve(dir, v);
    return std::string();
  };
}

Setter host_list(std::vector<HostPort> Config::*field, bool ip_only) {
  return [=](Config& c, std::string_view key, std::string_view v, const fs::path&) {
    std::vector<HostPort> out;
    for (const auto& item : split_list(v)) {
      auto hp = parse_host_port(item);
      if (!hp || (ip_only && !is_ip(hp->host)))
        return bad(key, item, ip_only ? "ADDR[:PORT]" : "host[:port]");
      out.push_back(*hp);
    }
    c.*field = std::move(out);
    return std::string();
  };
}

const std::map<std::string, Setter, std::less<>>& setters() {
  static const std::map<std::string, Setter, std::less<>> table = {
      {"myhostname",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         if (!is_host_name(v)) return bad(key, v, "a host name");
         c.myhostname = std::string(v);
         return std::string();
       }},
      {"smtpd_banner",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         // One reply line: printable ASCII only (no CR, LF or other control bytes).
         bool printable = !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
           return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f;
         });
         if (!printable) return bad(key, v, "one line of printable ASCII text");
         c.smtpd_banner = std::string(v);
         return std::string();
       }},
      {"listen",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::vector<Listener> out;
         for (const auto& item : split_list(v)) {
           auto l = parse_listener(item);
           if (!l) return bad(key, item, "ADDR:PORT or lmtp:ADDR:PORT, IPv6 as [::1]:PORT");
           out.push_back(*l);
         }
         c.listen = std::move(out);
         return std::string();
       }},
      {"spooldir", path(&Config::spooldir, true)},
      {"mynetworks", networks(&Config::mynetworks)},
      {"relay_domains",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::vector<std::string> out;
         for (const auto& item : split_list(v)) {
           std::string_view name = item;
           if (name.starts_with("*.")) name.remove_prefix(2);
           if (!is_host_name(name)) return bad(key, item, "a domain or *.domain");
           out.push_back(ascii_lower(item));
         }
         c.relay_domains = std::move(out);
         return std::string();
       }},
      {"relayhost", host_list(&Config::relayhost, false)},
      {"transport", path(&Config::transport, false)},
      {"variables", path(&Config::variables, false)},
      {"rewrite", path(&Config::rewrite, false)},
      {"rewrite_headers", boolean(&Config::rewrite_headers)},
      {"users", path(&Config::users, false)},
      {"maxqueuetime", duration(&Config::maxqueuetime, true)},
      {"ndr", boolean(&Config::ndr)},
      {"archive", boolean(&Config::archive)},
      {"retry_min", duration(&Config::retry_min, false)},
      {"retry_max", duration(&Config::retry_max, false)},
      {"queue_run_interval", duration(&Config::queue_run_interval, false)},
      {"delay_warning", duration(&Config::delay_warning, true)},
      {"message_size_limit", number(&Config::message_size_limit, 0)},
      {"max_recipients", number(&Config::max_recipients, 1)},
      {"smtpd_timeout", duration(&Config::smtpd_timeout, false)},
      {"smtpd_min_data_rate", number(&Config::smtpd_min_data_rate, 0)},
      {"max_connections", number(&Config::max_connections, 1)},
      {"max_connections_per_ip", number(&Config::max_connections_per_ip, 1)},
      {"bare_newline",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::string l = ascii_lower(v);
         if (l == "reject") {
           c.bare_newline = BareNewline::reject;
         } else if (l == "normalize") {
           c.bare_newline = BareNewline::normalize;
         } else {
           return bad(key, v, "reject or normalize");
         }
         return std::string();
       }},
      {"tls_cert", path(&Config::tls_cert, false)},
      {"tls_key", path(&Config::tls_key, false)},
      {"smtp_tls",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::string l = ascii_lower(v);
         if (l == "none") {
           c.smtp_tls = SmtpTls::none;
         } else if (l == "may") {
           c.smtp_tls = SmtpTls::may;
         } else if (l == "encrypt") {
           c.smtp_tls = SmtpTls::encrypt;
         } else {
           return bad(key, v, "none, may or encrypt");
         }
         return std::string();
       }},
      {"dns_servers", host_list(&Config::dns_servers, true)},
      {"smtp_port",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         auto p = parse_port(v);
         if (!p) return bad(key, v, "a port number 1-65535");
         c.smtp_port = *p;
         return std::string();
       }},
      {"delivery_concurrency", number(&Config::delivery_concurrency, 1)},
      {"destination_concurrency",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::map<std::string, unsigned> limits;
         std::string item;
         auto take = [&]() -> std::string {
           if (item.empty()) return std::string();
           std::size_t eq = item.rfind('=');
           auto n = eq == std::string::npos ? std::nullopt : parse_number(item.substr(eq + 1));
           if (eq == 0 || !n || *n < 1 || *n > 1000000)
             return bad(key, item, "DESTINATION=N items (N at least 1), like example.com=5, *=20");
           limits[ascii_lower(item.substr(0, eq))] = static_cast<unsigned>(*n);
           item.clear();
           return std::string();
         };
         for (char ch : v) {
           if (ch == ',' || ch == ' ' || ch == '\t') {
             if (std::string e = take(); !e.empty()) return e;
           } else {
             item += ch;
           }
         }
         if (std::string e = take(); !e.empty()) return e;
         c.destination_concurrency = std::move(limits);
         return std::string();
       }},
      {"smtp_connection_cache_time", duration(&Config::smtp_connection_cache_time, true)},
      {"pipe_timeout", duration(&Config::pipe_timeout, false)},
      {"max_hops", number(&Config::max_hops, 1)},
      {"spamd",
       [](Config& c, std::string_view key, std::string_view v, const fs::path& dir) {
         if (v.starts_with("unix:")) {
           if (v.size() == 5) return bad(key, v, "host:port or unix:/path");
           c.spamd = "unix:" + resolve(dir, v.substr(5)).string();
           return std::string();
         }
         auto hp = parse_host_port(v);
         if (!hp || hp->port == 0) return bad(key, v, "host:port or unix:/path");
         c.spamd = hp->str();
         return std::string();
       }},
      {"spam_workers_per_user", number(&Config::spam_workers_per_user, 1)},
      {"spam_worker_idle", duration(&Config::spam_worker_idle, false)},
      {"spam_failure",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         std::string l = ascii_lower(v);
         if (l == "defer") {
           c.spam_failure = SpamFailure::defer;
         } else if (l == "pass") {
           c.spam_failure = SpamFailure::pass;
         } else {
           return bad(key, v, "defer or pass");
         }
         return std::string();
       }},
      {"maildir_junk",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         bool ok = v != "." && v != "..";
         for (char ch : v) {
           if (ch == '/' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ok = false;
         }
         if (!ok) return bad(key, v, "a maildir folder name like .Junk");
         c.maildir_junk = std::string(v);
         return std::string();
       }},
      {"user",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         bool ok = !v.empty() && v.size() <= 32 && v.front() != '-';
         for (char ch : v) {
           if (ch == ':' || ch == '/' || ch == ',' || static_cast<unsigned char>(ch) <= 0x20 ||
               ch == 0x7f)
             ok = false;
         }
         if (!ok) return bad(key, v, "a user name");
         c.user = std::string(v);
         return std::string();
       }},
      {"log",
       [](Config& c, std::string_view key, std::string_view v, const fs::path& dir) {
         if (v.empty()) return bad(key, v, "stderr, syslog or a file path");
         if (v == "stderr" || v == "syslog") {
           c.log = std::string(v);
         } else {
           c.log = resolve(dir, v).string();
         }
         return std::string();
       }},
      {"control_socket", path(&Config::control_socket, false)},
      {"submit_socket", path(&Config::submit_socket, false)},
      {"proxy_trusted", networks(&Config::proxy_trusted)},
      {"metrics_listen",
       [](Config& c, std::string_view key, std::string_view v, const fs::path&) {
         if (v.empty()) {
           c.metrics_listen.reset();
           return std::string();
         }
         auto l = parse_listener(v);
         if (!l || l->proxy || l->protocol != Listener::Protocol::smtp)
           return bad(key, v, "ADDR:PORT like 127.0.0.1:9100, [::1]:9100 or *:9100");
         c.metrics_listen = HostPort{l->host, l->port};
         return std::string();
       }},
  };
  return table;
}

std::string system_hostname() {
  static std::once_flag once;
  static std::string name;
  std::call_once(once, [] {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
      name = "localhost";
      return;
    }
    name = buf;
    if (name.find('.') != std::string::npos) return;
    // Not fully qualified: ask the resolver (normally /etc/hosts) for the canonical name.
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(buf, nullptr, &hints, &res) == 0 && res) {
      if (res->ai_canonname && std::string_view(res->ai_canonname).find('.') != std::string::npos &&
          is_host_name(res->ai_canonname))
        name = res->ai_canonname;
      freeaddrinfo(res);
    }
  });
  return name;
}

// The defaults of the key table, through the same parsers as the file's lines.
Config base_defaults() {
  static const Config defaults = [] {
    Config c;
    for (const ConfigKey& key : config_keys()) {
      auto it = setters().find(key.name);
      if (it == setters().end())
        throw std::logic_error("no parser for key " + std::string(key.name));
      if (key.default_text.empty()) continue;
      std::string err = it->second(c, key.name, key.default_text, fs::path("/"));
      if (!err.empty()) throw std::logic_error("default of " + std::string(key.name) + ": " + err);
    }
    return c;
  }();
  return defaults;
}

}  // namespace

std::string HostPort::str() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port == 0) return h;
  return h + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort hp;
  std::string_view host = text;
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      has_port = true;
    }
    if (!is_ip(host) && !is_host_name(host)) return std::nullopt;
  } else {
    std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      // Several colons without brackets: a bare IPv6 address, no port.
      if (!is_ip(text)) return std::nullopt;
    } else if (colon != std::string_view::npos) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      has_port = true;
    }
    if (!is_ip(host) && !is_host_name(host)) return std::nullopt;
  }
  if (has_port) {
    auto p = parse_port(port);
    if (!p) return std::nullopt;
    hp.port = *p;
  }
  hp.host = std::string(host);
  return hp;
}

std::string Config::expanded_banner() const {
  std::string out = smtpd_banner;
  for (std::string_view name : {"${myhostname}", "$myhostname"}) {
    for (std::size_t at = out.find(name); at != std::string::npos; at = out.find(name, at)) {
      out.replace(at, name.size(), myhostname);
      at += myhostname.size();
    }
  }
  return out;
}

bool Config::relay_domain_matches(std::string_view domain) const {
  std::string d = ascii_lower(domain);
  for (const auto& entry : relay_domains) {
    if (entry.starts_with("*.")) {
      std::string_view suffix = std::string_view(entry).substr(1);  // ".example.org"
      if (d.size() > suffix.size() && d.ends_with(suffix)) return true;
    } else if (d == entry) {
      return true;
    }
  }
  return false;
}

Config default_config() {
  Config c = base_defaults();
  c.myhostname = system_hostname();
  c.control_socket = c.spooldir / "control";
  return c;
}

Config load_config(const fs::path& file) {
  std::vector<std::string> errors;
  Config c = load_config_collecting(file, errors);
  if (!errors.empty()) throw ConfigError(std::move(errors));
  return c;
}

Config parse_config(const std::vector<ConfigLine>& lines, const fs::path& file) {
  std::vector<std::string> errors;
  Config c = parse_config_collecting(lines, file, errors);
  if (!errors.empty()) throw ConfigError(std::move(errors));
  return c;
}

Config load_config_collecting(const fs::path& file, std::vector<std::string>& errors) {
  std::vector<ConfigLine> lines;
  try {
    lines = read_config_lines(file);
  } catch (const ConfigError& e) {  // "FILE: cannot read: ..."
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
    lines.clear();
  }
  return parse_config_collecting(lines, file, errors);
}

Config parse_config_collecting(const std::vector<ConfigLine>& lines, const fs::path& file,
                               std::vector<std::string>& errors) {
  Config c = base_defaults();
  c.file = fs::absolute(file).lexically_normal();
  const std::string name = file.string();
  const fs::path dir = c.file.parent_path();
  std::map<std::string, int, std::less<>> seen;  // key → line
  auto error_at = [&](int line, const std::string& what) {
    errors.push_back(name + ":" + std::to_string(line) + ": " + what);
  };

  for (const auto& line : lines) {
    std::size_t eq = line.text.find('=');
    if (eq == std::string::npos) {
      error_at(line.number, "missing '='");
      continue;
    }
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
      return s;
    };
    std::string_view key = trim(std::string_view(line.text).substr(0, eq));
    std::string_view value = trim(std::string_view(line.text).substr(eq + 1));
    if (key.empty()) {
      error_at(line.number, "missing key before '='");
      continue;
    }
    auto it = setters().find(key);
    // A key needs its parser and its entry in the key table (default, reload behaviour).
    if (it == setters().end() || !find_config_key(key)) {
      error_at(line.number, "unknown key " + quote_excerpt(key));
      continue;
    }
    if (auto s = seen.find(key); s != seen.end()) {
      error_at(line.number, "duplicate key '" + std::string(key) + "' (first set at line " +
                                std::to_string(s->second) + ")");
      continue;
    }
    seen.emplace(std::string(key), line.number);
    std::string err = it->second(c, key, value, dir);
    if (err.empty()) {
      c.set_in_file.emplace(std::string(key), std::string(value));
    } else {
      error_at(line.number, err);
    }
  }

  // Cross-key checks, reported at the line of the key that completes the conflict.
  auto line_of = [&](std::string_view key) {
    auto s = seen.find(key);
    return s == seen.end() ? 0 : s->second;
  };
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    bool cert = !c.tls_cert.empty();
    error_at(line_of(cert ? "tls_cert" : "tls_key"),
             cert ? "tls_cert is set but tls_key is not (set both or neither)"
                  : "tls_key is set but tls_cert is not (set both or neither)");
  }
  if (c.retry_min > c.retry_max) {
    int line = std::max(line_of("retry_min"), line_of("retry_max"));
    error_at(line, "retry_min (" + format_duration(c.retry_min) + ") is larger than retry_max (" +
                       format_duration(c.retry_max) + ")");
  }
  // A proxy: listener with no trusted proxy would refuse every connection: say so now.
  if (c.proxy_trusted.empty()) {
    for (const Listener& l : c.listen) {
      if (!l.proxy) continue;
      error_at(line_of("listen"), "listener '" + l.text +
                                      "' expects PROXY headers but proxy_trusted is empty (set "
                                      "proxy_trusted to the load balancers' addresses)");
      break;
    }
  }
  if (c.myhostname.empty()) c.myhostname = system_hostname();
  if (c.control_socket.empty()) c.control_socket = c.spooldir / "control";
  return c;
}

}  // namespace mp
