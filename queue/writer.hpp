// queue::Writer — the one way mail enters the queue (smtpd, mpsendmail, NDRs).
//
//   auto draft = writer.begin(envelope);   // assigns the queue ID
//   draft->append(bytes); ...              // message content, in memory
//   writer.commit(std::move(draft));       // durable on return, or throws
//
// commit = write the queue file in tmp/, fsync it, rename it into incoming/,
// fsync incoming/. Only then is the message acknowledged. A Draft destroyed
// uncommitted leaves nothing behind (nothing reaches the disk before commit).
//
// Group commit: commit_async() hands the draft to writer threads; file writes
// and fsyncs run in parallel, and one fsync of incoming/ covers every rename
// done since the previous one. Each callback runs (on a writer thread) only
// once the directory sync covering that message has returned. Nothing in here
// runs on the caller's thread but the hand-off. The blocking commit() takes
// part in the same group fsync of incoming/ (it works on the caller's thread,
// so it may be called from anywhere, a commit_async callback included).
// The queue file format is queue/envelope_file.hpp (doc/queue-format.md).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/envelope.hpp"
#include "queue/layout.hpp"

namespace mp::queue {

class Draft {
 public:
  const std::string& id() const { return id_; }
  const Envelope& envelope() const { return envelope_; }
  void append(std::string_view bytes) { body_.append(bytes); }
  std::size_t size() const { return body_.size(); }
  const std::string& body() const { return body_; }

 private:
  friend class Writer;
  Draft(std::string id, Envelope env) : id_(std::move(id)), envelope_(std::move(env)) {}
  std::string id_;
  Envelope envelope_;
  std::string body_;
};

struct CommitResult {
  bool ok = false;
  std::string id;     // the queue ID (also on failure, for logs)
  std::string error;  // on failure: what went wrong (strerror text), for logs
};

struct WriterOptions {
  unsigned threads = 8;  // concurrent file writers (fsyncs overlap across files)
};

class Writer {
 public:
  explicit Writer(const Layout& layout, WriterOptions opts = {});
  ~Writer();  // waits for queued commits to finish
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Assigns the queue ID (thread safe). An envelope.arrival of 0 becomes "now".
  std::unique_ptr<Draft> begin(Envelope envelope);

  // Blocking: durable on return. Throws std::system_error on any write failure,
  // leaving nothing in incoming/ (the tmp file is removed); std::invalid_argument
  // for an envelope without recipients.
  std::string commit(std::unique_ptr<Draft> draft);

  // Non-blocking: `done` is called from a writer thread once durable (or failed,
  // with ok=false, the error text, and nothing left in tmp/ nor incoming/).
  // The writer threads (opts.threads) start on the first call. Exceptions
  // thrown by `done` are swallowed: it should not throw.
  void commit_async(std::unique_ptr<Draft> draft, std::function<void(CommitResult)> done);

  // Called after each durable commit, before that commit's `done` callback
  // (from a writer thread, or commit()'s caller): the queue manager's wake-up.
  // Exceptions it throws are swallowed (the message is queued regardless).
  void on_committed(std::function<void(const std::string& id)> hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::queue
