// %-placeholder expansion with the safety rules of local deliveries.
#include "transports/placeholders.hpp"

namespace mp::transports {
namespace {

enum class Where { argument, path };

bool has_control(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// A value as it may appear in a reply text: controls shown as '?', kept short.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

std::string_view what(char p) {
  switch (p) {
    case 'u':
      return "unix user";
    case 'r':
      return "recipient";
    case 's':
      return "sender";
    case 'l':
      return "local part";
    case 'd':
      return "domain";
    case 'i':
      return "queue ID";
  }
  return "value";
}

const std::string* value_of(char p, const PlaceholderValues& v) {
  switch (p) {
    case 'u':
      return &v.unix_user;
    case 'r':
      return &v.recipient;
    case 's':
      return &v.sender;
    case 'l':
      return &v.local;
    case 'd':
      return &v.domain;
    case 'i':
      return &v.queue_id;
  }
  return nullptr;
}

bool refuse(ExpandError& error, char p, const std::string& value, std::string_view why) {
  error.template_error = false;
  error.placeholder = p;
  error.detail = std::string(what(p)) + " '" + shown(value) + "' " + std::string(why);
  return false;
}

bool check_value(char p, const std::string& value, bool whole_argument, ExpandError& error) {
  if (has_control(value)) return refuse(error, p, value, "contains a control character");
  if (whole_argument) {
    if (!value.empty() && value.front() == '-')
      return refuse(error, p, value, "starts with '-' (would be read as an option)");
    return true;
  }
  if (value.empty()) return refuse(error, p, value, "is empty (cannot be a path segment)");
  if (value.find('/') != std::string::npos)
    return refuse(error, p, value, "contains '/' (cannot be a path segment)");
  if (value.front() == '.')
    return refuse(error, p, value, "starts with '.' (cannot be a path segment)");
  return true;
}

std::optional<std::string> expand(std::string_view tmpl, const PlaceholderValues& values,
                                  Where where, ExpandError& error) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '%' || i + 1 == tmpl.size()) {
      out += tmpl[i];
      continue;
    }
    char p = tmpl[i + 1];
    if (p == '%') {
      out += '%';
      ++i;
      continue;
    }
    const std::string* value = value_of(p, values);
    if (value == nullptr) {  // unknown sequence: kept
      out += '%';
      continue;
    }
    bool whole_argument = where == Where::argument && tmpl.size() == 2;
    if (!whole_argument) {
      bool starts = i == 0 || tmpl[i - 1] == '/';
      bool ends = i + 2 == tmpl.size() || tmpl[i + 2] == '/';
      if (!starts || !ends || p == 's') {
        error.template_error = true;
        error.placeholder = p;
        error.detail = "placeholder %" + std::string(1, p) + " in '" + shown(tmpl) +
                       (p == 's' ? "' may only be a whole argument"
                                 : "' must be a whole argument or a whole path segment");
        return std::nullopt;
      }
    }
    if (!check_value(p, *value, whole_argument, error)) return std::nullopt;
    out += *value;
    ++i;
  }
  return out;
}

}  // namespace

PlaceholderValues placeholder_values(const DeliveryRequest& request, const RecipientRef& rcpt,
                                     std::string unix_user) {
  PlaceholderValues v;
  v.unix_user = std::move(unix_user);
  v.recipient = rcpt.address.str();
  v.sender = request.sender.is_null() ? "MAILER-DAEMON" : request.sender.str();
  v.local = rcpt.address.local_unquoted();
  v.domain = rcpt.address.domain_lower();
  v.queue_id = request.queue_id;
  return v;
}

std::optional<std::string> expand_argument(std::string_view tmpl, const PlaceholderValues& values,
                                           ExpandError& error) {
  return expand(tmpl, values, Where::argument, error);
}

std::optional<std::string> expand_path(std::string_view tmpl, const PlaceholderValues& values,
                                       ExpandError& error) {
  if (tmpl.empty() || tmpl.front() != '/') {
    error.template_error = true;
    error.detail = "path '" + shown(tmpl) + "' is not absolute";
    return std::nullopt;
  }
  return expand(tmpl, values, Where::path, error);
}

std::optional<std::vector<std::string>> expand_argv(const std::vector<std::string>& tmpl,
                                                    const PlaceholderValues& values,
                                                    ExpandError& error) {
  if (tmpl.empty() || tmpl[0].empty() || tmpl[0].front() != '/') {
    error.template_error = true;
    error.detail = "the program must be an absolute path";
    return std::nullopt;
  }
  for (std::size_t i = 0; i + 1 < tmpl[0].size(); ++i) {
    if (tmpl[0][i] == '%' && value_of(tmpl[0][i + 1], values) != nullptr) {
      error.template_error = true;
      error.detail = "placeholder in the program path '" + shown(tmpl[0]) + "'";
      return std::nullopt;
    }
    if (tmpl[0][i] == '%' && tmpl[0][i + 1] == '%') ++i;
  }
  std::vector<std::string> out;
  out.reserve(tmpl.size());
  auto program = expand(tmpl[0], values, Where::path, error);  // only "%%" can change
  if (!program) return std::nullopt;
  out.push_back(std::move(*program));
  for (std::size_t i = 1; i < tmpl.size(); ++i) {
    auto arg = expand(tmpl[i], values, Where::argument, error);
    if (!arg) return std::nullopt;
    out.push_back(std::move(*arg));
  }
  return out;
}

RecipientResult expansion_refused(const ExpandError& error, std::string relay) {
  RecipientResult r;
  r.relay = std::move(relay);
  if (error.template_error) {
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.5", "bad local transport: " + error.detail};
  } else if (error.placeholder == 's') {
    r.outcome = Outcome::permfail;
    r.reply = Reply{553, "5.1.7", "Bad sender mailbox address syntax: " + error.detail};
  } else {
    r.outcome = Outcome::permfail;
    r.reply = Reply{550, "5.1.3", "Bad destination mailbox address syntax: " + error.detail};
  }
  return r;
}

}  // namespace mp::transports
