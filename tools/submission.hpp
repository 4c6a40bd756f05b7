// Local submission, the pure part of mpsendmail: the sendmail command line, the
// end of the input, and the message as it is stored (headers added, Bcc: gone,
// CRLF line ends).
//
// Called by tools/mpsendmail_main.cpp (which does the I/O: stdin, the config,
// the spool or the daemon's submit socket) and by the unit tests. Nothing here
// touches a file, the clock or the user database: every such value is passed in.
//
// Invariants: parse_command_line never exits or prints; its error text is one
// line for stderr. prepare_message returns content whose every line ends with
// CRLF, holding no bare CR or LF, no Bcc:/Resent-Bcc: field, and one each of
// From:, Date:, Message-ID: (those present are kept, missing ones added after
// the existing header fields).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"

namespace mp::submission {

// sysexits.h values, the exit statuses of sendmail (SPEC: 0 only once durably
// queued, 64 bad usage, 75 cannot queue now).
enum Exit : int {
  ex_ok = 0,
  ex_usage = 64,     // bad command line, bad recipient address, no recipient
  ex_dataerr = 65,   // bad input data: header address, message over the size limit
  ex_software = 70,  // internal error
  ex_ioerr = 74,     // reading standard input failed
  ex_tempfail = 75,  // cannot queue now: config unreadable, spool not writable, daemon
                     // unreachable, disk full... (the caller keeps the mail and retries)
};

// What the command line asks for: a message on stdin (the default, -bm), an
// SMTP dialogue on stdin/stdout (-bs), the queue listing (-bp, mailq), or a
// queue run (-q, -qR<site>, -qI<id>): the last two are mpqueue's work.
enum class Mode { deliver, smtp, list_queue, run_queue };

struct Options {
  Mode mode = Mode::deliver;
  std::string queue_site;                // -qR<site>: flush deferred mail for that domain
  std::string queue_id;                  // -qI<id>: flush that message
  std::string config_file;               // -C FILE / -c FILE; empty: the default
  bool extract_recipients = false;       // -t
  bool ignore_dots = false;              // -i / -oi: a line "." does not end the input
  std::optional<std::string> sender;     // -f / -r (as given; "<>" or "" is the null sender)
  std::optional<std::string> full_name;  // -F
  std::vector<std::string> recipients;   // arguments after the options (address lists)
  bool verbose = false;                  // -v: print the queue ID on stderr
  bool help = false, version = false;    // --help / --version
  std::vector<std::string> ignored;      // no-op flags seen, as written
};

struct CommandLine {
  Options options;
  std::string error;  // non-empty: usage error (exit 64), one line
};

// argv without the program name. getopt-style: flags may be combined ("-ti",
// "-tif sender"), an option's value is attached ("-fsender") or the next
// argument ("-f sender"); options end at "--" or at the first non-option.
// Accepted as no-ops: -bm -m -n -U -G, every -oX except -oi (-odX, -oeX...),
// -dX, and -A/-B/-h/-L/-N/-O/-p/-R/-V/-X with their values.
// Modes: -bm (deliver), -bs, -bp, -q, -qR<site>, -qI<id>; -q<interval> is
// accepted and ignored (the daemon runs the queue on its own), as Postfix does.
// Refused (usage error): the other -b modes (-bd, -bi, -bv, ...), -qS and
// other -q selections, -I, unknown letters.
CommandLine parse_command_line(const std::vector<std::string>& args);

// The command line as meant by the name the program was run under (argv[0]'s
// last component): "mailq" is "sendmail -bp", "newaliases" "sendmail -bi"
// (refused: no aliases file); any other name (mpsendmail, sendmail) leaves
// `args` as they are.
std::vector<std::string> args_for_program_name(std::string_view argv0,
                                               std::vector<std::string> args);

std::string usage_text();  // for --help (and after a usage error: a short hint)

// Accumulates stdin. Without ignore_dots, a line holding only "." (LF or CRLF
// ended) is the end of the input: feed() then returns true and the rest is
// dropped. `limit` (bytes, 0: none): beyond it too_large() turns true and
// feed() returns true (stop reading).
class InputCollector {
 public:
  InputCollector(bool ignore_dots, std::size_t limit) : ignore_dots_(ignore_dots), limit_(limit) {}
  bool feed(std::string_view chunk);  // true: stop reading
  void finish();                      // at end of input: a last unterminated "." line ends it too
  bool too_large() const { return too_large_; }
  const std::string& text() const { return text_; }

 private:
  bool ignore_dots_;
  std::size_t limit_;
  bool too_large_ = false, done_ = false;
  std::size_t line_start_ = 0;  // where the current (unfinished) line begins in text_
  std::string text_;
};

// Splits an RFC 5322 address list (a To:/Cc:/Bcc: value, a command-line
// argument) into addr-specs: display names, comments, group syntax
// ("undisclosed-recipients:;") and angle brackets are handled; quoted local
// parts keep their quotes. Never fails: garbage comes back as-is for
// parse_recipient() to refuse.
std::vector<std::string> split_address_list(std::string_view value);

// One addr-spec to an Address; a bare local part ("root") gets "@domain".
// nullopt with `error` set when the address is malformed.
std::optional<Address> parse_recipient(std::string_view spec, std::string_view domain,
                                       std::string& error);

// Builds the display form "Full Name <addr>" of From: (quoting the name when it
// holds RFC 5322 specials). An empty name gives just the address.
std::string from_header_value(std::string_view full_name, std::string_view address);

// "Tue, 02 Jan 2024 10:00:00 +0100" — locale independent (for Date: and Received:).
std::string rfc5322_date(std::int64_t epoch_seconds, int utc_offset_seconds);

struct PrepareInput {
  bool extract_recipients = false;  // collect To:/Cc:/Bcc: (Resent-* when present)
  std::string from;                 // From: value used when the message has none
  std::string date;                 // Date: value used when the message has none
  std::string message_id;           // Message-ID: value used when the message has none ("<...>")
  std::string received;             // complete Received: field to prepend (CRLF ended), or empty
};

struct Prepared {
  std::string content;                         // what is queued (CRLF line ends)
  std::vector<std::string> header_recipients;  // -t: addr-specs from the header, in order
  bool eightbit = false;                       // some octet >= 0x80
};

// `raw` is the collected input (LF or CRLF line ends; a leading mbox "From "
// line is dropped). The header ends at the first empty line or at the first
// line that is neither a field nor a continuation (an empty line is then
// inserted before the body).
Prepared prepare_message(std::string_view raw, const PrepareInput& in);

}  // namespace mp::submission
