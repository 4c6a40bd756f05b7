#include "queue/layout.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <system_error>

#include "tests/unit/queue/temp_dir.hpp"

namespace mp::queue {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

mode_t mode_of(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(Layout, NamesAndPaths) {
  Layout l("/spool");
  EXPECT_EQ(l.tmp(), fs::path("/spool/tmp"));
  EXPECT_EQ(l.dir(SubQueue::deferred), fs::path("/spool/deferred"));
  EXPECT_EQ(l.file(SubQueue::hold, "ABC"), fs::path("/spool/hold/ABC"));
  const char* names[] = {"incoming", "active", "deferred", "hold", "archive", "corrupt"};
  for (std::size_t i = 0; i < all_sub_queues.size(); ++i) {
    EXPECT_EQ(name(all_sub_queues[i]), names[i]);
    EXPECT_EQ(parse_sub_queue(names[i]), all_sub_queues[i]);
  }
  EXPECT_FALSE(parse_sub_queue("tmp").has_value());
  EXPECT_FALSE(parse_sub_queue("Incoming").has_value());
}

TEST(Layout, CreateMakesEverySubQueueOwnerOnly) {
  TempDir t;
  Layout l(t.path() / "a" / "b" / "spool");  // missing ancestors too
  l.create();
  EXPECT_EQ(mode_of(l.root()), 0700);
  EXPECT_EQ(mode_of(l.tmp()), 0700);
  for (SubQueue q : all_sub_queues) {
    EXPECT_TRUE(fs::is_directory(l.dir(q))) << name(q);
    EXPECT_EQ(mode_of(l.dir(q)), 0700) << name(q);
  }
  // Idempotent, and keeps what is there.
  std::ofstream(l.file(SubQueue::deferred, "KEEP")) << "x";
  l.create();
  EXPECT_TRUE(fs::exists(l.file(SubQueue::deferred, "KEEP")));
}

TEST(Layout, CreateWithTrailingSlashAndRelativeRoot) {
  TempDir t;
  Layout l(t.path().string() + "/spool/");
  l.create();
  EXPECT_TRUE(fs::is_directory(t.path() / "spool" / "incoming"));

  auto cwd = fs::current_path();
  fs::current_path(t.path());
  Layout rel("relspool");
  EXPECT_NO_THROW(rel.create());
  fs::current_path(cwd);
  EXPECT_TRUE(fs::is_directory(t.path() / "relspool" / "corrupt"));
}

TEST(Layout, CreateFailsWhenASubQueueIsNotADirectory) {
  TempDir t;
  Layout l(t.path() / "spool");
  fs::create_directory(l.root());
  std::ofstream(l.dir(SubQueue::active)) << "not a dir";
  try {
    l.create();
    FAIL() << "create() should have thrown";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::not_a_directory);
    EXPECT_NE(std::string(e.what()).find(l.dir(SubQueue::active).string()), std::string::npos)
        << e.what();
  }
}

TEST(Layout, PurgeTmpRemovesLeftoversOnly) {
  TempDir t;
  Layout l(t.path() / "spool");
  l.create();
  std::ofstream(l.tmp() / "A") << "partial";
  std::ofstream(l.tmp() / "B") << "";
  fs::create_directory(l.tmp() / "C");
  std::ofstream(l.tmp() / "C" / "inner") << "x";
  std::ofstream(l.file(SubQueue::incoming, "D")) << "complete";
  EXPECT_EQ(l.purge_tmp(), 3u);
  EXPECT_TRUE(fs::is_empty(l.tmp()));
  EXPECT_TRUE(fs::exists(l.file(SubQueue::incoming, "D")));
  EXPECT_EQ(l.purge_tmp(), 0u);
}

TEST(Layout, PurgeTmpOfMissingSpoolIsZero) {
  TempDir t;
  EXPECT_EQ(Layout(t.path() / "nothing").purge_tmp(), 0u);
}

TEST(Layout, PurgeTmpRemovesLinksNotWhatTheyPointAt) {
  TempDir t;
  Layout l(t.path() / "spool");
  l.create();
  fs::create_directory(t.path() / "outside");
  std::ofstream(t.path() / "outside" / "keep") << "not the spool's";
  fs::create_directory_symlink(t.path() / "outside", l.tmp() / "link");
  fs::create_directory(l.tmp() / "dir");
  fs::create_directory_symlink(t.path() / "outside", l.tmp() / "dir" / "inner-link");
  EXPECT_EQ(l.purge_tmp(), 2u);
  EXPECT_TRUE(fs::is_empty(l.tmp()));
  EXPECT_TRUE(fs::exists(t.path() / "outside" / "keep"));
}

TEST(Layout, PurgeTmpRefusesATmpThatIsALink) {
  TempDir t;
  Layout l(t.path() / "spool");
  l.create();
  fs::remove(l.tmp());
  fs::create_directory(t.path() / "outside");
  std::ofstream(t.path() / "outside" / "keep") << "x";
  fs::create_directory_symlink(t.path() / "outside", l.tmp());
  EXPECT_THROW(l.purge_tmp(), std::runtime_error);
  EXPECT_TRUE(fs::exists(t.path() / "outside" / "keep"));
}

}  // namespace
}  // namespace mp::queue
