// The queue file: ONE file per message holding its envelope, its content and
// the record of what happened to it since (doc/queue-format.md is the spec).
//
//   MAILPROC-QUEUE 1\n  "key: value\n" header lines  \n  <size bytes of content>
//   then appended records, each one "\n"-terminated line ("R ...", "A ...", "W", "N ...")
//
// Written by queue::Writer (serialize_queue_file, then tmp → fsync → rename);
// read by the queue manager, the store's start-up recovery and mpqueue;
// records are appended by the queue manager with mp::append_synced().
// Invariants: header values and record fields are %XX-escaped, so no value
// holds a raw control character or newline; the header and content are never
// rewritten once the file is in a sub-queue; a record line that lacks its
// final "\n" (an append torn by a crash) is ignored on read. Anything else
// that does not parse is a QueueFileError: the caller moves the file to
// corrupt/ (an I/O error is a std::system_error instead, and is not corruption).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.hpp"
#include "common/reply.hpp"

namespace mp::queue {

inline constexpr int queue_file_version = 1;

// The file does not parse (bad magic/version, missing key, truncated content,
// malformed complete record...). what() says where and why.
class QueueFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The state of one recipient. Delivered and bounced are final.
enum class RcptState { pending, delivered, bounced };
// What one delivery attempt said about one recipient (the "R" record).
enum class Outcome { delivered, bounced, deferred };
std::string_view name(RcptState s);  // "pending", "delivered", "bounced"
std::string_view name(Outcome o);    // "delivered", "bounced", "deferred"

struct RecipientStatus {
  RcptState state = RcptState::pending;
  Reply last_reply;            // the latest reply recorded (deferral reason or final); code 0: none
  std::int64_t last_time = 0;  // epoch seconds of last_reply
  bool ndr_sent = false;       // an NDR covering this (bounced) recipient was queued
};

struct QueueFile {
  int version = queue_file_version;
  std::string id;
  Envelope envelope;
  std::vector<RecipientStatus> recipients;  // parallel to envelope.recipients
  unsigned attempts = 0;                    // delivery attempts so far
  std::int64_t next_attempt = 0;            // epoch seconds; 0: as soon as possible
  bool warned = false;                      // the delay warning DSN was sent

  // Where things are in the file.
  std::size_t content_offset = 0;  // first content byte
  std::size_t content_size = 0;    // the header's "size"
  std::size_t valid_size = 0;      // end of the last complete record (or of the content)
  bool torn = false;               // bytes after valid_size (a torn append) were ignored

  // The whole file, when read with content (parse_queue_file, ReadMode::full).
  std::string data;
  bool has_content = false;
  std::string_view content() const {
    return has_content ? std::string_view(data).substr(content_offset, content_size)
                       : std::string_view();
  }

  std::size_t pending_count() const;  // recipients still pending
};

// Header + content of a new queue file (no records). Throws std::invalid_argument
// for an empty id or one outside [0-9A-Z], or an envelope without recipients.
std::string serialize_queue_file(std::string_view id, const Envelope& envelope,
                                 std::string_view content);

// Parses a whole file (takes ownership: content() is a view into it).
// Throws QueueFileError.
QueueFile parse_queue_file(std::string data);

enum class ReadMode {
  full,           // everything, content included
  envelope_only,  // header and records; the content is skipped (not read), its length checked
};

// Reads and parses a file, opened without following a symlink and without blocking
// on a FIFO. Throws QueueFileError ("PATH: reason") when it does not parse or is not
// a regular file (symlink, FIFO, directory: the caller moves it aside),
// std::system_error when it cannot be read (e.g. it was moved away).
QueueFile read_queue_file(const std::filesystem::path& path, ReadMode mode = ReadMode::full);

// Record lines, "\n"-terminated, ready for mp::append_synced(). `when` and
// `next_attempt` are epoch seconds.
std::string format_recipient_record(std::size_t index, Outcome outcome, const Reply& reply,
                                    std::int64_t when);
std::string format_attempt_record(unsigned attempts, std::int64_t next_attempt);
std::string format_warned_record();
std::string format_ndr_record(const std::vector<std::size_t>& indexes);

// Applies one record line (with or without its final "\n") to `qf`, as a read
// would: lets the manager keep its in-memory copy in step with what it appends.
// A recipient record for a recipient already delivered or bounced is ignored
// (final states never change). Throws QueueFileError when the line is malformed.
void apply_record(QueueFile& qf, std::string_view line);

// When the read found a torn last record, cuts the file back to valid_size so
// that the next append starts on a line of its own. Call before appending to a
// file read with qf.torn set; the next append_synced() makes the cut durable.
// Throws std::system_error.
void drop_torn_tail(const std::filesystem::path& path, const QueueFile& qf);

}  // namespace mp::queue
