// Next-hop syntax of the transport file (SPEC "transport") and placeholder checks.
#include "rewrite/next_hop.hpp"

#include <algorithm>

#include "common/config_file.hpp"
#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

constexpr std::string_view kPlaceholders = "urslid";

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Checks the placeholders of one argument or path: each a whole argument or a whole
// '/'-separated segment, %s only as a whole argument. `allow` false: none at all.
bool check_placeholders(std::string_view text, bool allow, std::string& reason) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 1 == text.size()) {
      reason = "'%' at the end of '" + std::string(text) + "' (write %% for a literal '%')";
      return false;
    }
    char p = text[i + 1];
    if (p == '%') {
      ++i;
      continue;
    }
    if (kPlaceholders.find(p) == std::string_view::npos) {
      reason = "unknown placeholder '%" + std::string(1, p) + "' (known: %u %r %s %l %d %i %%)";
      return false;
    }
    std::string ph = std::string("%") + p;
    if (!allow) {
      reason = "placeholder " + ph + " not allowed in the program path";
      return false;
    }
    bool starts = i == 0 || text[i - 1] == '/';
    bool ends = i + 2 == text.size() || text[i + 2] == '/';
    if (!starts || !ends) {
      reason = "placeholder " + ph + " in '" + std::string(text) +
               "' must be a whole argument or a whole path segment";
      return false;
    }
    if (p == 's' && text.size() != 2) {
      reason = "placeholder %s (the sender) may only be a whole argument, never part of a path";
      return false;
    }
    ++i;
  }
  return true;
}

bool check_program(const std::vector<std::string>& argv, std::string& reason) {
  if (argv.empty()) {
    reason = "missing program";
    return false;
  }
  if (argv[0].empty() || argv[0].front() != '/') {
    reason = "the program must be an absolute path";
    return false;
  }
  if (!check_placeholders(argv[0], false, reason)) return false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (!check_placeholders(argv[i], true, reason)) return false;
  }
  return true;
}

std::string join(const std::vector<std::string>& words, char sep) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

bool valid_status(std::string_view s) {
  // class "." subject "." detail: 1 digit, 1-3 digits, 1-3 digits (RFC 3463).
  std::size_t d1 = s.find('.');
  if (d1 != 1) return false;
  std::size_t d2 = s.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  std::string_view subject = s.substr(d1 + 1, d2 - d1 - 1), detail = s.substr(d2 + 1);
  return all_digits(s.substr(0, 1)) && all_digits(subject) && subject.size() <= 3 &&
         all_digits(detail) && detail.size() <= 3;
}

std::optional<NextHop> parse_relay(std::string_view list, std::string& reason) {
  NextHop hop;
  hop.kind = HopKind::relay;
  auto items = split_list(list);
  if (items.empty()) {
    reason = "missing host";
    return std::nullopt;
  }
  for (const auto& item : items) {
    for (std::string_view keyword : {"mx", "discard", "error", "spam", "lmtp", "maildir"}) {
      if (iequals(item, keyword)) {
        reason = quote_excerpt(item) +
                 " is a keyword, not a host here (for a host of that name write [" + item + "])";
        return std::nullopt;
      }
    }
    auto hp = parse_host_port(item);
    if (!hp) {
      reason = quote_excerpt(item) + " is not a host, host:port or [address]:port";
      if (item.find('/') != std::string::npos) reason += " (a program needs an absolute path)";
      return std::nullopt;
    }
    hop.hosts.push_back(*hp);
  }
  std::vector<std::string> parts;
  for (const auto& hp : hop.hosts) parts.push_back(hp.str());
  hop.text = join(parts, ',');
  return hop;
}

std::optional<NextHop> parse_inner(std::string_view text, std::string& reason, int depth);

std::optional<NextHop> parse_spam(std::string_view rest, std::string& reason, int depth) {
  if (rest.empty()) {
    reason = "spam: needs the next hop that follows the spam stage";
    return std::nullopt;
  }
  auto then = parse_inner(rest, reason, depth + 1);
  if (!then) return std::nullopt;
  if (then->kind == HopKind::spam || then->kind == HopKind::discard ||
      then->kind == HopKind::error) {
    reason = "spam: must be followed by a delivering next hop, not " +
             std::string(kind_name(then->kind));
    return std::nullopt;
  }
  NextHop hop;
  hop.kind = HopKind::spam;
  hop.text = "spam:" + then->text;
  hop.then = std::make_shared<const NextHop>(std::move(*then));
  return hop;
}

std::optional<NextHop> parse_inner(std::string_view text, std::string& reason, int depth) {
  text = trim(text);
  NextHop hop;
  if (text.empty()) {
    reason = "empty";
    return std::nullopt;
  }
  if (has_control(text)) {
    reason = "control character";
    return std::nullopt;
  }
  if (text.front() == '|') {  // |/path/prog args
    hop.kind = HopKind::pipe;
    hop.argv = split_words(text.substr(1));
    if (!check_program(hop.argv, reason)) return std::nullopt;
    hop.text = "|" + join(hop.argv, ' ');
    return hop;
  }
  if (text.front() == '/') {  // MDA: /path [args]; a bare path gets "-d %u"
    hop.kind = HopKind::mda;
    hop.argv = split_words(text);
    if (hop.argv.size() == 1) {
      hop.argv.push_back("-d");
      hop.argv.push_back("%u");
    }
    if (!check_program(hop.argv, reason)) return std::nullopt;
    hop.text = join(hop.argv, ' ');
    return hop;
  }
  if (iequals(text, "discard") || starts_with_ci(text, "discard:")) {
    hop.kind = HopKind::discard;
    hop.message = std::string(text.size() > 8 ? trim(text.substr(8)) : "");
    hop.text = hop.message.empty() ? "discard" : "discard:" + hop.message;
    return hop;
  }
  if (iequals(text, "error") || starts_with_ci(text, "error:")) {
    hop.kind = HopKind::error;
    std::string_view rest = text.size() > 6 ? trim(text.substr(6)) : "";
    std::string_view first = rest.substr(0, rest.find_first_of(" \t"));
    if (!first.empty() && first.front() >= '0' && first.front() <= '9') {
      if (!valid_status(first)) {
        reason = quote_excerpt(first) + " is not an enhanced status code like 5.1.1";
        return std::nullopt;
      }
      if (first.front() != '5') {
        reason = "status " + std::string(first) + " is not permanent (error: needs 5.X.Y)";
        return std::nullopt;
      }
      hop.status = std::string(first);
      rest = trim(rest.substr(first.size()));
    } else {
      hop.status = "5.0.0";
    }
    hop.message = std::string(rest);
    hop.text = "error:" + hop.status + (hop.message.empty() ? "" : " " + hop.message);
    return hop;
  }
  // The remaining forms are one word (a relay list may use ", ").
  bool one_word = text.find_first_of(" \t") == std::string_view::npos;
  if (iequals(text, "mx") || starts_with_ci(text, "mx:")) {
    hop.kind = HopKind::mx;
    std::string_view domain = text.size() > 3 ? text.substr(3) : "";
    if (!one_word) {
      reason = "mx takes one domain: mx or mx:DOMAIN";
      return std::nullopt;
    }
    if (text.size() > 2 && domain.empty()) {
      reason = "missing domain after 'mx:'";
      return std::nullopt;
    }
    if (!domain.empty()) {
      if (all_digits(domain)) {
        reason = "'" + std::string(domain) +
                 "' is not a domain (for a relay host named mx write [mx]:" + std::string(domain) +
                 ")";
        return std::nullopt;
      }
      if (!valid_domain(domain) || domain.front() == '[') {
        reason = quote_excerpt(domain) + " is not a domain name";
        return std::nullopt;
      }
    }
    hop.domain = ascii_lower(domain);
    hop.text = hop.domain.empty() ? "mx" : "mx:" + hop.domain;
    return hop;
  }
  if (starts_with_ci(text, "lmtp:")) {
    hop.kind = HopKind::lmtp;
    std::string_view rest = text.substr(5);
    if (!one_word) {
      reason = "lmtp takes one destination: lmtp:HOST:PORT or lmtp:unix:/path";
      return std::nullopt;
    }
    if (starts_with_ci(rest, "unix:")) {
      hop.socket = std::string(rest.substr(5));
      if (hop.socket.empty() || hop.socket.front() != '/') {
        reason = "the unix socket must be an absolute path";
        return std::nullopt;
      }
      hop.text = "lmtp:unix:" + hop.socket;
      return hop;
    }
    if (rest.empty()) {
      reason = "missing HOST:PORT or unix:/path after 'lmtp:'";
      return std::nullopt;
    }
    auto hp = parse_host_port(rest);
    if (!hp) {
      reason = quote_excerpt(rest) + " is not HOST:PORT, [address]:PORT or unix:/path";
      return std::nullopt;
    }
    hop.hosts.push_back(*hp);
    hop.text = "lmtp:" + hp->str();
    return hop;
  }
  if (starts_with_ci(text, "maildir:")) {
    hop.kind = HopKind::maildir;
    hop.path = std::string(text.substr(8));
    if (!one_word) {
      reason = "a maildir path cannot contain blanks";
      return std::nullopt;
    }
    if (hop.path.empty() || hop.path.front() != '/') {
      reason = "the maildir must be an absolute path";
      return std::nullopt;
    }
    if (!check_placeholders(hop.path, true, reason)) return std::nullopt;
    hop.text = "maildir:" + hop.path;
    return hop;
  }
  if (starts_with_ci(text, "spam:")) {
    if (depth > 0) {
      reason = "spam: cannot be nested";
      return std::nullopt;
    }
    return parse_spam(text.substr(5), reason, depth);
  }
  if (starts_with_ci(text, "smtp:")) return parse_relay(text.substr(5), reason);
  // "word:rest" where word is a name and rest is not a port: an unknown transport.
  std::size_t colon = text.find(':');
  if (colon != std::string_view::npos && colon > 0 && text.front() != '[') {
    std::string_view word = text.substr(0, colon), after = text.substr(colon + 1);
    bool alpha = std::all_of(word.begin(), word.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    });
    std::string_view port = after.substr(0, after.find_first_of(", \t"));
    if (alpha && !all_digits(port) && after.find(':') == std::string_view::npos) {
      reason = "unknown transport '" + std::string(word) +
               ":' (known: mx, lmtp, maildir, spam, smtp, discard, error, /mda, |pipe)";
      return std::nullopt;
    }
  }
  return parse_relay(text, reason);
}

}  // namespace

std::string_view kind_name(HopKind kind) {
  switch (kind) {
    case HopKind::relay:
      return "relay";
    case HopKind::mx:
      return "mx";
    case HopKind::lmtp:
      return "lmtp";
    case HopKind::mda:
      return "mda";
    case HopKind::pipe:
      return "pipe";
    case HopKind::maildir:
      return "maildir";
    case HopKind::spam:
      return "spam";
    case HopKind::discard:
      return "discard";
    case HopKind::error:
      return "error";
  }
  return "?";
}

bool NextHop::is_local() const {
  const NextHop& h = final_hop();
  return h.kind == HopKind::mda || h.kind == HopKind::pipe || h.kind == HopKind::maildir;
}

std::optional<NextHop> parse_next_hop(std::string_view text, std::string& reason) {
  return parse_inner(text, reason, 0);
}

NextHop relay_hop(const std::vector<HostPort>& hosts) {
  NextHop hop;
  hop.kind = HopKind::relay;
  hop.hosts = hosts;
  std::vector<std::string> parts;
  for (const auto& hp : hosts) parts.push_back(hp.str());
  hop.text = join(parts, ',');
  return hop;
}

NextHop mx_hop() {
  NextHop hop;
  hop.kind = HopKind::mx;
  hop.text = "mx";
  return hop;
}

PlaceholderValues placeholder_values(const Address& recipient, const Address& sender,
                                     std::string unix_user, std::string queue_id) {
  PlaceholderValues v;
  v.unix_user = std::move(unix_user);
  v.recipient = recipient.str();
  v.sender = sender.is_null() ? "MAILER-DAEMON" : sender.str();
  v.local = recipient.local_unquoted();
  v.domain = recipient.domain_lower();
  v.queue_id = std::move(queue_id);
  return v;
}

std::string expand_placeholders(std::string_view text, const PlaceholderValues& values) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const std::string* value = nullptr;
    switch (text[i + 1]) {
      case '%':
        out += '%';
        ++i;
        continue;
      case 'u':
        value = &values.unix_user;
        break;
      case 'r':
        value = &values.recipient;
        break;
      case 's':
        value = &values.sender;
        break;
      case 'l':
        value = &values.local;
        break;
      case 'd':
        value = &values.domain;
        break;
      case 'i':
        value = &values.queue_id;
        break;
      default:
        out += '%';
        continue;
    }
    out += *value;
    ++i;
  }
  return out;
}

}  // namespace mp::rewrite
