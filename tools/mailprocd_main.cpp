// mailprocd — the daemon (foreground), plus `check` and `route` (SPEC: Programs).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "common/config.hpp"
#include "tools/daemon.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

int check(const mp::Config&) {
  std::cout << "ok\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mailprocd - queueing mail router and spooler"};
  app.name("mailprocd");
  std::string config_file = kDefaultConfig;
  app.add_option("-c,--config", config_file, "configuration file")->capture_default_str();
  app.set_version_flag("--version", std::string("mailprocd ") + MP_VERSION);
  CLI::App* check_cmd = app.add_subcommand("check", "validate the configuration and every file it names");
  CLI::App* route_cmd = app.add_subcommand("route", "show how addresses would be rewritten and routed");
  std::string from;
  std::vector<std::string> addresses;
  route_cmd->add_option("--from", from, "envelope sender");
  route_cmd->add_option("address", addresses, "recipient addresses")->required();
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mailprocd: " << e.what() << " (see mailprocd --help)\n";
    return 1;
  }

  mp::Config config;
  try {
    config = mp::load_config(config_file);
  } catch (const mp::ConfigError& e) {
    for (const std::string& line : e.errors()) std::cerr << line << "\n";
    return 1;
  }
  try {
    if (*check_cmd) return check(config);
    if (*route_cmd) {
      std::cerr << "mailprocd: route: not available yet\n";
      return 2;
    }
    return mp::run_daemon(config);
  } catch (const std::exception& e) {
    std::cerr << "mailprocd: fatal: " << e.what() << "\n";
    return 2;
  }
}
