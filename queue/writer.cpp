#include "queue/writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "common/atomic_file.hpp"
#include "queue/envelope_file.hpp"
#include "queue/group_sync.hpp"
#include "queue/queue_id.hpp"

namespace mp::queue {

namespace fs = std::filesystem;

struct Writer::Impl {
  struct Job {
    std::unique_ptr<Draft> draft;
    std::function<void(CommitResult)> done;
  };

  Impl(const Layout& l, WriterOptions o)
      : layout(l), opts(o), incoming_sync(l.dir(SubQueue::incoming)) {}

  Layout layout;
  WriterOptions opts;
  GroupSync incoming_sync;  // one fsync of incoming/ per round of renames

  std::mutex mu;  // guards jobs, stopping, threads
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;  // started by the first commit_async()

  std::mutex hook_mu;
  std::function<void(const std::string&)> hook;

  // tmp/ID (written, fdatasync'ed) → rename → incoming/ID → group fsync of
  // incoming/. Durable on return; on failure nothing is left in tmp/ nor incoming/.
  void write(const Draft& d) {
    const std::string& id = d.id();
    fs::path tmp = layout.tmp() / id;
    fs::path dst = layout.file(SubQueue::incoming, id);
    {
      std::string data = serialize_queue_file(id, d.envelope(), d.body());
      write_file_synced(tmp, data);  // removes tmp itself when it fails
    }
    if (::rename(tmp.c_str(), dst.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw std::system_error(err, std::generic_category(), "rename to " + dst.string());
    }
    try {
      incoming_sync.sync();
    } catch (...) {
      // Durability unknown: withdraw the file so that failure means "not queued".
      ::unlink(dst.c_str());
      throw;
    }
  }

  void committed(const std::string& id) {
    std::function<void(const std::string&)> h;
    {
      std::lock_guard lock(hook_mu);
      h = hook;
    }
    if (!h) return;
    try {
      h(id);
    } catch (...) {
      // The message is durably queued whatever the hook does; a throwing hook
      // must not turn that into a reported failure.
    }
  }

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;  // stopping and drained
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      CommitResult result;
      result.id = job.draft->id();
      try {
        write(*job.draft);
        result.ok = true;
      } catch (const std::exception& e) {
        result.error = e.what();
      }
      job.draft.reset();  // free the content before the callback
      if (result.ok) committed(result.id);
      if (job.done) {
        try {
          job.done(std::move(result));
        } catch (...) {
          // A callback has no one to report to; keep the writer thread alive.
        }
      }
    }
  }
};

Writer::Writer(const Layout& layout, WriterOptions opts)
    : impl_(std::make_unique<Impl>(layout, opts)) {}

Writer::~Writer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->threads) t.join();
}

std::unique_ptr<Draft> Writer::begin(Envelope envelope) {
  if (envelope.arrival == 0) envelope.arrival = static_cast<std::int64_t>(std::time(nullptr));
  return std::unique_ptr<Draft>(new Draft(new_queue_id(), std::move(envelope)));
}

std::string Writer::commit(std::unique_ptr<Draft> draft) {
  if (!draft) throw std::invalid_argument("Writer::commit: no draft");
  impl_->write(*draft);
  std::string id = draft->id();
  draft.reset();
  impl_->committed(id);
  return id;
}

void Writer::commit_async(std::unique_ptr<Draft> draft, std::function<void(CommitResult)> done) {
  if (!draft) throw std::invalid_argument("Writer::commit_async: no draft");
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->threads.empty()) {
      unsigned n = impl_->opts.threads == 0 ? 1 : impl_->opts.threads;
      for (unsigned i = 0; i < n; ++i) impl_->threads.emplace_back([this] { impl_->run(); });
    }
    impl_->jobs.push_back({std::move(draft), std::move(done)});
  }
  impl_->cv.notify_one();
}

void Writer::on_committed(std::function<void(const std::string& id)> hook) {
  std::lock_guard lock(impl_->hook_mu);
  impl_->hook = std::move(hook);
}

}  // namespace mp::queue
