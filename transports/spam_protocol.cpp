// The spamd protocol: request head, reply parser, reply -> verdict.
#include "transports/spam_protocol.hpp"
#include "common/ascii.hpp"

#include <charconv>
#include <cmath>
#include <optional>

namespace mp::transports {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Printable ASCII only, for error texts that quote the server.
std::string printable(std::string_view s, std::size_t limit = 200) {
  std::string out;
  for (char c : s) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  return out;
}

// "SPAMD/1.1" -> (1, 1); also "RSPAMD/1.3".
bool parse_version(std::string_view token, int& major, int& minor) {
  std::size_t slash = token.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view proto = token.substr(0, slash);
  if (!iequals(proto, "SPAMD") && !iequals(proto, "RSPAMD")) return false;
  std::string_view ver = token.substr(slash + 1);
  std::size_t dot = ver.find('.');
  auto ma = parse_int(ver.substr(0, dot));
  auto mi = dot == std::string_view::npos ? std::optional<int>(0) : parse_int(ver.substr(dot + 1));
  if (!ma || !mi || *ma < 0 || *mi < 0) return false;
  major = *ma;
  minor = *mi;
  return true;
}

// "True ; 1000.0 / 5.0" (any spacing, Yes/No also).
bool parse_spam_value(std::string_view v, SpamdReply& r) {
  std::size_t semi = v.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view flag = trim(v.substr(0, semi));
  std::string_view nums = v.substr(semi + 1);
  std::size_t slash = nums.find('/');
  if (slash == std::string_view::npos) return false;
  auto score = parse_double(nums.substr(0, slash));
  auto threshold = parse_double(nums.substr(slash + 1));
  if (!score || !threshold) return false;
  if (iequals(flag, "true") || iequals(flag, "yes")) {
    r.spam = true;
  } else if (iequals(flag, "false") || iequals(flag, "no")) {
    r.spam = false;
  } else {
    return false;
  }
  r.score = *score;
  r.threshold = *threshold;
  return true;
}

}  // namespace

std::string spamd_request_head(std::string_view command, std::string_view user,
                               std::size_t content_length) {
  std::string head(command);
  head += " SPAMC/1.5\r\nContent-length: ";
  head += std::to_string(content_length);
  head += "\r\n";
  if (!user.empty()) {
    head += "User: ";
    head += user;
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

bool safe_spamd_user(std::string_view user) {
  if (user.empty() || user.size() > 128) return false;
  for (char c : user) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

const std::string* SpamdReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

std::vector<std::string> SpamdReply::symbols() const {
  std::vector<std::string> out;
  std::string cur;
  for (char c : body) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

SpamdParse parse_spamd_reply(std::string_view data, bool at_eof) {
  SpamdParse out;
  auto malformed = [&out](std::string why) {
    out.status = SpamdParse::Status::malformed;
    out.error = std::move(why);
    return out;
  };
  if (data.size() > kMaxSpamdReply) return malformed("reply longer than 1 MiB");

  // One line at `pos`: its text (without CR/LF) and the position after it. At EOF an
  // unterminated last line counts as a line.
  std::size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (!at_eof) return false;
      line = data.substr(pos);
      pos = data.size();
    } else {
      line = data.substr(pos, nl - pos);
      pos = nl + 1;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  };

  if (data.empty()) {
    if (at_eof) return malformed("connection closed without a reply");
    return out;
  }
  std::string_view status;
  if (!next_line(status)) return out;
  status = trim(status);
  std::size_t sp = 0;
  while (sp < status.size() && !is_space(status[sp])) ++sp;
  std::string_view version = status.substr(0, sp);
  std::string_view rest = trim(status.substr(sp));
  std::size_t sp2 = 0;
  while (sp2 < rest.size() && !is_space(rest[sp2])) ++sp2;
  SpamdReply& r = out.reply;
  if (!parse_version(version, r.major, r.minor))
    return malformed("not a spamd reply: '" + printable(status) + "'");
  if (r.major != 1)
    return malformed("unsupported protocol version '" + printable(version) + "' (want 1.x)");
  auto code = parse_int(rest.substr(0, sp2));
  if (!code || *code < 0) return malformed("bad status line: '" + printable(status) + "'");
  r.code = *code;
  r.message = std::string(trim(rest.substr(sp2)));

  // Headers up to a blank line (or the end of the data at EOF).
  bool blank = false;
  while (pos < data.size()) {
    std::string_view line;
    if (!next_line(line)) return out;  // need more
    if (trim(line).empty()) {
      blank = true;
      break;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return malformed("malformed header line: '" + printable(line) + "'");
    std::string_view name = trim(line.substr(0, colon));
    if (name.empty()) return malformed("malformed header line: '" + printable(line) + "'");
    r.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  }
  if (!blank && !at_eof) {
    // A reply with no header and no blank line (an error, PONG) ends with its status line;
    // otherwise more headers may follow.
    if (!r.headers.empty() || r.code == 0) return out;
  }

  const std::string* length = r.header("Content-length");
  if (length) {
    auto n = parse_int(trim(*length));
    if (!n || *n < 0) return malformed("bad Content-length: '" + printable(*length) + "'");
    std::size_t want = static_cast<std::size_t>(*n);
    if (data.size() - pos < want) {
      if (at_eof)
        return malformed("reply body truncated: " + std::to_string(data.size() - pos) + " of " +
                         std::to_string(want) + " bytes");
      return out;
    }
    r.body = std::string(data.substr(pos, want));
  } else {
    if (!at_eof && r.code == 0) return out;  // the body runs to EOF
    r.body = std::string(data.substr(pos));
  }
  if (const std::string* s = r.header("Spam")) {
    r.has_spam = parse_spam_value(*s, r);
    if (!r.has_spam) return malformed("malformed Spam: header: '" + printable(*s) + "'");
  }
  out.status = SpamdParse::Status::complete;
  return out;
}

SpamCheck spamd_verdict(const SpamdReply& reply) {
  SpamCheck c;
  if (reply.code != 0) {
    c.error = "spamd said: " + std::to_string(reply.code) + " " + printable(reply.message);
    return c;
  }
  if (!reply.has_spam) {
    c.error = "spamd reply has no Spam: header";
    return c;
  }
  c.ok = true;
  c.verdict.spam = reply.spam;
  c.verdict.score = reply.score;
  c.verdict.threshold = reply.threshold;
  c.verdict.tests = reply.symbols();
  return c;
}

}  // namespace mp::transports
