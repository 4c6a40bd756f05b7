// discard and error:STATUS TEXT.
#include "transports/simple.hpp"
#include "common/ascii.hpp"

#include <string>

namespace mp::transports {
namespace {

bool is_word(std::string_view s, std::string_view word) {
  return istarts_with(s, word) && (s.size() == word.size() || s[word.size()] == ':');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Text after "word:" (trimmed), or "".
std::string_view rest_of(std::string_view hop, std::size_t word_len) {
  return hop.size() > word_len ? trim(hop.substr(word_len + 1)) : std::string_view();
}

bool digits(std::string_view s, std::size_t min, std::size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// RFC 3463: class "." subject "." detail, with class 4 or 5.
bool enhanced_status(std::string_view s) {
  std::size_t a = s.find('.');
  if (a != 1 || (s[0] != '4' && s[0] != '5')) return false;
  std::size_t b = s.find('.', a + 1);
  if (b == std::string_view::npos) return false;
  return digits(s.substr(a + 1, b - a - 1), 1, 3) && digits(s.substr(b + 1), 1, 3);
}

}  // namespace

bool is_discard_hop(std::string_view next_hop) {
  return is_word(trim(next_hop), "discard");
}
bool is_error_hop(std::string_view next_hop) {
  return is_word(trim(next_hop), "error");
}

RecipientResult discard_result(std::string_view next_hop) {
  std::string_view text = rest_of(trim(next_hop), 7);
  RecipientResult r;
  r.outcome = Outcome::ok;
  r.relay = "none";
  r.reply = Reply{250, "2.0.0", text.empty() ? "discarded" : std::string(text)};
  return r;
}

RecipientResult error_result(std::string_view next_hop) {
  std::string_view rest = rest_of(trim(next_hop), 5);
  std::string status = "5.0.0";
  std::string_view first = rest.substr(0, rest.find_first_of(" \t"));
  if (enhanced_status(first)) {
    status = std::string(first);
    rest = trim(rest.substr(first.size()));
  }
  RecipientResult r;
  r.relay = "none";
  std::string text = rest.empty() ? "delivery refused by the transport table" : std::string(rest);
  if (status.front() == '4') {
    r.outcome = Outcome::tempfail;
    r.reply = Reply{450, status, text};
  } else {
    r.outcome = Outcome::permfail;
    r.reply = Reply{550, status, text};
  }
  return r;
}

}  // namespace mp::transports
