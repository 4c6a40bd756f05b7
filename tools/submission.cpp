// Local submission: the sendmail command line and the stored form of a message.
#include "tools/submission.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mp::submission {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// Options whose value is attached or the next argument; the value is ignored.
constexpr std::string_view kIgnoredWithValue = "BNRVXLhpAO";

}  // namespace

CommandLine parse_command_line(const std::vector<std::string>& args) {
  CommandLine r;
  Options& o = r.options;
  auto fail = [&r](std::string error) {
    r.error = std::move(error);
    return r;
  };
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--help") {
      o.help = true;
      continue;
    }
    if (a == "--version") {
      o.version = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the first recipient
    if (a[1] == '-') return fail("unknown option '" + a + "'");
    for (std::size_t k = 1; k < a.size(); ++k) {
      const char c = a[k];
      const std::string rest = a.substr(k + 1);
      const std::string flag = std::string("-") + c;
      // The option's value: the rest of this argument, else the next one.
      std::string value;
      auto take_value = [&]() -> bool {
        k = a.size();
        if (!rest.empty()) {
          value = rest;
          return true;
        }
        if (i + 1 >= args.size()) return false;
        value = args[++i];
        return true;
      };
      switch (c) {
        case 't':
          o.extract_recipients = true;
          break;
        case 'i':
          o.ignore_dots = true;
          break;
        case 'v':
          o.verbose = true;
          break;
        case 'm':
        case 'n':
        case 'U':
        case 'G':
          o.ignored.push_back(flag);
          break;
        case 'f':
        case 'r':
          if (!take_value()) return fail("option " + flag + " needs a sender address");
          o.sender = value;
          break;
        case 'F':
          if (!take_value()) return fail("option -F needs a full name");
          o.full_name = value;
          break;
        case 'C':
        case 'c':
          if (!take_value() || value.empty()) return fail("option " + flag + " needs a file name");
          o.config_file = value;
          break;
        case 'o':  // -oX...: sendmail's old-style options, always attached
          if (rest.empty()) return fail("option -o needs an option letter (e.g. -oi)");
          if (rest == "i") {
            o.ignore_dots = true;
          } else {
            o.ignored.push_back(a);
          }
          k = a.size();
          break;
        case 'd':  // debug flags
          o.ignored.push_back(a);
          k = a.size();
          break;
        case 'b':
          k = a.size();
          if (rest == "m") {
            o.mode = Mode::deliver;
          } else if (rest == "s") {
            o.mode = Mode::smtp;
          } else if (rest == "p") {
            o.mode = Mode::list_queue;
          } else if (rest.empty()) {
            return fail("option -b needs a mode (-bm, -bs or -bp)");
          } else if (rest == "i") {
            return fail("-bi (aliases) is not supported: mailproc has no aliases file");
          } else {
            return fail("mode -b" + rest + " is not supported (only -bm, -bs and -bp)");
          }
          break;
        case 'q':
          k = a.size();
          if (rest.empty()) {
            o.mode = Mode::run_queue;
          } else if (rest[0] == 'R' || rest[0] == 'I') {
            if (rest.size() == 1)
              return fail("option -q" + rest + " needs a " +
                          (rest[0] == 'R' ? "site" : "queue ID"));
            o.mode = Mode::run_queue;
            (rest[0] == 'R' ? o.queue_site : o.queue_id) = rest.substr(1);
          } else if (std::isdigit(static_cast<unsigned char>(rest[0]))) {
            o.ignored.push_back(a);  // -q30m: the daemon's queue_run_interval rules
          } else {
            return fail("option -q" + rest + " is not supported (-q, -qR<site>, -qI<id>)");
          }
          break;
        case 'I':
          return fail("-I (aliases) is not supported: mailproc has no aliases file");
        default:
          if (kIgnoredWithValue.find(c) != std::string_view::npos) {
            if (!take_value()) return fail("option " + flag + " needs a value");
            o.ignored.push_back(flag + " " + value);
            break;
          }
          return fail("unknown option " + flag);
      }
    }
  }
  for (; i < args.size(); ++i) o.recipients.push_back(args[i]);
  return r;
}

std::vector<std::string> args_for_program_name(std::string_view argv0,
                                               std::vector<std::string> args) {
  std::string_view name = argv0.substr(argv0.rfind('/') + 1);  // npos + 1 == 0
  if (name == "mailq") args.insert(args.begin(), "-bp");
  if (name == "newaliases") args.insert(args.begin(), "-bi");
  return args;
}

std::string usage_text() {
  return "usage: mpsendmail [-t] [-i] [-f SENDER] [-F FULL-NAME] [-C FILE] [--] [RECIPIENT...]\n"
         "       mpsendmail -bs | -bp | -q | -qR<site> | -qI<id> [-C FILE]\n"
         "\n"
         "Queues the message read from standard input for delivery by mailprocd.\n"
         "  -bs           speak SMTP on standard input and output; each message is queued\n"
         "  -bp           list the queue (mpqueue -p; also when run as mailq)\n"
         "  -q, -qR<site>, -qI<id>  try deferred mail now: all, for a domain, or one\n"
         "                message (mpqueue flush)\n"
         "  -t            also send to the To:, Cc: and Bcc: addresses of the message\n"
         "  -i, -oi       a line holding only \".\" does not end the message\n"
         "  -f SENDER     envelope sender (default: your user name @ myhostname; \"<>\": none)\n"
         "  -F NAME       full name for the From: header added when the message has none\n"
         "  -C FILE, -c FILE  configuration (default /etc/mailproc/mailprocd.conf)\n"
         "  -v            print the queue ID on standard error\n"
         "  --help, --version\n"
         "Accepted and ignored: -bm -m -n -U -G -oX -dX -B -N -R -V -X -L -h -p -A -O.\n"
         "Exit status: 0 queued (durably), 64 usage error, 65 bad message, 74 read error,\n"
         "75 cannot queue now (try again later). See mpsendmail(1).\n";
}

// ---------------------------------------------------------------- input

bool InputCollector::feed(std::string_view chunk) {
  if (done_) return true;
  std::size_t pos = text_.size();
  text_.append(chunk);
  if (!ignore_dots_) {
    for (;;) {
      std::size_t nl = text_.find('\n', pos);
      if (nl == std::string::npos) break;
      std::string_view line(text_.data() + line_start_, nl - line_start_);
      if (line == "." || line == ".\r") {
        text_.resize(line_start_);
        done_ = true;
        return true;
      }
      line_start_ = pos = nl + 1;
    }
  }
  if (limit_ != 0 && text_.size() > limit_) {
    too_large_ = done_ = true;
    return true;
  }
  return false;
}

void InputCollector::finish() {
  if (done_ || ignore_dots_) return;
  std::string_view last(text_.data() + line_start_, text_.size() - line_start_);
  if (last == "." || last == ".\r") text_.resize(line_start_);
  done_ = true;
}

// ---------------------------------------------------------------- addresses

std::vector<std::string> split_address_list(std::string_view v) {
  std::vector<std::string> out;
  std::string text;   // the mailbox outside angle brackets (blanks and comments dropped)
  std::string angle;  // inside <...>
  bool has_angle = false;
  auto end_mailbox = [&] {
    std::string spec = has_angle ? angle : text;
    if (!spec.empty()) out.push_back(std::move(spec));
    text.clear();
    angle.clear();
    has_angle = false;
  };
  std::size_t i = 0;
  // A quoted string copied with its quotes and escapes into `to`.
  auto quoted = [&](std::string& to) {
    to += v[i++];  // the opening quote
    while (i < v.size() && v[i] != '"') {
      if (v[i] == '\\' && i + 1 < v.size()) to += v[i++];
      to += v[i++];
    }
    if (i < v.size()) to += v[i++];  // the closing quote
  };
  auto comment = [&] {
    int depth = 0;
    while (i < v.size()) {
      char c = v[i++];
      if (c == '\\' && i < v.size()) {
        ++i;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')' && --depth == 0) {
        return;
      }
    }
  };
  while (i < v.size()) {
    char c = v[i];
    if (c == '"') {
      quoted(text);
    } else if (c == '(') {
      comment();
    } else if (c == '<') {
      ++i;
      has_angle = true;
      angle.clear();
      while (i < v.size() && v[i] != '>') {
        if (v[i] == '"') {
          quoted(angle);
        } else if (v[i] == '(') {
          comment();
        } else {
          if (!is_blank(v[i]) && v[i] != '\r' && v[i] != '\n') angle += v[i];
          ++i;
        }
      }
      if (i < v.size()) ++i;  // '>'
    } else if (c == ',' || c == ';') {
      end_mailbox();
      ++i;
    } else if (c == ':' && !has_angle) {
      text.clear();  // a group's display name ("friends: a@x, b@y;")
      ++i;
    } else {
      if (!is_blank(c) && c != '\r' && c != '\n') text += c;
      ++i;
    }
  }
  end_mailbox();
  return out;
}

std::optional<Address> parse_recipient(std::string_view spec, std::string_view domain,
                                       std::string& error) {
  // Is there an '@' outside a quoted local part?
  bool in_quotes = false, has_at = false;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == '\\' && in_quotes) {
      ++i;
    } else if (spec[i] == '"') {
      in_quotes = !in_quotes;
    } else if (spec[i] == '@' && !in_quotes) {
      has_at = true;
    }
  }
  std::string full(spec);
  if (!has_at && !spec.empty()) full += "@" + std::string(domain);
  PathOptions opts;
  opts.allow_utf8 = true;
  return parse_address(full, opts, error);
}

namespace {

std::string base64(std::string_view in) {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += digits[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += i + 1 < in.size() ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool is_atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr);
}

}  // namespace

std::string from_header_value(std::string_view full_name, std::string_view address) {
  // Control characters (CR/LF above all: header injection) become blanks.
  std::string name;
  for (char c : full_name) {
    unsigned char u = static_cast<unsigned char>(c);
    name += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  while (!name.empty() && name.front() == ' ') name.erase(0, 1);
  if (name.empty()) return std::string(address);
  bool ascii = true, atoms = true;
  for (unsigned char c : name) {
    if (c >= 0x80) ascii = false;
    if (!is_atext(c) && c != ' ') atoms = false;
  }
  std::string display;
  if (!ascii) {
    display = "=?UTF-8?B?" + base64(name) + "?=";  // RFC 2047 encoded-word
  } else if (atoms) {
    display = name;
  } else {
    display = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') display += '\\';
      display += c;
    }
    display += '"';
  }
  return display + " <" + std::string(address) + ">";
}

std::string rfc5322_date(std::int64_t epoch_seconds, int utc_offset_seconds) {
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(epoch_seconds + utc_offset_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  int off = utc_offset_seconds / 60;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec, sign, off / 60, off % 60);
  return buf;
}

// ---------------------------------------------------------------- the message

namespace {

// Every line ends with CRLF: "\r\n" stays, a lone "\n" or "\r" becomes "\r\n",
// an unterminated last line is terminated.
std::string to_crlf(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32 + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

// "Name:" with a name of printable ASCII other than ':' (RFC 5322 field-name).
std::size_t field_name_length(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] != ':') {
    unsigned char c = static_cast<unsigned char>(line[n]);
    if (c < 33 || c > 126) return 0;
    ++n;
  }
  return (n > 0 && n < line.size()) ? n : 0;
}

struct Field {
  std::string_view name;  // as written
  std::string_view text;  // the whole field, continuation lines and final CRLF included
};

std::string unfolded_value(const Field& f) {
  std::string_view v = f.text.substr(f.name.size() + 1);
  std::string out;
  for (char c : v)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

}  // namespace

Prepared prepare_message(std::string_view raw, const PrepareInput& in) {
  if (raw.starts_with("From ")) {  // an mbox envelope line, not a header field
    std::size_t nl = raw.find('\n');
    raw = nl == std::string_view::npos ? std::string_view() : raw.substr(nl + 1);
  }
  const std::string text = to_crlf(raw);
  std::string_view t(text);

  std::vector<Field> fields;
  std::size_t pos = 0, body = t.size();
  while (pos < t.size()) {
    std::size_t eol = t.find("\r\n", pos);  // to_crlf: always found
    std::string_view line = t.substr(pos, eol - pos);
    if (line.empty()) {
      body = eol + 2;  // the separating empty line is re-added below
      break;
    }
    if (is_blank(line[0]) && !fields.empty()) {
      Field& f = fields.back();
      f.text = std::string_view(f.text.data(), f.text.size() + line.size() + 2);
    } else if (std::size_t n = field_name_length(line); n != 0 && !is_blank(line[0])) {
      fields.push_back(Field{line.substr(0, n), t.substr(pos, line.size() + 2)});
    } else {
      body = pos;  // not a header line: the body starts here
      break;
    }
    pos = eol + 2;
  }

  Prepared out;
  bool has_from = false, has_date = false, has_id = false, resent = false;
  for (const Field& f : fields) {
    if (equals_ci(f.name, "from")) has_from = true;
    if (equals_ci(f.name, "date")) has_date = true;
    if (equals_ci(f.name, "message-id")) has_id = true;
    if (equals_ci(f.name, "resent-to") || equals_ci(f.name, "resent-cc") ||
        equals_ci(f.name, "resent-bcc"))
      resent = true;
  }
  out.content.reserve(text.size() + in.received.size() + 256);
  out.content += in.received;
  for (const Field& f : fields) {
    std::string_view n = f.name;
    if (in.extract_recipients) {
      bool wanted = resent ? (equals_ci(n, "resent-to") || equals_ci(n, "resent-cc") ||
                              equals_ci(n, "resent-bcc"))
                           : (equals_ci(n, "to") || equals_ci(n, "cc") || equals_ci(n, "bcc"));
      if (wanted) {
        for (std::string& a : split_address_list(unfolded_value(f)))
          out.header_recipients.push_back(std::move(a));
      }
    }
    if (equals_ci(n, "bcc") || equals_ci(n, "resent-bcc")) continue;  // never stored
    out.content += f.text;
  }
  if (!has_from) out.content += "From: " + in.from + "\r\n";
  if (!has_date) out.content += "Date: " + in.date + "\r\n";
  if (!has_id) out.content += "Message-ID: " + in.message_id + "\r\n";
  out.content += "\r\n";
  out.content.append(t.substr(body));
  for (unsigned char c : out.content) {
    if (c >= 0x80) {
      out.eightbit = true;
      break;
    }
  }
  return out;
}

}  // namespace mp::submission
