// What mpqueue prints about the queue: `-p` in the layout of Postfix's
// `postqueue -p` (with enable_long_queue_ids, as our IDs are 16 characters),
// `-j` with postqueue -j's fields plus next_attempt and attempts, and `show`
// in the manner of `postcat -q`. Also the spool scan that feeds them.
//
// Called by tools/mpqueue_main.cpp; the format_* functions are pure (the
// golden tests in tests/golden/mpqueue run them). Invariants: messages are
// listed queue by queue (active, incoming, deferred, hold, as Postfix's showq
// does), by queue ID (= arrival order) inside a queue; only recipients still
// pending are listed; the null sender shows as MAILER-DAEMON; every -j line is
// one JSON object in valid UTF-8 (a byte that is not valid UTF-8, or a control
// character in -p output, becomes '?').
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope_file.hpp"
#include "queue/layout.hpp"

namespace mp::listing {

struct Entry {
  queue::SubQueue queue = queue::SubQueue::incoming;
  queue::QueueFile file;   // the envelope and records (ReadMode::envelope_only is enough)
  std::int64_t mtime = 0;  // the file's mtime: a deferred message's next attempt
};

struct Options {
  bool utc = false;  // show times in UTC rather than local time (tests)
};

// `mpqueue -p`: the whole listing, "Mail queue is empty\n" when there is nothing.
std::string format_postqueue(const std::vector<Entry>& entries, const Options& options = {});

// `mpqueue -j`: one JSON object per message, each line "\n"-terminated.
std::string format_json_line(const Entry& entry);
std::string format_json(const std::vector<Entry>& entries);

// `mpqueue show ID`: envelope records, then the content (CRLF shown as LF).
std::string format_show(const Entry& entry, std::string_view content, const Options& options = {});

// The deferral reason shown for a recipient ("" when none): what the delivery
// log showed as status=deferred (...).
std::string delay_reason(const Entry& entry, std::size_t rcpt_index);

// Reads the spool. Unreadable files are skipped with a warning; a file that
// moves on while we look is looked for further along (incoming → active →
// deferred), so each message appears once.
struct Scan {
  std::vector<Entry> entries;
  std::vector<std::string> warnings;  // one line each, e.g. "PATH: does not parse: ..."
};
// Throws std::system_error when the spool itself cannot be read (missing, permissions).
Scan scan_queue(const queue::Layout& layout);

// Where message `id` is (any sub-queue, corrupt/ included); nullopt when nowhere.
std::optional<queue::SubQueue> locate(const queue::Layout& layout, std::string_view id);

}  // namespace mp::listing
