// mpqueue's listings (see queue_listing.hpp). The -p layout follows Postfix's
// showq_compat with long queue IDs: "%-17s %8s %-19s %s" columns, the reason
// right-aligned to column 78 in parentheses, recipients indented 47 columns.
#include "tools/queue_listing.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <set>
#include <system_error>

#include "queue/queue_id.hpp"

namespace mp::listing {
namespace {

using queue::RcptState;
using queue::SubQueue;

// The order of Postfix's showq (maildrop aside), and of a message's moves.
constexpr SubQueue kListed[] = {SubQueue::active, SubQueue::incoming, SubQueue::deferred,
                                SubQueue::hold};

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// Valid UTF-8 kept; every other byte becomes '?'. With `controls`, so do
// control characters (as Postfix's printable() does for -p).
std::string printable(std::string_view s, bool controls) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (controls && n == 1 && (c < 0x20 || c == 0x7F)) {
      out += '?';
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string in = printable(s, false);
  std::string out = "\"";
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// asctime()'s layout without its newline: "Thu Nov 22 10:00:00 2024".
std::string ascii_time(std::int64_t epoch, const Options& options) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  if ((options.utc ? ::gmtime_r(&t, &tm) : ::localtime_r(&t, &tm)) == nullptr) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3s %.3s%3d %.2d:%.2d:%.2d %d", kDays[tm.tm_wday % 7],
                kMonths[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                1900 + tm.tm_year);
  return buf;
}

std::string address_text(const Address& a) {
  return a.is_null() ? "MAILER-DAEMON" : a.str();
}

std::string reply_text(const Reply& r) {
  if (r.code != 0) return r.line();
  return r.text.empty() ? r.status : Reply{0, "", r.text}.line().substr(2);
}

// Pending recipients in Postfix's order: those with a deferral reason first (as
// showq reads its defer log before the queue file), then the others.
std::vector<std::size_t> listed_recipients(const Entry& e) {
  std::vector<std::size_t> with, without;
  const auto& rcpts = e.file.envelope.recipients;
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    if (i < e.file.recipients.size() && e.file.recipients[i].state != RcptState::pending) continue;
    (delay_reason(e, i).empty() ? without : with).push_back(i);
  }
  with.insert(with.end(), without.begin(), without.end());
  return with;
}

char status_mark(SubQueue q) {
  return q == SubQueue::active ? '*' : q == SubQueue::hold ? '!' : ' ';
}

std::string columns(const std::string& id, const std::string& size, const std::string& time,
                    const std::string& text) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-17s %8s %-19.19s ", id.c_str(), size.c_str(), time.c_str());
  return buf + text + "\n";
}

std::int64_t next_attempt(const Entry& e) {
  switch (e.queue) {
    case SubQueue::deferred:
      return e.mtime;  // as Postfix: the deferred file's mtime
    case SubQueue::hold:
      return 0;  // not scheduled until released
    default:
      return e.file.next_attempt;
  }
}

std::string with_lf(std::string_view content) {
  std::string out;
  out.reserve(content.size());
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\r' && i + 1 < content.size() && content[i + 1] == '\n') continue;
    out += content[i];
  }
  return out;
}

bool is_enoent(const std::system_error& e) {
  return e.code() == std::errc::no_such_file_or_directory;
}

}  // namespace

std::string delay_reason(const Entry& entry, std::size_t i) {
  if (entry.queue != SubQueue::deferred && entry.queue != SubQueue::hold) return "";
  if (i >= entry.file.recipients.size()) return "";
  const queue::RecipientStatus& s = entry.file.recipients[i];
  if (s.state != RcptState::pending) return "";
  if (s.last_reply.code == 0 && s.last_reply.text.empty() && s.last_reply.status.empty()) return "";
  return reply_text(s.last_reply);
}

std::string format_postqueue(const std::vector<Entry>& entries, const Options& options) {
  if (entries.empty()) return "Mail queue is empty\n";
  // Postfix's header with enable_long_queue_ids = yes: its dashes line up with the columns.
  std::string out = "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n";
  std::uint64_t total = 0;
  bool first = true;
  for (const Entry& e : entries) {
    if (!first) out += "\n";
    first = false;
    total += e.file.content_size;
    out += columns(e.file.id + status_mark(e.queue), std::to_string(e.file.content_size),
                   ascii_time(e.file.envelope.arrival, options),
                   printable(address_text(e.file.envelope.sender), true));
    std::string previous;  // Postfix shows a reason only when it changes
    for (std::size_t i : listed_recipients(e)) {
      std::string why = printable(delay_reason(e, i), true);
      if (why != previous) {
        previous = why;
        std::string shown = why.empty() ? "reason unavailable" : why;
        std::size_t pad = shown.size() < 76 ? 76 - shown.size() : 0;
        out += std::string(pad, ' ') + "(" + shown + ")\n";
      }
      out += columns("", "", "", printable(address_text(e.file.envelope.recipients[i]), true));
    }
  }
  std::size_t n = entries.size();
  out += "\n-- " + std::to_string(total / 1024) + " Kbytes in " + std::to_string(n) + " Request" +
         (n == 1 ? "" : "s") + ".\n";
  return out;
}

std::string format_json_line(const Entry& e) {
  std::string out = "{\"queue_name\": " + json_string(queue::name(e.queue));
  out += ", \"queue_id\": " + json_string(e.file.id);
  out += ", \"arrival_time\": " + std::to_string(e.file.envelope.arrival);
  out += ", \"message_size\": " + std::to_string(e.file.content_size);
  out += ", \"forced_expire\": false";
  out += ", \"sender\": " + json_string(address_text(e.file.envelope.sender));
  out += ", \"recipients\": [";
  bool first = true;
  for (std::size_t i : listed_recipients(e)) {
    if (!first) out += ", ";
    first = false;
    out += "{\"address\": " + json_string(address_text(e.file.envelope.recipients[i]));
    std::string why = delay_reason(e, i);
    if (!why.empty()) out += ", \"delay_reason\": " + json_string(why);
    out += "}";
  }
  out += "], \"next_attempt\": " + std::to_string(next_attempt(e));
  out += ", \"attempts\": " + std::to_string(e.file.attempts) + "}\n";
  return out;
}

std::string format_json(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) out += format_json_line(e);
  return out;
}

std::string format_show(const Entry& e, std::string_view content, const Options& options) {
  const queue::QueueFile& f = e.file;
  const Envelope& env = f.envelope;
  const std::string where = std::string(queue::name(e.queue)) + "/" + f.id;
  auto line = [](std::string_view key, std::string_view value) {
    return std::string(key) + ": " + printable(value, true) + "\n";
  };
  std::string out = "*** ENVELOPE RECORDS " + where + " ***\n";
  out += line("queue_id", f.id);
  out += line("queue_name", queue::name(e.queue));
  out += line("message_size", std::to_string(f.content_size));
  out += line("message_arrival_time", ascii_time(env.arrival, options));
  out += line("sender", env.sender.is_null() ? "<>" : env.sender.str());
  std::string client =
      env.client_addr.empty() ? "local submission" : env.client_name + "[" + env.client_addr + "]";
  out += line("client", client);
  out += line("helo", env.helo);
  out += line("protocol", env.protocol);
  std::string body = env.eightbit ? "8BITMIME" : "7BIT";
  if (env.smtputf8) body += ", SMTPUTF8";
  out += line("body", body);
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    out += line("recipient", env.recipients[i].str());
    if (i >= f.recipients.size()) continue;
    const queue::RecipientStatus& s = f.recipients[i];
    std::string state(queue::name(s.state));
    if (s.state == RcptState::bounced && s.ndr_sent) state += ", NDR sent";
    if (s.last_reply.code != 0 || !s.last_reply.text.empty()) {
      state += " (" + ascii_time(s.last_time, options) + ": " + reply_text(s.last_reply) + ")";
    }
    out += line("  state", state);
  }
  out += line("attempts", std::to_string(f.attempts));
  std::int64_t next = next_attempt(e);
  out += line("next_attempt", e.queue == SubQueue::hold ? "on hold"
                              : next == 0               ? "as soon as possible"
                                                        : ascii_time(next, options));
  out += "*** MESSAGE CONTENTS " + where + " ***\n";
  std::string text = with_lf(content);
  out += text;
  if (!text.empty() && text.back() != '\n') out += "\n";
  out += "*** MESSAGE FILE END " + where + " ***\n";
  return out;
}

Scan scan_queue(const queue::Layout& layout) {
  namespace fs = std::filesystem;
  Scan scan;
  struct stat st;
  if (::stat(layout.root().c_str(), &st) != 0)
    throw std::system_error(errno, std::generic_category(), layout.root().string());
  std::set<std::string> seen;
  // Reads `id` from `q`, or from a later place it moved to; false when gone.
  auto read_one = [&](const std::string& id, SubQueue q) {
    std::vector<SubQueue> places{q};
    for (SubQueue other :
         {SubQueue::active, SubQueue::deferred, SubQueue::hold, SubQueue::incoming})
      if (other != q) places.push_back(other);
    for (SubQueue p : places) {
      fs::path path = layout.file(p, id);
      struct stat fst;
      if (::stat(path.c_str(), &fst) != 0) continue;
      try {
        Entry e;
        e.queue = p;
        e.file = queue::read_queue_file(path, queue::ReadMode::envelope_only);
        if (e.file.id != id) {  // listed by its name, the ID every command takes
          scan.warnings.push_back(path.string() + ": the file says it is " + e.file.id +
                                  "; listed as " + id);
          e.file.id = id;
        }
        e.mtime = static_cast<std::int64_t>(fst.st_mtim.tv_sec);
        scan.entries.push_back(std::move(e));
        return;
      } catch (const queue::QueueFileError& err) {
        scan.warnings.push_back(err.what());
        return;
      } catch (const std::system_error& err) {
        if (!is_enoent(err)) {
          scan.warnings.push_back(path.string() + ": " + err.code().message());
          return;
        }
      }
    }
  };
  for (SubQueue q : kListed) {
    std::vector<std::string> ids;
    std::error_code ec;
    fs::directory_iterator it(layout.dir(q), ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) continue;
      throw std::system_error(ec, layout.dir(q).string());
    }
    for (const fs::directory_entry& d : it) {
      std::string name = d.path().filename().string();
      if (queue::is_valid_queue_id(name)) ids.push_back(std::move(name));
    }
    std::sort(ids.begin(), ids.end());
    std::size_t first = scan.entries.size();
    for (const std::string& id : ids) {
      if (!seen.insert(id).second) continue;
      read_one(id, q);
    }
    // Found elsewhere after a move: keep each queue's part in ID order.
    std::stable_sort(scan.entries.begin() + static_cast<std::ptrdiff_t>(first), scan.entries.end(),
                     [](const Entry& a, const Entry& b) { return a.file.id < b.file.id; });
  }
  return scan;
}

std::optional<queue::SubQueue> locate(const queue::Layout& layout, std::string_view id) {
  if (!queue::is_valid_queue_id(id)) return std::nullopt;
  for (SubQueue q : queue::all_sub_queues) {
    struct stat st;
    if (::lstat(layout.file(q, id).c_str(), &st) == 0) return q;
  }
  return std::nullopt;
}

}  // namespace mp::listing
