// Domain rewriting inside From:/To:/Cc:/Reply-To: (RFC 5322 address lists).
#include "rewrite/header_rewrite.hpp"

#include <optional>
#include <vector>

#include "rewrite/map_syntax.hpp"

namespace mp::rewrite {
namespace {

struct Edit {
  std::size_t pos, len;
  std::string text;
};

bool domain_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c >= 0x80;
}

// The extent of the domain that starts right after the '@' at `at`.
std::optional<std::pair<std::size_t, std::size_t>> domain_after(std::string_view v,
                                                                std::size_t at) {
  std::size_t start = at + 1, end = start;
  if (end < v.size() && v[end] == '[') {
    std::size_t close = v.find(']', end);
    if (close == std::string_view::npos) return std::nullopt;
    end = close + 1;
  } else {
    while (end < v.size() && domain_char(static_cast<unsigned char>(v[end]))) ++end;
    while (end > start && v[end - 1] == '.') --end;  // "a@b." at the end of a sentence
  }
  if (end == start) return std::nullopt;
  return std::make_pair(start, end);
}

std::optional<Direction> field_direction(std::string_view name) {
  if (iequals(name, "from") || iequals(name, "reply-to")) return Direction::from;
  if (iequals(name, "to") || iequals(name, "cc")) return Direction::to;
  return std::nullopt;
}

}  // namespace

std::string rewrite_address_list(std::string_view v, const RewriteRules& rules,
                                 Direction direction) {
  std::vector<Edit> edits;
  // Per mailbox (between top-level ',' ':' ';'): the last '@' outside quotes, comments and
  // angle brackets, and the last '@' inside the last complete <...>.
  std::optional<std::size_t> bare_at, angle_at, current_angle_at;
  bool in_quote = false, in_angle = false;
  int comment = 0;

  auto finish_mailbox = [&] {
    std::optional<std::size_t> at = angle_at ? angle_at : bare_at;
    if (at) {
      if (auto d = domain_after(v, *at)) {
        std::string_view domain = v.substr(d->first, d->second - d->first);
        if (const RewriteRule* rule = rules.find(domain, direction))
          edits.push_back({d->first, d->second - d->first, rule->replacement});
      }
    }
    bare_at.reset();
    angle_at.reset();
    current_angle_at.reset();
  };

  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\' && (in_quote || comment > 0)) {
      ++i;  // quoted-pair
      continue;
    }
    if (in_quote) {
      if (c == '"') in_quote = false;
      continue;
    }
    if (comment > 0) {
      if (c == '(') ++comment;
      if (c == ')') --comment;
      continue;
    }
    switch (c) {
      case '"':
        in_quote = true;
        break;
      case '(':
        comment = 1;
        break;
      case '<':
        in_angle = true;
        current_angle_at.reset();
        break;
      case '>':
        if (in_angle) {
          in_angle = false;
          if (current_angle_at) angle_at = current_angle_at;
        }
        break;
      case '@':
        if (in_angle) {
          current_angle_at = i;  // the last one: "<@relay:user@domain>" keeps the route
        } else {
          bare_at = i;
        }
        break;
      case ',':
      case ':':
        if (!in_angle) finish_mailbox();  // inside <...> these belong to a source route
        break;
      case ';':
        if (!in_angle) finish_mailbox();
        break;
      default:
        break;
    }
  }
  finish_mailbox();

  if (edits.empty()) return std::string(v);
  std::string out;
  out.reserve(v.size() + 16 * edits.size());
  std::size_t pos = 0;
  for (const auto& e : edits) {
    out.append(v.substr(pos, e.pos - pos));
    out += e.text;
    pos = e.pos + e.len;
  }
  out.append(v.substr(pos));
  return out;
}

std::string rewrite_header_addresses(std::string_view headers, const RewriteRules& rules) {
  if (rules.empty()) return std::string(headers);
  std::string out;
  out.reserve(headers.size());
  std::size_t pos = 0;
  while (pos < headers.size()) {
    // One field: its first line and the continuation lines (starting with SP or HT).
    std::size_t eol = headers.find('\n', pos);
    std::size_t first_end = eol == std::string_view::npos ? headers.size() : eol + 1;
    std::string_view first = headers.substr(pos, first_end - pos);
    if (first == "\n" || first == "\r\n") break;  // end of the header block
    std::size_t end = first_end;
    while (end < headers.size() && (headers[end] == ' ' || headers[end] == '\t')) {
      std::size_t next = headers.find('\n', end);
      end = next == std::string_view::npos ? headers.size() : next + 1;
    }
    std::string_view field = headers.substr(pos, end - pos);
    pos = end;
    std::size_t colon = first.find(':');
    std::optional<Direction> direction;
    if (colon != std::string_view::npos) direction = field_direction(trim(first.substr(0, colon)));
    if (!direction) {
      out.append(field);
      continue;
    }
    out.append(field.substr(0, colon + 1));
    out += rewrite_address_list(field.substr(colon + 1), rules, *direction);
  }
  out.append(headers.substr(pos));
  return out;
}

}  // namespace mp::rewrite
