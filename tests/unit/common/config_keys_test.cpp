#include "common/config_keys.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace mp {
namespace {
namespace fs = std::filesystem;

class ConfigKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-config-keys-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  Config load(const std::string& text) {
    fs::path p = dir_ / "mailprocd.conf";
    std::ofstream(p) << text;
    return load_config(p);
  }
  fs::path dir_;
};

TEST_F(ConfigKeysTest, TableIsSortedAndEveryDefaultLoadsAsWritten) {
  const auto& keys = config_keys();
  ASSERT_FALSE(keys.empty());
  for (std::size_t i = 1; i < keys.size(); ++i) EXPECT_LT(keys[i - 1].name, keys[i].name);
  // Writing every default into a file gives the configuration of an empty file.
  std::string text;
  for (const ConfigKey& k : keys) {
    if (!k.default_text.empty())
      text += std::string(k.name) + " = " + std::string(k.default_text) + "\n";
  }
  Config written = load(text);
  Config empty = load("");
  for (const ConfigKey& k : keys) {
    EXPECT_EQ(effective_value(written, k), effective_value(empty, k)) << k.name;
  }
  EXPECT_EQ(written.mynetworks.size(), empty.mynetworks.size());
  EXPECT_EQ(empty.mynetworks.size(), 2u);
  EXPECT_EQ(empty.maxqueuetime, std::chrono::seconds(5 * 86400));
  EXPECT_TRUE(changed_keys_needing_restart(written, empty).empty());
}

TEST_F(ConfigKeysTest, EffectiveValueIsTheTextOfTheFileOrTheDefault) {
  Config c = load("relay_domains = Example.ORG\nspooldir = /var/spool/x\n");
  EXPECT_EQ(effective_value(c, *find_config_key("relay_domains")), "Example.ORG");
  EXPECT_EQ(effective_value(c, *find_config_key("ndr")), "yes");
  EXPECT_EQ(effective_value(c, *find_config_key("control_socket")), "/var/spool/x/control");
  EXPECT_EQ(default_value(*find_config_key("control_socket")), "/var/spool/mailproc/control");
  EXPECT_FALSE(default_value(*find_config_key("myhostname")).empty());
  EXPECT_EQ(find_config_key("no_such_key"), nullptr);
  EXPECT_EQ(config_line("relayhost", ""), "relayhost =");
  EXPECT_EQ(config_line("ndr", "yes"), "ndr = yes");
}

TEST_F(ConfigKeysTest, ChangedRestartKeysAreNamedAndAppliedOnesAreNot) {
  Config running = load("listen = 127.0.0.1:2525\nmynetworks = 127.0.0.1/32\n");
  Config next = load("listen = 127.0.0.1:2526\nmynetworks = 10.0.0.0/8\nsmtp_tls = encrypt\n");
  EXPECT_EQ(changed_keys_needing_restart(running, next),
            (std::vector<std::string>{"listen", "smtp_tls"}));
}

}  // namespace
}  // namespace mp
