#include "queue/queue_id.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace mp::queue {
namespace {

TEST(QueueId, FixedLengthFilenameSafeCharset) {
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_queue_id();
    ASSERT_EQ(id.size(), queue_id_length);
    for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) << id;
    ASSERT_TRUE(is_valid_queue_id(id)) << id;
  }
}

TEST(QueueId, ValidationRejectsOtherShapes) {
  std::string good = new_queue_id();
  EXPECT_TRUE(is_valid_queue_id(good));
  EXPECT_FALSE(is_valid_queue_id(""));
  EXPECT_FALSE(is_valid_queue_id(good.substr(1)));
  EXPECT_FALSE(is_valid_queue_id(good + "0"));
  for (char bad : {'a', 'z', '/', '.', '-', ' ', '\0', '\n', 'W', 'Z'}) {
    std::string id = good;
    id[3] = bad;
    EXPECT_FALSE(is_valid_queue_id(id)) << int(bad);
  }
  EXPECT_FALSE(is_valid_queue_id("../../etc/passw"));
}

TEST(QueueId, StrictlyIncreasingInOneThread) {
  std::string prev = new_queue_id();
  for (int i = 0; i < 20000; ++i) {
    std::string id = new_queue_id();
    ASSERT_LT(prev, id);
    prev = id;
  }
}

TEST(QueueId, EncodesCreationTime) {
  using namespace std::chrono;
  auto before = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  std::string id = new_queue_id();
  auto after = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  // Strictly increasing IDs may run slightly ahead of the clock after a burst.
  EXPECT_GE(queue_id_micros(id), before);
  EXPECT_LE(queue_id_micros(id), after + 1'000'000);
}

TEST(QueueId, UniqueAcrossThreadsAndSortedByCreation) {
  constexpr int kThreads = 8, kPerThread = 5000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(new_queue_id());
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : ids) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread});
  // Made after every one of them (the joins order it): sorts after all.
  EXPECT_LT(*all.rbegin(), new_queue_id());
}

TEST(QueueId, UniqueAcrossProcesses) {
  constexpr int kEach = 2000;
  new_queue_id();  // the parent has drawn its tag before forking
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    for (int i = 0; i < kEach; ++i) out += new_queue_id() + "\n";
    const char* p = out.data();
    std::size_t left = out.size();
    while (left > 0) {
      ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) ::_exit(1);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<std::string> mine;
  for (int i = 0; i < kEach; ++i) mine.push_back(new_queue_id());
  std::string child_out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
    child_out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  std::set<std::string> all(mine.begin(), mine.end());
  std::vector<std::string> theirs;
  for (std::size_t pos = 0, nl; (nl = child_out.find('\n', pos)) != std::string::npos; pos = nl + 1)
    theirs.push_back(child_out.substr(pos, nl - pos));
  ASSERT_EQ(theirs.size(), std::size_t{kEach});
  for (auto& id : theirs) {
    ASSERT_TRUE(is_valid_queue_id(id));
    all.insert(id);
  }
  EXPECT_EQ(all.size(), std::size_t{2 * kEach});
  // The child drew a tag of its own after fork() (the last 5 characters).
  EXPECT_NE(mine.front().substr(11), theirs.front().substr(11));
}

}  // namespace
}  // namespace mp::queue
