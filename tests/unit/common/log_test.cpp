#include "common/log.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mp {
namespace {
namespace fs = std::filesystem;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-log-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    file_ = dir_ / "mail.log";
  }
  void TearDown() override {
    log::open("stderr", "");
    fs::remove_all(dir_);
  }
  std::vector<std::string> lines() {
    std::ifstream in(file_);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  fs::path dir_, file_;
};

TEST_F(LogTest, FileLinesHaveTheSyslogPrefix) {
  log::open(file_.string(), "mx.example.org");
  log::info("smtpd", "ABC123: client=host[1.2.3.4]");
  log::warning("qmgr", "disk is slow");
  log::error("smtp", "cannot connect");
  auto l = lines();
  ASSERT_EQ(l.size(), 3u);
  std::string pid = std::to_string(getpid());
  std::regex prefix(
      R"(^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] )"
      R"(mx\.example\.org mailprocd/([a-z]+)\[([0-9]+)\]: (.*)$)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(l[0], m, prefix)) << l[0];
  EXPECT_EQ(m[2], "smtpd");
  EXPECT_EQ(m[3], pid);
  EXPECT_EQ(m[4], "ABC123: client=host[1.2.3.4]");
  ASSERT_TRUE(std::regex_match(l[1], m, prefix)) << l[1];
  EXPECT_EQ(m[2], "qmgr");
  EXPECT_EQ(m[4], "warning: disk is slow");
  ASSERT_TRUE(std::regex_match(l[2], m, prefix)) << l[2];
  EXPECT_EQ(m[2], "smtp");
  EXPECT_EQ(m[4], "error: cannot connect");
}

TEST_F(LogTest, AppendsAndNeverSplitsALine) {
  std::ofstream(file_) << "existing line\n";
  log::open(file_.string(), "h");
  log::info("master", "one\ntwo\rthree");
  auto l = lines();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0], "existing line");
  EXPECT_NE(l[1].find("mailprocd/master["), std::string::npos);
  EXPECT_TRUE(l[1].ends_with("]: one two three")) << l[1];
}

TEST_F(LogTest, ConcurrentWritersDoNotInterleave) {
  log::open(file_.string(), "h");
  constexpr int kThreads = 4, kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      std::string payload(300, static_cast<char>('a' + t));
      for (int i = 0; i < kLines; ++i) log::info("smtpd", payload);
    });
  }
  for (auto& th : threads) th.join();
  auto l = lines();
  ASSERT_EQ(l.size(), static_cast<std::size_t>(kThreads * kLines));
  for (const auto& line : l) {
    std::size_t colon = line.find("]: ");
    ASSERT_NE(colon, std::string::npos) << line;
    std::string payload = line.substr(colon + 3);
    ASSERT_EQ(payload.size(), 300u) << line;
    EXPECT_EQ(payload.find_first_not_of(payload[0]), std::string::npos) << line;
  }
}

TEST_F(LogTest, UnopenableFileThrows) {
  EXPECT_THROW(log::open((dir_ / "missing" / "x.log").string(), "h"), std::runtime_error);
}

TEST_F(LogTest, DefaultHostnameIsTheSystemOne) {
  log::open(file_.string(), "");
  log::info("pipe", "x");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto l = lines();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0].find(std::string(" ") + host + " mailprocd/pipe["), std::string::npos) << l[0];
}

}  // namespace
}  // namespace mp
