// mailprocd — the daemon (foreground), plus `check`, `config` and `route` (SPEC: Programs).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "common/config.hpp"
#include "common/log.hpp"
#include "tools/daemon.hpp"
#include "tools/mailprocd_commands.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mailprocd - queueing mail router and spooler"};
  app.name("mailprocd");
  std::string config_file = kDefaultConfig;
  app.add_option("-c,--config", config_file, "configuration file")->capture_default_str();
  app.set_version_flag("--version", std::string("mailprocd ") + MP_VERSION);
  CLI::App* check_cmd =
      app.add_subcommand("check", "validate the configuration and every file it names");
  CLI::App* config_cmd = app.add_subcommand(
      "config", "print the settings the file makes (as postconf -n), or every default (-d)");
  bool defaults = false, non_default = false;
  std::vector<std::string> keys;
  config_cmd->add_flag("-d", defaults, "every key's default value");
  config_cmd->add_flag("-n", non_default, "the keys the file sets (the default)");
  config_cmd->add_option("key", keys, "only these keys (effective values; with -d, defaults)");
  CLI::App* route_cmd =
      app.add_subcommand("route", "show how addresses would be rewritten and routed");
  mp::commands::RouteOptions route_options;
  std::vector<std::string> addresses;
  route_cmd->add_option("--from", route_options.from, "envelope sender");
  route_cmd->add_flag("--resolve", route_options.resolve,
                      "look up MX records and host addresses (dns_servers)");
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
  if (defaults && non_default) {
    std::cerr << "mailprocd: config: -d and -n exclude each other (see mailprocd --help)\n";
    return 1;
  }

  bool daemon = false;
  try {
    if (*check_cmd) return mp::commands::check(config_file);
    if (*config_cmd) return mp::commands::config(config_file, defaults, keys);
    mp::Config config = mp::load_config(config_file);
    if (*route_cmd) return mp::commands::route(config, route_options, addresses);
    daemon = true;
    return mp::run_daemon(config);
  } catch (const mp::ConfigError& e) {
    for (const std::string& line : e.errors()) std::cerr << line << "\n";
    return 1;
  } catch (const std::exception& e) {
    if (daemon) {
      mp::log::error("master", std::string("fatal: ") + e.what());
    } else {
      std::cerr << "mailprocd: " << e.what() << "\n";
    }
    return 2;
  }
}
