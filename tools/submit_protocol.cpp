// The local submission protocol (see the header for the grammar).
#include "tools/submit_protocol.hpp"

#include <charconv>

namespace mp::submit {

std::string encode_request_header(const Envelope& env, std::size_t content_size) {
  std::string out(kMagic);
  out += "\nsender " + env.sender.bracketed() + "\n";
  for (const Address& a : env.recipients) out += "rcpt " + a.bracketed() + "\n";
  out += "size " + std::to_string(content_size) + "\n\n";
  return out;
}

std::size_t header_end(std::string_view buffer) {
  std::size_t p = buffer.find("\n\n");
  return p == std::string_view::npos ? 0 : p + 2;
}

std::optional<RequestHeader> parse_request_header(std::string_view text, std::string& error) {
  RequestHeader h;
  bool have_sender = false, have_size = false;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      error = "unterminated request header";
      return std::nullopt;
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (first) {
      if (line != kMagic) {
        error = "not a submission request";
        return std::nullopt;
      }
      first = false;
      continue;
    }
    if (line.empty()) break;
    std::size_t sp = line.find(' ');
    std::string_view key = line.substr(0, sp);
    std::string_view value =
        sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    if (key == "sender" || key == "rcpt") {
      PathOptions opts;
      opts.allow_utf8 = true;
      opts.allow_null = key == "sender";
      std::string why;
      std::size_t used = 0;
      auto a = parse_path(value, opts, why, &used);
      if (!a || used != value.size()) {
        error = "bad " + std::string(key) + " address: " + (why.empty() ? "trailing text" : why);
        return std::nullopt;
      }
      if (key == "sender") {
        if (have_sender) {
          error = "two senders";
          return std::nullopt;
        }
        h.sender = *a;
        have_sender = true;
      } else {
        h.recipients.push_back(*a);
      }
    } else if (key == "size") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), h.size);
      if (ec != std::errc() || p != value.data() + value.size() || value.empty()) {
        error = "bad size";
        return std::nullopt;
      }
      have_size = true;
    } else {
      error = "unknown request line '" + std::string(key) + "'";
      return std::nullopt;
    }
  }
  if (first || !have_sender || !have_size || h.recipients.empty()) {
    error = "incomplete request (sender, rcpt and size are required)";
    return std::nullopt;
  }
  return h;
}

bool crlf_clean(std::string_view c) {
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i] == '\r' && (i + 1 >= c.size() || c[i + 1] != '\n')) return false;
    if (c[i] == '\n' && (i == 0 || c[i - 1] != '\r')) return false;
  }
  return c.empty() || c.ends_with("\r\n");
}

std::string encode_response(const Response& r) {
  std::string text;
  for (char ch : r.text) text += (ch == '\n' || ch == '\r') ? ' ' : ch;
  switch (r.outcome) {
    case Outcome::ok:
      return "ok " + text + "\n";
    case Outcome::fail:
      return "fail " + text + "\n";
    case Outcome::tempfail:
      break;
  }
  return "tempfail " + text + "\n";
}

std::optional<Response> parse_response(std::string_view line) {
  std::size_t sp = line.find(' ');
  std::string_view word = line.substr(0, sp);
  Response r;
  r.text = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
  if (word == "ok" && !r.text.empty()) {
    r.outcome = Outcome::ok;
  } else if (word == "tempfail") {
    r.outcome = Outcome::tempfail;
  } else if (word == "fail") {
    r.outcome = Outcome::fail;
  } else {
    return std::nullopt;
  }
  return r;
}

}  // namespace mp::submit
