// RFC 5321 path parsing (section 4.1.2 grammar, 4.5.3.1 size limits).
#include "common/address.hpp"
#include "common/ascii.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace mp {
namespace {

constexpr std::size_t kMaxLocal = 64;
constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxPath = 256;  // including the angle brackets
constexpr std::size_t kMaxLabel = 63;

bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// atext of RFC 5322 (as used by RFC 5321 Atom).
bool is_atext(unsigned char c) {
  return is_alpha(c) || is_digit(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr);
}

// Length of a well-formed UTF-8 sequence (>= 2 octets) starting at `pos`, or 0.
// Rejects overlong forms, surrogates and code points above U+10FFFF.
std::size_t utf8_sequence(std::string_view s, std::size_t pos) {
  auto at = [&](std::size_t i) -> unsigned { return static_cast<unsigned char>(s[i]); };
  unsigned c = at(pos);
  std::size_t len;
  unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second octet
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  if (at(pos + 1) < lo || at(pos + 1) > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (at(pos + i) < 0x80 || at(pos + i) > 0xbf) return 0;
  }
  return len;
}

class Parser {
 public:
  Parser(std::string_view in, const PathOptions& opts, std::string& error)
      : in_(in), opts_(opts), error_(error) {}

  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= in_.size(); }
  char peek() const { return at_end() ? '\0' : in_[pos_]; }
  bool eat(char c) {
    if (!at_end() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // Sets the error for an unexpected character at the current position (or the end).
  bool fail_here() {
    if (at_end()) return fail("bad address syntax");
    unsigned char c = static_cast<unsigned char>(in_[pos_]);
    if (is_control(c)) return fail("control character in address");
    if (c >= 0x80 && !opts_.allow_utf8) return fail("non-ASCII address without SMTPUTF8");
    if (c >= 0x80) return fail("malformed UTF-8 in address");
    return fail("bad address syntax");
  }
  bool fail(const char* what) {
    if (error_.empty()) error_ = what;
    return false;
  }

  // Consumes one UTF-8 non-ASCII character when allowed; false (no error) otherwise.
  bool eat_utf8() {
    if (at_end() || !opts_.allow_utf8) return false;
    if (static_cast<unsigned char>(in_[pos_]) < 0x80) return false;
    std::size_t n = utf8_sequence(in_, pos_);
    if (n == 0) return false;
    pos_ += n;
    return true;
  }

  // Local-part = Dot-string / Quoted-string.
  bool local_part(std::string& out) {
    std::size_t start = pos_;
    if (peek() == '"') {
      ++pos_;
      for (;;) {
        if (at_end()) return fail("unterminated quoted string");
        unsigned char c = static_cast<unsigned char>(in_[pos_]);
        if (c == '"') {
          ++pos_;
          break;
        }
        if (c == '\\') {
          ++pos_;
          if (at_end()) return fail("unterminated quoted string");
          unsigned char e = static_cast<unsigned char>(in_[pos_]);
          if (e < 32 || e > 126) return fail_here();
          ++pos_;
          continue;
        }
        if (c >= 32 && c <= 126) {
          ++pos_;
          continue;
        }
        if (eat_utf8()) continue;
        return fail_here();
      }
    } else {
      for (;;) {  // Atom *("." Atom)
        std::size_t atom = pos_;
        for (;;) {
          if (!at_end() && is_atext(static_cast<unsigned char>(in_[pos_]))) {
            ++pos_;
          } else if (!eat_utf8()) {
            break;
          }
        }
        if (pos_ == atom) return fail_here();
        if (!eat('.')) break;
      }
    }
    if (pos_ - start > kMaxLocal) return fail("local part too long");
    out.assign(in_.substr(start, pos_ - start));
    return true;
  }

  // Domain = sub-domain *("." sub-domain) / address-literal.
  bool domain(std::string& out) {
    std::size_t start = pos_;
    if (peek() == '[') {
      if (!address_literal()) return false;
    } else {
      for (;;) {
        std::size_t label = pos_;
        bool last_hyphen = false;
        for (;;) {
          if (at_end()) break;
          unsigned char c = static_cast<unsigned char>(in_[pos_]);
          if (is_alpha(c) || is_digit(c)) {
            ++pos_;
            last_hyphen = false;
          } else if (c == '-') {
            if (pos_ == label) return fail("bad domain syntax");
            ++pos_;
            last_hyphen = true;
          } else if (eat_utf8()) {
            last_hyphen = false;
          } else {
            break;
          }
        }
        if (pos_ == label) {
          if (!at_end() && (static_cast<unsigned char>(in_[pos_]) >= 0x80 ||
                            is_control(static_cast<unsigned char>(in_[pos_]))))
            return fail_here();
          return fail("bad domain syntax");
        }
        if (last_hyphen) return fail("bad domain syntax");
        if (pos_ - label > kMaxLabel) return fail("domain label too long");
        if (!eat('.')) break;
      }
    }
    if (pos_ - start > kMaxDomain) return fail("domain too long");
    out.assign(in_.substr(start, pos_ - start));
    return true;
  }

  // "[1.2.3.4]" or "[IPv6:...]". General literals (tag:content) are refused.
  bool address_literal() {
    ++pos_;  // '['
    std::size_t start = pos_;
    while (!at_end() && in_[pos_] != ']') {
      unsigned char c = static_cast<unsigned char>(in_[pos_]);
      if (is_control(c) || c >= 0x80 || c == '[' || c == '\\' || c == ' ') return fail_here();
      ++pos_;
    }
    if (at_end()) return fail("bad address literal");
    std::string body(in_.substr(start, pos_ - start));
    ++pos_;  // ']'
    unsigned char buf[16];
    if (body.size() > 5 && strncasecmp(body.c_str(), "IPv6:", 5) == 0) {
      if (inet_pton(AF_INET6, body.c_str() + 5, buf) != 1) return fail("bad address literal");
      return true;
    }
    // inet_pton(AF_INET) accepts exactly the dotted quad form RFC 5321 allows.
    if (inet_pton(AF_INET, body.c_str(), buf) != 1) return fail("bad address literal");
    return true;
  }

  // Mailbox = Local-part "@" ( Domain / address-literal ).
  bool mailbox(Address& out) {
    if (!local_part(out.local)) return false;
    if (!eat('@')) {
      if (at_end() || peek() == '>') return fail("missing domain in address");
      return fail_here();
    }
    return domain(out.domain);
  }

  // A-d-l = At-domain *( "," At-domain ) ":" — parsed and discarded.
  bool source_route() {
    for (;;) {
      if (!eat('@')) return fail_here();
      std::string ignored;
      if (!domain(ignored)) return false;
      if (eat(':')) return true;
      if (!eat(',')) return fail_here();
    }
  }

  // "postmaster" (any case) directly followed by `end` (or the end of input when end is 0).
  bool postmaster_follows(char end) const {
    constexpr std::string_view pm = "postmaster";
    if (in_.size() - pos_ < pm.size()) return false;
    if (strncasecmp(in_.data() + pos_, pm.data(), pm.size()) != 0) return false;
    std::size_t after = pos_ + pm.size();
    return end == '\0' ? after == in_.size() : after < in_.size() && in_[after] == end;
  }
  void take_postmaster(Address& out) {
    out.local.assign(in_.substr(pos_, 10));
    pos_ += 10;
  }

 private:
  std::string_view in_;
  const PathOptions& opts_;
  std::string& error_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string Address::str() const {
  if (domain.empty()) return local;  // "" for <>, "Postmaster" alone
  return local + "@" + domain;
}

std::string Address::bracketed() const {
  return "<" + str() + ">";
}

std::string Address::local_unquoted() const {
  if (local.size() < 2 || local.front() != '"' || local.back() != '"') return local;
  std::string out;
  for (std::size_t i = 1; i + 1 < local.size(); ++i) {
    if (local[i] == '\\' && i + 2 < local.size()) ++i;
    out += local[i];
  }
  return out;
}

std::string Address::domain_lower() const {
  return ascii_lower(domain);
}

bool Address::needs_smtputf8() const {
  for (std::string_view s : {std::string_view(local), std::string_view(domain)}) {
    for (char c : s) {
      if (static_cast<unsigned char>(c) >= 0x80) return true;
    }
  }
  return false;
}

std::optional<Address> parse_path(std::string_view in, const PathOptions& opts, std::string& error,
                                  std::size_t* consumed) {
  error.clear();
  Parser p(in, opts, error);
  Address out;
  if (!p.eat('<')) {
    if (p.at_end()) {
      error = "missing address";
    } else {
      p.fail_here();
      if (error == "bad address syntax") error = "address must be enclosed in <>";
    }
    return std::nullopt;
  }
  if (p.eat('>')) {
    if (!opts.allow_null) {
      error = "null address not allowed here";
      return std::nullopt;
    }
    if (consumed) *consumed = p.pos();
    return out;
  }
  if (opts.allow_postmaster && p.postmaster_follows('>')) {
    p.take_postmaster(out);
  } else {
    if (p.peek() == '@' && !p.source_route()) return std::nullopt;
    if (!p.mailbox(out)) {
      if (error == "bad address syntax" || error.empty()) {
        error = "bad address syntax";
      }
      return std::nullopt;
    }
  }
  if (!p.eat('>')) {
    if (p.at_end()) {
      error = "missing '>' after address";
    } else if (p.peek() == '.') {
      error = "bad domain syntax";  // trailing dot or empty label
    } else {
      p.fail_here();
    }
    return std::nullopt;
  }
  if (p.pos() > kMaxPath || out.local.size() + out.domain.size() + 3 > kMaxPath) {
    error = "address too long";
    return std::nullopt;
  }
  if (consumed) *consumed = p.pos();
  return out;
}

std::optional<Address> parse_address(std::string_view in, const PathOptions& opts,
                                     std::string& error) {
  error.clear();
  if (!in.empty() && in.front() == '<') {
    std::size_t used = 0;
    auto a = parse_path(in, opts, error, &used);
    if (!a) return std::nullopt;
    if (used != in.size()) {
      error = "unexpected text after address";
      return std::nullopt;
    }
    return a;
  }
  Address out;
  if (in.empty()) {
    if (opts.allow_null) return out;
    error = "missing address";
    return std::nullopt;
  }
  Parser p(in, opts, error);
  if (opts.allow_postmaster && p.postmaster_follows('\0')) {
    p.take_postmaster(out);
    return out;
  }
  if (!p.mailbox(out)) return std::nullopt;
  if (!p.at_end()) {
    if (p.peek() == '.') {
      error = "bad domain syntax";
    } else {
      p.fail_here();
    }
    return std::nullopt;
  }
  if (in.size() + 2 > kMaxPath) {
    error = "address too long";
    return std::nullopt;
  }
  return out;
}

}  // namespace mp
