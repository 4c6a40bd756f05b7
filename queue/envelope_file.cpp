#include "queue/envelope_file.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>
#include <utility>

namespace mp::queue {
namespace {

constexpr std::string_view kMagic = "MAILPROC-QUEUE ";
constexpr std::size_t kMaxHeader = 16 << 20;  // envelope_only: give up looking for the blank line
constexpr char kHex[] = "0123456789ABCDEF";

[[noreturn]] void bad(const std::string& why) {
  throw QueueFileError(why);
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// %XX-escapes '%', control characters, and `extra` (0: none); spaces too when asked.
void append_escaped(std::string& out, std::string_view v, bool space = false, char extra = 0) {
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '%' || is_control(c) || (space && c == ' ') || (extra != 0 && ch == extra)) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string unescape(std::string_view v, std::string_view what) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (is_control(static_cast<unsigned char>(v[i])))
      bad(std::string(what) + ": raw control character");
    if (v[i] != '%') {
      out += v[i];
      continue;
    }
    int hi = i + 2 < v.size() ? hex_value(v[i + 1]) : -1;
    int lo = i + 2 < v.size() ? hex_value(v[i + 2]) : -1;
    if (hi < 0 || lo < 0) bad(std::string(what) + ": bad %-escape");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <typename Int>
Int parse_int(std::string_view v, std::string_view what) {
  Int out{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size())
    bad(std::string(what) + ": not a number: '" + std::string(v) + "'");
  return out;
}

bool parse_bool(std::string_view v, std::string_view what) {
  if (v == "yes") return true;
  if (v == "no") return false;
  bad(std::string(what) + ": expected yes or no, got '" + std::string(v) + "'");
}

// "<local@domain>", "<local>" (no domain: '@' in local escaped), "<>".
void append_address(std::string& out, const Address& a) {
  out += '<';
  append_escaped(out, a.local, false, a.domain.empty() ? '@' : 0);
  if (!a.domain.empty()) {
    out += '@';
    append_escaped(out, a.domain, false, '@');
  }
  out += '>';
}

Address parse_address_value(std::string_view v, std::string_view what) {
  if (v.size() < 2 || v.front() != '<' || v.back() != '>')
    bad(std::string(what) + ": address not in <>");
  v = v.substr(1, v.size() - 2);
  Address a;
  std::size_t at = v.rfind('@');  // a domain never holds a raw '@'
  if (at == std::string_view::npos) {
    a.local = unescape(v, what);
  } else {
    a.local = unescape(v.substr(0, at), what);
    a.domain = unescape(v.substr(at + 1), what);
  }
  return a;
}

bool valid_id_chars(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
  });
}

void add_line(std::string& out, std::string_view key, std::string_view raw_value) {
  out += key;
  out += ':';
  if (!raw_value.empty()) {
    out += ' ';
    out += raw_value;
  }
  out += '\n';
}

void add_escaped_line(std::string& out, std::string_view key, std::string_view value) {
  std::string v;
  append_escaped(v, value);
  add_line(out, key, v);
}

// Header keys of version 1; all are required ("rcpt" at least once).
enum Key {
  kId,
  kArrival,
  kSender,
  kRcpt,
  kHelo,
  kClientAddr,
  kClientName,
  kProtocol,
  kSmtputf8,
  kEightbit,
  kSize,
  kKeyCount
};
constexpr std::string_view kKeyNames[kKeyCount] = {
    "id",          "arrival",  "sender",   "rcpt",     "helo", "client_addr",
    "client_name", "protocol", "smtputf8", "eightbit", "size"};

// Parses the magic line and the header of `data` into qf; returns the offset of
// the first content byte. `data` may hold more than the header.
std::size_t parse_header(std::string_view data, QueueFile& qf) {
  if (data.empty()) bad("empty file");
  if (!data.starts_with(kMagic)) {
    if (kMagic.starts_with(data)) bad("truncated header");
    bad("not a mailproc queue file");
  }
  std::size_t nl = data.find('\n');
  if (nl == std::string_view::npos) bad("truncated header");
  std::string_view first = data.substr(0, nl);
  qf.version = parse_int<int>(first.substr(kMagic.size()), "version");
  if (qf.version != queue_file_version)
    bad("unsupported queue file version " + std::to_string(qf.version));

  bool seen[kKeyCount] = {};
  std::uint64_t size = 0;
  std::size_t pos = nl + 1;
  for (;;) {
    nl = data.find('\n', pos);
    if (nl == std::string_view::npos) bad("truncated header (no blank line)");
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) bad("malformed header line (no ':')");
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    auto it = std::find(std::begin(kKeyNames), std::end(kKeyNames), key);
    if (it == std::end(kKeyNames)) bad("unknown header key '" + unescape(key, "key") + "'");
    auto k = static_cast<Key>(it - std::begin(kKeyNames));
    if (seen[k] && k != kRcpt) bad("duplicate header key '" + std::string(key) + "'");
    seen[k] = true;
    std::string what(key);
    Envelope& env = qf.envelope;
    switch (k) {
      case kId:
        qf.id = unescape(value, what);
        if (!valid_id_chars(qf.id)) bad("id: not a queue ID");
        break;
      case kArrival:
        env.arrival = parse_int<std::int64_t>(value, what);
        break;
      case kSender:
        env.sender = parse_address_value(value, what);
        break;
      case kRcpt:
        env.recipients.push_back(parse_address_value(value, what));
        break;
      case kHelo:
        env.helo = unescape(value, what);
        break;
      case kClientAddr:
        env.client_addr = unescape(value, what);
        break;
      case kClientName:
        env.client_name = unescape(value, what);
        break;
      case kProtocol:
        env.protocol = unescape(value, what);
        break;
      case kSmtputf8:
        env.smtputf8 = parse_bool(value, what);
        break;
      case kEightbit:
        env.eightbit = parse_bool(value, what);
        break;
      case kSize:
        size = parse_int<std::uint64_t>(value, what);
        break;
      case kKeyCount:
        break;
    }
  }
  for (int k = 0; k < kKeyCount; ++k)
    if (!seen[k]) bad("missing header key '" + std::string(kKeyNames[k]) + "'");
  if (size > SIZE_MAX - pos) bad("size: too large");
  qf.recipients.assign(qf.envelope.recipients.size(), RecipientStatus{});
  qf.content_offset = pos;
  qf.content_size = static_cast<std::size_t>(size);
  return pos;
}

// Applies the complete record lines of `region` (the file from offset `base`);
// a last line without its "\n" is the torn tail, ignored.
void parse_records(QueueFile& qf, std::string_view region, std::size_t base) {
  std::size_t pos = 0;
  for (;;) {
    std::size_t nl = region.find('\n', pos);
    if (nl == std::string_view::npos) break;
    try {
      apply_record(qf, region.substr(pos, nl - pos));
    } catch (const QueueFileError& e) {
      bad("record at offset " + std::to_string(base + pos) + ": " + e.what());
    }
    pos = nl + 1;
  }
  qf.valid_size = base + pos;
  qf.torn = pos < region.size();
}

// Splits off the next space-separated token of `line`.
std::string_view next_token(std::string_view& line) {
  std::size_t sp = line.find(' ');
  std::string_view tok = line.substr(0, sp);
  line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return tok;
}

std::size_t parse_index(const QueueFile& qf, std::string_view v) {
  auto i = parse_int<std::size_t>(v, "recipient index");
  if (i >= qf.recipients.size())
    bad("recipient index " + std::to_string(i) + " out of range (" +
        std::to_string(qf.recipients.size()) + " recipients)");
  return i;
}

[[noreturn]] void io_fail(int err, const char* what, const std::filesystem::path& p) {
  throw std::system_error(err, std::generic_category(), std::string(what) + " " + p.string());
}

using Fd = mp::UniqueFd;

// Reads [offset, offset + len) or up to end of file; appends to `out`.
void read_range(int fd, std::size_t offset, std::size_t len, std::string& out,
                const std::filesystem::path& p) {
  std::size_t start = out.size();
  out.resize(start + len);
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, out.data() + start + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      io_fail(errno, "read", p);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(start + got);
}

}  // namespace

std::string_view name(RcptState s) {
  switch (s) {
    case RcptState::pending:
      return "pending";
    case RcptState::delivered:
      return "delivered";
    case RcptState::bounced:
      return "bounced";
  }
  return "unknown";
}

std::string_view name(Outcome o) {
  switch (o) {
    case Outcome::delivered:
      return "delivered";
    case Outcome::bounced:
      return "bounced";
    case Outcome::deferred:
      return "deferred";
  }
  return "unknown";
}

std::size_t QueueFile::pending_count() const {
  return static_cast<std::size_t>(std::count_if(
      recipients.begin(), recipients.end(), [](auto& r) { return r.state == RcptState::pending; }));
}

std::string serialize_queue_file(std::string_view id, const Envelope& env,
                                 std::string_view content) {
  if (!valid_id_chars(id)) throw std::invalid_argument("queue file: bad queue ID");
  if (env.recipients.empty()) throw std::invalid_argument("queue file: no recipients");
  std::string out;
  out.reserve(256 + 64 * env.recipients.size() + env.helo.size() + content.size());
  out += kMagic;
  out += std::to_string(queue_file_version);
  out += '\n';
  add_line(out, "id", id);
  add_line(out, "arrival", std::to_string(env.arrival));
  std::string addr;
  append_address(addr, env.sender);
  add_line(out, "sender", addr);
  for (const Address& r : env.recipients) {
    addr.clear();
    append_address(addr, r);
    add_line(out, "rcpt", addr);
  }
  add_escaped_line(out, "helo", env.helo);
  add_escaped_line(out, "client_addr", env.client_addr);
  add_escaped_line(out, "client_name", env.client_name);
  add_escaped_line(out, "protocol", env.protocol);
  add_line(out, "smtputf8", env.smtputf8 ? "yes" : "no");
  add_line(out, "eightbit", env.eightbit ? "yes" : "no");
  add_line(out, "size", std::to_string(content.size()));
  out += '\n';
  out += content;
  return out;
}

QueueFile parse_queue_file(std::string data) {
  QueueFile qf;
  std::size_t offset = parse_header(data, qf);
  std::size_t have = data.size() - offset;
  if (have < qf.content_size)
    bad("truncated content (" + std::to_string(have) + " of " + std::to_string(qf.content_size) +
        " bytes)");
  std::size_t end = offset + qf.content_size;
  parse_records(qf, std::string_view(data).substr(end), end);
  qf.data = std::move(data);
  qf.has_content = true;
  return qf;
}

QueueFile read_queue_file(const std::filesystem::path& path, ReadMode mode) {
  // Never follow a link, never block on a FIFO: anything but a regular file is
  // a QueueFileError, so the manager moves it to corrupt/ and listings warn.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0 && errno == ELOOP)
    throw QueueFileError(path.string() + ": not a regular file (a symbolic link)");
  if (fd.get() < 0) io_fail(errno, "open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) io_fail(errno, "stat", path);
  if (!S_ISREG(st.st_mode))
    throw QueueFileError(path.string() + ": not a regular file (" +
                         (S_ISDIR(st.st_mode)    ? "a directory"
                          : S_ISFIFO(st.st_mode) ? "a FIFO"
                                                 : "a special file") +
                         ")");
  auto file_size = static_cast<std::size_t>(st.st_size);
  try {
    if (mode == ReadMode::full) {
      std::string data;
      read_range(fd.get(), 0, file_size, data, path);
      return parse_queue_file(std::move(data));
    }
    // Header only: read until the blank line, then skip the content.
    std::string head;
    std::size_t chunk = 4096;
    while (head.find("\n\n") == std::string::npos && head.size() < file_size) {
      if (head.size() > kMaxHeader) bad("header too long");
      std::size_t before = head.size();
      read_range(fd.get(), before, std::min(chunk, file_size - before), head, path);
      if (head.size() == before) break;  // shrank under us: the parse reports truncation
      chunk *= 2;
    }
    QueueFile qf;
    std::size_t offset = parse_header(head, qf);
    std::size_t have = file_size - std::min(file_size, offset);
    if (have < qf.content_size)
      bad("truncated content (" + std::to_string(have) + " of " + std::to_string(qf.content_size) +
          " bytes)");
    std::size_t end = offset + qf.content_size;
    std::string records;
    read_range(fd.get(), end, file_size - end, records, path);
    parse_records(qf, records, end);
    return qf;
  } catch (const QueueFileError& e) {
    throw QueueFileError(path.string() + ": " + e.what());
  }
}

std::string format_recipient_record(std::size_t index, Outcome outcome, const Reply& reply,
                                    std::int64_t when) {
  std::string out = "R " + std::to_string(index) + ' ' + std::string(name(outcome)) + ' ' +
                    std::to_string(when) + ' ' + std::to_string(reply.code) + ' ';
  if (reply.status.empty())
    out += '-';
  else if (reply.status == "-")
    out += "%2D";
  else
    append_escaped(out, reply.status, true);
  out += ' ';
  append_escaped(out, reply.text);
  out += '\n';
  return out;
}

std::string format_attempt_record(unsigned attempts, std::int64_t next_attempt) {
  return "A " + std::to_string(attempts) + ' ' + std::to_string(next_attempt) + '\n';
}

std::string format_warned_record() {
  return "W\n";
}

std::string format_ndr_record(const std::vector<std::size_t>& indexes) {
  if (indexes.empty()) throw std::invalid_argument("NDR record without recipients");
  std::string out = "N";
  for (std::size_t i : indexes) out += ' ' + std::to_string(i);
  out += '\n';
  return out;
}

void apply_record(QueueFile& qf, std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  for (char c : line)
    if (is_control(static_cast<unsigned char>(c))) bad("raw control character");
  std::string_view rest = line;
  std::string_view type = next_token(rest);
  if (type == "R") {
    std::size_t i = parse_index(qf, next_token(rest));
    std::string_view outcome = next_token(rest);
    auto when = parse_int<std::int64_t>(next_token(rest), "time");
    int code = parse_int<int>(next_token(rest), "reply code");
    if (rest.empty()) bad("R record: missing status");
    std::string_view status = next_token(rest);
    RecipientStatus& r = qf.recipients[i];
    RcptState next;
    if (outcome == "delivered")
      next = RcptState::delivered;
    else if (outcome == "bounced")
      next = RcptState::bounced;
    else if (outcome == "deferred")
      next = RcptState::pending;
    else
      bad("R record: unknown outcome '" + std::string(outcome) + "'");
    Reply reply{code, status == "-" ? std::string() : unescape(status, "status"),
                unescape(rest, "text")};
    if (r.state != RcptState::pending) return;  // final states never change
    r.state = next;
    r.last_reply = std::move(reply);
    r.last_time = when;
  } else if (type == "A") {
    auto attempts = parse_int<unsigned>(next_token(rest), "attempts");
    if (rest.empty()) bad("A record: missing next attempt time");
    auto next = parse_int<std::int64_t>(rest, "next attempt");
    qf.attempts = attempts;
    qf.next_attempt = next;
  } else if (type == "W") {
    if (!rest.empty() || line.size() != 1) bad("W record: unexpected data");
    qf.warned = true;
  } else if (type == "N") {
    if (rest.empty()) bad("N record: no recipient index");
    std::vector<std::size_t> indexes;
    while (!rest.empty()) indexes.push_back(parse_index(qf, next_token(rest)));
    for (std::size_t i : indexes) qf.recipients[i].ndr_sent = true;
  } else {
    bad("unknown record type '" + unescape(type, "type") + "'");
  }
}

void drop_torn_tail(const std::filesystem::path& path, const QueueFile& qf) {
  if (!qf.torn) return;
  if (::truncate(path.c_str(), static_cast<off_t>(qf.valid_size)) != 0)
    io_fail(errno, "truncate", path);
}

}  // namespace mp::queue
