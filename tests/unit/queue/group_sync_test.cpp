#include "queue/group_sync.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include "tests/unit/queue/temp_dir.hpp"

namespace mp::queue {
namespace {

TEST(GroupSync, EveryCallerReturnsAndRoundsAreShared) {
  testing::TempDir t;
  GroupSync sync(t.path());
  constexpr int kThreads = 16, kEach = 50;
  std::atomic<int> returned{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < kEach; ++j) {
        sync.sync();
        ++returned;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(returned.load(), kThreads * kEach);
  EXPECT_GE(sync.rounds(), 1u);
  EXPECT_LE(sync.rounds(), static_cast<unsigned long>(kThreads * kEach));
  std::printf("%d sync() calls, %lu directory fsyncs\n", kThreads * kEach, sync.rounds());
}

TEST(GroupSync, ASingleCallerRunsItsOwnRound) {
  testing::TempDir t;
  GroupSync sync(t.path());
  sync.sync();
  sync.sync();
  EXPECT_EQ(sync.rounds(), 2u);
}

TEST(GroupSync, FailureReachesEveryMember) {
  testing::TempDir t;
  GroupSync sync(t.path() / "missing");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      try {
        sync.sync();
      } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 8);
}

}  // namespace
}  // namespace mp::queue
