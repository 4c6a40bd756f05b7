// SMTP command line parser (see command.hpp).
//
// Grammar accepted (RFC 5321 4.1.1, RFC 1869, RFC 3030, RFC 6152, RFC 6531), a
// little more liberal than the RFC where common clients are:
//   verb [SP+ argument]         verb case-insensitive, trailing spaces ignored
//   MAIL FROM:[SP]<path> [SP+ KEY[=VALUE]]*   (one optional space after the colon, as Postfix)
//   RCPT TO:[SP]<path> [SP+ KEY[=VALUE]]*
//   BDAT digits [SP+ LAST]
// Any control character (NUL, TAB, CR, LF, DEL, ...) makes the line a 500 5.5.2.
// A non-ASCII address without SMTPUTF8 is refused with 553 5.6.7 (RFC 6531 3.6).
// RCPT parameters: none is supported (DSN is not offered), so ORCPT/NOTIFY get
// 555 5.5.4 like any other unknown parameter, rather than being silently ignored.
#include "smtpd/command.hpp"

#include <charconv>

namespace mp::smtpd {

namespace {

ParseResult fail(int code, const char* status, std::string text) {
  ParseResult r;
  r.error = Reply{code, status, std::move(text)};
  return r;
}

char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_upper(a[i]) != ascii_upper(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// 1*20DIGIT that fits in 64 bits.
std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s)
    if (!is_digit(c)) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits on runs of spaces.
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

struct VerbInfo {
  std::string_view name;
  Verb verb;
  enum { none, required, optional, special } arg;
  std::string_view syntax;  // for "501 5.5.4 Syntax: ..."
};

constexpr VerbInfo kVerbs[] = {
    {"HELO", Verb::helo, VerbInfo::required, "HELO hostname"},
    {"EHLO", Verb::ehlo, VerbInfo::required, "EHLO hostname"},
    {"LHLO", Verb::lhlo, VerbInfo::required, "LHLO hostname"},
    {"MAIL", Verb::mail, VerbInfo::special, "MAIL FROM:<address>"},
    {"RCPT", Verb::rcpt, VerbInfo::special, "RCPT TO:<address>"},
    {"DATA", Verb::data, VerbInfo::none, "DATA"},
    {"BDAT", Verb::bdat, VerbInfo::special, "BDAT size [LAST]"},
    {"RSET", Verb::rset, VerbInfo::none, "RSET"},
    {"NOOP", Verb::noop, VerbInfo::optional, "NOOP"},
    {"QUIT", Verb::quit, VerbInfo::none, "QUIT"},
    {"VRFY", Verb::vrfy, VerbInfo::required, "VRFY address"},
    {"EXPN", Verb::expn, VerbInfo::required, "EXPN mailing-list"},
    {"HELP", Verb::help, VerbInfo::optional, "HELP"},
    {"STARTTLS", Verb::starttls, VerbInfo::none, "STARTTLS"},
    {"AUTH", Verb::auth, VerbInfo::optional, "AUTH mechanism"},
};

ParseResult syntax_error(const VerbInfo& v) {
  return fail(501, "5.5.4", "Syntax: " + std::string(v.syntax));
}

// "KEY[=VALUE]" words into cmd.params; the refusal on bad syntax or a duplicate keyword.
std::optional<ParseResult> parse_params(std::string_view text, Command& cmd) {
  for (std::string_view w : words(text)) {
    const std::size_t eq = w.find('=');
    const std::string_view key = w.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : w.substr(eq + 1);
    bool ok = !key.empty() && is_alnum(key[0]);
    for (char c : key) ok = ok && (is_alnum(c) || c == '-');
    if (eq != std::string_view::npos) {
      // esmtp-value: 1*(%d33-60 / %d62-126), UTF-8 allowed (RFC 6531).
      ok = ok && !value.empty() && value.find('=') == std::string_view::npos;
    }
    if (!ok) return fail(501, "5.5.4", "Bad parameter syntax: " + std::string(w));
    std::string k = upper(key);
    if (cmd.param(k)) return fail(501, "5.5.4", "Duplicate parameter: " + k);
    cmd.params.emplace_back(std::move(k), std::string(value));
  }
  return std::nullopt;
}

// Checks MAIL's parameters against what mailproc supports.
std::optional<ParseResult> check_mail_params(const Command& cmd) {
  for (const auto& [key, value] : cmd.params) {
    if (key == "SIZE") {
      if (!parse_number(value)) return fail(501, "5.5.4", "Bad SIZE value");
    } else if (key == "BODY") {
      if (!iequals(value, "7BIT") && !iequals(value, "8BITMIME"))
        return fail(501, "5.5.4", "Unsupported BODY type");
    } else if (key == "SMTPUTF8") {
      if (!value.empty()) return fail(501, "5.5.4", "SMTPUTF8 takes no value");
    } else {
      return fail(555, "5.5.4", "Unsupported option: " + key);
    }
  }
  return std::nullopt;
}

// MAIL FROM:<path> params / RCPT TO:<path> params. `rest` is the text after the verb.
ParseResult parse_mail_rcpt(const VerbInfo& v, std::string_view rest, const ParseOptions& opts,
                            Command cmd) {
  const bool mail = v.verb == Verb::mail;
  const std::string_view prefix = mail ? "FROM:" : "TO:";
  if (!istarts_with(rest, prefix)) return syntax_error(v);
  rest.remove_prefix(prefix.size());
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  if (rest.empty()) return syntax_error(v);

  const int addr_code = 501;
  const char* addr_status = mail ? "5.1.7" : "5.1.3";
  const std::string addr_what =
      mail ? "Bad sender address syntax: " : "Bad recipient address syntax: ";

  // Parse with UTF-8 allowed to find where the path ends; whether UTF-8 was
  // actually allowed is decided below (for MAIL it depends on the parameters).
  PathOptions popts;
  popts.allow_null = mail;
  popts.allow_postmaster = !mail;
  popts.allow_utf8 = true;
  std::string error;
  std::size_t used = 0;
  std::optional<Address> path = parse_path(rest, popts, error, &used);
  if (!path) return fail(addr_code, addr_status, addr_what + error);
  const std::string_view after = rest.substr(used);
  if (!after.empty() && after[0] != ' ')
    return fail(addr_code, addr_status, addr_what + "unexpected text after address");

  if (auto err = parse_params(after, cmd)) return std::move(*err);
  if (mail) {
    if (auto err = check_mail_params(cmd)) return std::move(*err);
  } else if (!cmd.params.empty()) {
    return fail(555, "5.5.4", "Unsupported option: " + cmd.params.front().first);
  }

  const bool utf8 = mail ? cmd.param("SMTPUTF8") != nullptr : opts.smtputf8;
  if (!utf8) {
    popts.allow_utf8 = false;
    if (!parse_path(rest, popts, error)) {
      return fail(553, "5.6.7",
                  std::string("Non-ASCII addresses not permitted for that ") +
                      (mail ? "sender" : "recipient") + " (SMTPUTF8 not given)");
    }
  }
  cmd.path = std::move(*path);
  ParseResult r;
  r.command = std::move(cmd);
  return r;
}

ParseResult parse_bdat(const VerbInfo& v, std::string_view rest, Command cmd) {
  const std::vector<std::string_view> w = words(rest);
  if (w.empty() || w.size() > 2) return syntax_error(v);
  const std::optional<std::uint64_t> size = parse_number(w[0]);
  if (!size) return syntax_error(v);
  if (w.size() == 2 && !iequals(w[1], "LAST")) return syntax_error(v);
  cmd.chunk_size = *size;
  cmd.last = w.size() == 2;
  ParseResult r;
  r.command = std::move(cmd);
  return r;
}

// The arguments of a known verb; `rest` is the text after the verb.
ParseResult parse_arguments(const VerbInfo& v, std::string_view rest, const ParseOptions& opts) {
  Command cmd;
  cmd.verb = v.verb;
  cmd.arg = std::string(rest);
  switch (v.arg) {
    case VerbInfo::none:
      if (!rest.empty()) return syntax_error(v);
      break;
    case VerbInfo::required:
      if (rest.empty()) return syntax_error(v);
      break;
    case VerbInfo::optional:
      break;
    case VerbInfo::special:
      if (v.verb == Verb::bdat) return parse_bdat(v, rest, std::move(cmd));
      return parse_mail_rcpt(v, rest, opts, std::move(cmd));
  }
  ParseResult r;
  r.command = std::move(cmd);
  return r;
}

}  // namespace

const std::string* Command::param(std::string_view keyword) const {
  for (const auto& [key, value] : params)
    if (iequals(key, keyword)) return &value;
  return nullptr;
}

ParseResult parse_command(std::string_view line, const ParseOptions& opts) {
  for (char c : line) {
    if (is_ctl(static_cast<unsigned char>(c)))
      return fail(500, "5.5.2", "Error: control character in command");
  }
  while (!line.empty() && line.back() == ' ') line.remove_suffix(1);

  const std::size_t sp = line.find(' ');
  const std::string_view name = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);

  const VerbInfo* v = nullptr;
  for (const VerbInfo& info : kVerbs) {
    if (iequals(name, info.name)) {
      v = &info;
      break;
    }
  }
  if (!v) return fail(500, "5.5.2", "Error: command not recognized");

  ParseResult r = parse_arguments(*v, rest, opts);
  r.verb = v->verb;
  return r;
}

std::string_view verb_name(Verb verb) {
  for (const VerbInfo& info : kVerbs) {
    if (info.verb == verb) return info.name;
  }
  return "UNKNOWN";
}

}  // namespace mp::smtpd
