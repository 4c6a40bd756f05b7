// Golden-file tests of rewrite::Router: every tests/golden/CASE/NAME.in is run
// against CASE/mailprocd.conf and its output compared with CASE/NAME.ref.
//
// A .in file holds one command per line (`#` comments and blank lines skipped):
//   check          print "ok" or the ConfigError lines of loading the Router
//   from ADDRESS   print the sender's rewrite line (format_sender); "from <>" for the null sender
//   headers FILE   print FILE (relative to the case) after Router::rewrite_headers
//   ADDRESS        print the route line (format_route), or "ADDRESS -> error: REASON"
// When the configuration does not load, every command but `check` prints the errors
// instead (once). Paths in the output are relative to the case folder.
// MP_GOLDEN_UPDATE=1 rewrites the .ref files instead of comparing: check every change by eye.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "rewrite/route_format.hpp"
#include "rewrite/router.hpp"

namespace fs = std::filesystem;
using namespace mp::rewrite;

namespace {

const fs::path kGolden = fs::path(MP_TEST_DATA) / "golden";

std::vector<std::string> list_cases() {
  std::vector<std::string> out;
  if (!fs::is_directory(kGolden)) return out;
  for (const auto& dir : fs::directory_iterator(kGolden)) {
    if (!dir.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      if (f.path().extension() == ".in")
        out.push_back(dir.path().filename().string() + "/" + f.path().stem().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string relative(std::string text, const fs::path& dir) {
  const std::string prefix = dir.string() + "/";
  for (std::size_t at; (at = text.find(prefix)) != std::string::npos;)
    text.erase(at, prefix.size());
  return text;
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string run_case(const fs::path& dir, const std::string& input) {
  std::string out;
  std::unique_ptr<Router> router;
  std::vector<std::string> load_errors;
  try {
    mp::Config config = mp::load_config(dir / "mailprocd.conf");
    router = std::make_unique<Router>(config);
  } catch (const mp::ConfigError& e) {
    load_errors = e.errors();
  }
  auto print_errors = [&] {
    for (const auto& e : load_errors) out += e + "\n";
  };
  bool errors_printed = false;
  mp::PathOptions opts;
  opts.allow_null = true;
  opts.allow_utf8 = true;
  opts.allow_postmaster = true;

  std::istringstream lines(input);
  for (std::string line; std::getline(lines, line);) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (line == "check") {
      if (router) {
        out += "ok\n";
      } else {
        print_errors();
      }
      continue;
    }
    if (!router) {
      if (!errors_printed) print_errors();
      errors_printed = true;
      continue;
    }
    if (line.rfind("headers ", 0) == 0) {
      out += router->rewrite_headers(read_file(dir / trim(line.substr(8))));
      continue;
    }
    bool is_sender = line.rfind("from ", 0) == 0;
    std::string text = is_sender ? trim(line.substr(5)) : line;
    std::string error;
    auto address = mp::parse_address(text, opts, error);
    if (!address || (!is_sender && address->is_null())) {
      out += text + " -> error: " + (address ? "null recipient" : error) + "\n";
      continue;
    }
    if (is_sender) {
      std::string rule;
      mp::Address rewritten = router->rewrite_sender(*address, &rule);
      out += format_sender(*address, rewritten, rule) + "\n";
    } else {
      out += format_route(text, router->resolve(mp::Address{}, *address)) + "\n";
    }
  }
  return relative(out, dir);
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesRef) {
  const std::string& id = GetParam();
  fs::path dir = kGolden / fs::path(id).parent_path();
  fs::path in = kGolden / (id + ".in"), ref = kGolden / (id + ".ref");
  std::string got = run_case(dir, read_file(in));
  const char* update = std::getenv("MP_GOLDEN_UPDATE");
  if (update && std::string(update) == "1") {
    std::ofstream(ref, std::ios::binary) << got;
    GTEST_SKIP() << "updated " << ref;
  }
  ASSERT_TRUE(fs::exists(ref)) << ref << " is missing (run with MP_GOLDEN_UPDATE=1)";
  EXPECT_EQ(got, read_file(ref)) << "case " << id;
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden, ::testing::ValuesIn(list_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Golden);

}  // namespace
