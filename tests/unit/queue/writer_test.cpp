#include "queue/writer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "queue/envelope_file.hpp"
#include "queue/queue_id.hpp"
#include "tests/unit/queue/temp_dir.hpp"

namespace mp::queue {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::spit;
using testing::TempDir;

Envelope envelope(int n = 0) {
  Envelope e;
  e.sender = {"sender" + std::to_string(n), "example.org"};
  e.recipients = {{"a", "example.net"}, {"\"b c\"", "example.net"}};
  e.helo = "client.example";
  e.client_addr = "192.0.2.7";
  e.client_name = "client.example";
  e.protocol = "ESMTP";
  e.arrival = 1732280000 + n;
  return e;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& entry : fs::directory_iterator(dir)) ++n;
  return n;
}

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override { layout.create(); }
  TempDir tmp;
  Layout layout{tmp.path() / "spool"};
};

TEST_F(WriterTest, CommitMakesAByteExactFileInIncoming) {
  Writer w(layout);
  Envelope e = envelope();
  auto draft = w.begin(e);
  std::string id = draft->id();
  EXPECT_TRUE(is_valid_queue_id(id));
  std::string body = std::string("Subject: x\r\n\r\nbinary \0\r\n", 25) + std::string(100000, 'y');
  draft->append(body.substr(0, 10));
  draft->append(body.substr(10));
  EXPECT_EQ(draft->size(), body.size());
  EXPECT_EQ(w.commit(std::move(draft)), id);

  fs::path file = layout.file(SubQueue::incoming, id);
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(slurp(file), serialize_queue_file(id, e, body));
  QueueFile qf = read_queue_file(file);
  EXPECT_EQ(qf.id, id);
  EXPECT_EQ(qf.envelope.sender, e.sender);
  EXPECT_EQ(qf.envelope.recipients, e.recipients);
  EXPECT_EQ(qf.envelope.arrival, e.arrival);
  EXPECT_EQ(qf.content(), body);
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  EXPECT_EQ(count_files(layout.dir(SubQueue::incoming)), 1u);
}

TEST_F(WriterTest, BeginStampsArrivalWhenUnset) {
  Writer w(layout);
  Envelope e = envelope();
  e.arrival = 0;
  std::int64_t before = std::time(nullptr);
  auto d = w.begin(e);
  EXPECT_GE(d->envelope().arrival, before);
  EXPECT_LE(d->envelope().arrival, std::time(nullptr));
  EXPECT_NE(w.begin(envelope())->id(), d->id());
}

TEST_F(WriterTest, UncommittedDraftLeavesNothing) {
  {
    Writer w(layout);
    auto d = w.begin(envelope());
    d->append("data that must never reach the disk");
  }
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  EXPECT_TRUE(fs::is_empty(layout.dir(SubQueue::incoming)));
}

TEST_F(WriterTest, PurgeTmpAtStartThenCommit) {
  spit(layout.tmp() / "0000000000000000", "MAILPROC-QUEUE 1\nid: 00");  // a crash mid-write
  EXPECT_EQ(layout.purge_tmp(), 1u);
  Writer w(layout);
  auto d = w.begin(envelope());
  d->append("x\n");
  std::string id = w.commit(std::move(d));
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  EXPECT_EQ(read_queue_file(layout.file(SubQueue::incoming, id)).content(), "x\n");
}

TEST_F(WriterTest, CommitAsyncFromManyThreads) {
  constexpr int kThreads = 32, kEach = 50, kTotal = kThreads * kEach;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::string> bodies;  // id -> body
  std::vector<CommitResult> results;
  std::atomic<int> hooked{0};
  {
    Writer w(layout, {.threads = 8});
    w.on_committed([&](const std::string&) { ++hooked; });
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t)
      submitters.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto d = w.begin(envelope(t * kEach + i));
          std::string body = "message " + std::to_string(i) + " of thread " + std::to_string(t);
          d->append(body);
          {
            std::lock_guard lock(mu);
            bodies[d->id()] = body;
          }
          fs::path incoming = layout.dir(SubQueue::incoming);
          w.commit_async(std::move(d), [&, incoming](CommitResult r) {
            // Durable before the callback: the file is already in incoming/.
            bool present = fs::exists(incoming / r.id);
            std::lock_guard lock(mu);
            if (!present) r.error = "file missing at callback time";
            results.push_back(std::move(r));
            cv.notify_all();
          });
        }
      });
    for (auto& s : submitters) s.join();
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return results.size() == kTotal; });
  }
  EXPECT_EQ(hooked.load(), kTotal);
  std::set<std::string> ids;
  for (auto& r : results) {
    EXPECT_TRUE(r.ok) << r.id << ": " << r.error;
    EXPECT_TRUE(r.error.empty()) << r.error;
    ids.insert(r.id);
  }
  EXPECT_EQ(ids.size(), std::size_t{kTotal});
  EXPECT_EQ(count_files(layout.dir(SubQueue::incoming)), std::size_t{kTotal});
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  for (auto& [id, body] : bodies) {
    QueueFile qf = read_queue_file(layout.file(SubQueue::incoming, id));
    EXPECT_EQ(qf.id, id);
    EXPECT_EQ(qf.content(), body);
  }
}

TEST_F(WriterTest, DestructorDrainsPendingWork) {
  constexpr int kCount = 100;
  std::atomic<int> done{0};
  {
    Writer w(layout, {.threads = 2});
    for (int i = 0; i < kCount; ++i)
      w.commit_async(w.begin(envelope(i)), [&](CommitResult r) { done += r.ok ? 1 : 1000; });
  }
  EXPECT_EQ(done.load(), kCount);
  EXPECT_EQ(count_files(layout.dir(SubQueue::incoming)), std::size_t{kCount});
}

TEST_F(WriterTest, CommitFromACallbackDoesNotDeadlock) {
  std::mutex mu;
  std::condition_variable cv;
  std::string inner_id, error;
  bool finished = false;
  Writer w(layout, {.threads = 1});
  w.commit_async(w.begin(envelope()), [&](CommitResult) {
    std::string id, err;
    try {
      id = w.commit(w.begin(envelope(1)));  // e.g. an NDR queued from a callback
    } catch (const std::exception& e) {
      err = e.what();
    }
    std::lock_guard lock(mu);
    inner_id = id;
    error = err;
    finished = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished; });
  EXPECT_EQ(error, "");
  EXPECT_TRUE(fs::exists(layout.file(SubQueue::incoming, inner_id)));
}

// Tests may run as root, where permission bits stop nothing: break the spool by
// putting regular files where its directories should be.
TEST_F(WriterTest, FailureWhenIncomingIsUnusable) {
  fs::remove(layout.dir(SubQueue::incoming));
  spit(layout.dir(SubQueue::incoming), "not a directory");
  std::atomic<int> hooked{0};
  Writer w(layout);
  w.on_committed([&](const std::string&) { ++hooked; });

  auto d = w.begin(envelope());
  std::string id = d->id();
  try {
    w.commit(std::move(d));
    FAIL() << "commit should fail";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::not_a_directory) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(layout.tmp()));

  std::mutex mu;
  std::condition_variable cv;
  std::optional<CommitResult> result;
  auto d2 = w.begin(envelope());
  std::string id2 = d2->id();
  w.commit_async(std::move(d2), [&](CommitResult r) {
    std::lock_guard lock(mu);
    result = std::move(r);
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return result.has_value(); });
  }
  EXPECT_FALSE(result->ok);
  EXPECT_EQ(result->id, id2);
  EXPECT_NE(result->error.find("Not a directory"), std::string::npos) << result->error;
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  EXPECT_EQ(hooked.load(), 0);
}

TEST_F(WriterTest, FailureWhenTmpIsUnusable) {
  fs::remove(layout.tmp());
  spit(layout.tmp(), "not a directory");
  Writer w(layout);
  EXPECT_THROW(w.commit(w.begin(envelope())), std::system_error);
  EXPECT_TRUE(fs::is_empty(layout.dir(SubQueue::incoming)));
}

TEST_F(WriterTest, EnvelopeWithoutRecipientsIsRefused) {
  Writer w(layout);
  Envelope e = envelope();
  e.recipients.clear();
  EXPECT_THROW(w.commit(w.begin(e)), std::invalid_argument);
  std::mutex mu;
  std::condition_variable cv;
  std::optional<CommitResult> result;
  w.commit_async(w.begin(e), [&](CommitResult r) {
    std::lock_guard lock(mu);
    result = std::move(r);
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  EXPECT_FALSE(result->ok);
  EXPECT_FALSE(result->error.empty());
  EXPECT_TRUE(fs::is_empty(layout.tmp()));
  EXPECT_TRUE(fs::is_empty(layout.dir(SubQueue::incoming)));
}

}  // namespace
}  // namespace mp::queue
