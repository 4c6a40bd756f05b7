// write_maildir as the current user: layout, modes, unique names, tmp/ left empty, errors.
#include "transports/maildir.hpp"

#include <sys/stat.h>

#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "local_test_util.hpp"

namespace mp::transports {
namespace {

namespace fs = std::filesystem;
using testing::slurp;
using testing::TempDir;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(Maildir, CreatesAMissingMaildirAndDelivers) {
  TempDir dir;
  auto md = dir.path() / "mail" / "bob" / "Maildir";
  auto w = write_maildir(md.string(), "", "Return-Path: <a@b>\nSubject: x\n\nhello\n");
  ASSERT_TRUE(w.ok) << w.text;
  for (auto p :
       {dir.path() / "mail", dir.path() / "mail" / "bob", md, md / "tmp", md / "new", md / "cur"})
    EXPECT_EQ(mode_of(p), 0700u) << p;
  EXPECT_EQ(names_in(md / "new"), std::vector<std::string>{w.name});
  EXPECT_EQ(slurp(md / "new" / w.name), "Return-Path: <a@b>\nSubject: x\n\nhello\n");
  EXPECT_EQ(mode_of(md / "new" / w.name), 0600u);
  EXPECT_TRUE(names_in(md / "tmp").empty());
  EXPECT_TRUE(names_in(md / "cur").empty());
}

TEST(Maildir, NamesAreUniqueAndWellFormed) {
  TempDir dir;
  auto md = dir.path() / "Maildir";
  std::set<std::string> names;
  for (int i = 0; i < 50; ++i) {
    auto w = write_maildir(md.string(), "", "message " + std::to_string(i) + "\n");
    ASSERT_TRUE(w.ok) << w.text;
    names.insert(w.name);
  }
  EXPECT_EQ(names.size(), 50u);
  EXPECT_EQ(names_in(md / "new").size(), 50u);
  EXPECT_TRUE(names_in(md / "tmp").empty());
  std::regex shape(R"(^[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.[^/:]+$)");
  for (const auto& n : names) EXPECT_TRUE(std::regex_match(n, shape)) << n;
}

TEST(Maildir, DeliversIntoAMaildirPlusPlusFolder) {
  TempDir dir;
  auto md = dir.path() / "Maildir";
  auto w = write_maildir(md.string(), ".Junk", "spam\n");
  ASSERT_TRUE(w.ok) << w.text;
  EXPECT_TRUE(names_in(md / "new").empty());
  EXPECT_EQ(names_in(md / ".Junk" / "new"), std::vector<std::string>{w.name});
  EXPECT_TRUE(fs::is_regular_file(md / ".Junk" / "maildirfolder"));
  for (auto sub : {"tmp", "new", "cur"}) {
    EXPECT_TRUE(fs::is_directory(md / sub));
    EXPECT_TRUE(fs::is_directory(md / ".Junk" / sub));
  }
}

TEST(Maildir, APathThatIsNotADirectoryIsATemporaryError) {
  TempDir dir;
  testing::spit(dir.path() / "file", "x");
  for (auto md : {dir.path() / "file", dir.path() / "file" / "Maildir"}) {
    auto w = write_maildir(md.string(), "", "x\n");
    EXPECT_FALSE(w.ok);
    EXPECT_TRUE(w.temporary);
    EXPECT_EQ(w.error, ENOTDIR) << w.text;
    EXPECT_NE(w.text.find(md.string()), std::string::npos) << w.text;
  }
  fs::create_directories(dir.path() / "md2");
  testing::spit(dir.path() / "md2" / "new", "not a directory");
  auto w = write_maildir((dir.path() / "md2").string(), "", "x\n");
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.error, ENOTDIR);
  EXPECT_TRUE(names_in(dir.path() / "md2" / "tmp").empty());
}

TEST(Maildir, PermissionDeniedIsATemporaryError) {
  if (testing::is_root())
    GTEST_SKIP() << "root ignores directory permissions; covered as nobody in spawner_test";
  TempDir dir;
  auto locked = dir.path() / "locked";
  fs::create_directories(locked);
  ::chmod(locked.c_str(), 0500);
  auto w = write_maildir((locked / "Maildir").string(), "", "x\n");
  ::chmod(locked.c_str(), 0700);
  EXPECT_FALSE(w.ok);
  EXPECT_TRUE(w.temporary);
  EXPECT_EQ(w.error, EACCES) << w.text;
}

}  // namespace
}  // namespace mp::transports
