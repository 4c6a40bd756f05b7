#include "smtpd/session_record.hpp"

#include "common/ascii.hpp"

namespace mp::smtpd {
namespace {

// Postfix's order on its disconnect line; HELO/EHLO/LHLO first, unknown last.
constexpr std::array kOrder{Verb::helo, Verb::ehlo, Verb::lhlo, Verb::starttls,
                            Verb::auth, Verb::mail, Verb::rcpt, Verb::bdat,
                            Verb::data, Verb::rset, Verb::noop, Verb::vrfy,
                            Verb::expn, Verb::help, Verb::quit, Verb::unknown};

std::string_view name_of(Verb v) {
  switch (v) {
    case Verb::helo:
      return "helo";
    case Verb::ehlo:
      return "ehlo";
    case Verb::lhlo:
      return "lhlo";
    case Verb::mail:
      return "mail";
    case Verb::rcpt:
      return "rcpt";
    case Verb::data:
      return "data";
    case Verb::bdat:
      return "bdat";
    case Verb::rset:
      return "rset";
    case Verb::noop:
      return "noop";
    case Verb::quit:
      return "quit";
    case Verb::vrfy:
      return "vrfy";
    case Verb::expn:
      return "expn";
    case Verb::help:
      return "help";
    case Verb::starttls:
      return "starttls";
    case Verb::auth:
      return "auth";
    case Verb::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string tally(unsigned ok, unsigned total) {
  return ok == total ? std::to_string(total) : std::to_string(ok) + "/" + std::to_string(total);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

void CommandCounts::count(Verb verb, bool ok) {
  Tally& t = tallies_[static_cast<std::size_t>(verb)];
  ++t.total;
  if (ok) ++t.ok;
}

std::string CommandCounts::text() const {
  std::string out;
  unsigned ok = 0, total = 0;
  for (Verb v : kOrder) {
    const Tally& t = tallies_[static_cast<std::size_t>(v)];
    if (t.total == 0) continue;
    out += std::string(name_of(v)) + "=" + tally(t.ok, t.total) + " ";
    ok += t.ok;
    total += t.total;
  }
  return out + "commands=" + tally(ok, total);
}

void HeaderScan::reset() {
  headers_.clear();
  done_ = false;
}

void HeaderScan::feed(std::string_view content) {
  if (done_) return;
  headers_.append(content.substr(0, kLimit - headers_.size()));
  if (headers_.starts_with("\r\n")) {  // an empty first line: no header at all
    headers_.clear();
    done_ = true;
    return;
  }
  std::size_t end = headers_.find("\r\n\r\n");
  if (end != std::string::npos) {
    headers_.resize(end + 2);
    done_ = true;
  } else if (headers_.size() >= kLimit) {
    done_ = true;
  }
}

std::string HeaderScan::message_id() const {
  std::string_view h = headers_;
  std::size_t pos = 0;
  while (pos < h.size()) {
    std::size_t eol = h.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = h.size();
    std::string_view line = h.substr(pos, eol - pos);
    constexpr std::string_view kName = "message-id:";
    if (istarts_with(line, kName)) {
      std::string value(line.substr(kName.size()));
      // Folded continuation lines belong to the field.
      std::size_t next = eol + 2;
      while (next < h.size() && (h[next] == ' ' || h[next] == '\t')) {
        std::size_t e = h.find("\r\n", next);
        if (e == std::string_view::npos) e = h.size();
        value += h.substr(next, e - next);
        next = e + 2;
      }
      std::size_t b = 0, e = value.size();
      while (b < e && is_space(value[b])) ++b;
      while (e > b && is_space(value[e - 1])) --e;
      return value.substr(b, e - b);
    }
    pos = eol + 2;
  }
  return "";
}

}  // namespace mp::smtpd
