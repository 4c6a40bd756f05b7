// mailprocd — the daemon (foreground), plus `check` and `route` (SPEC: Programs).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "common/address.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "rewrite/route_format.hpp"
#include "rewrite/router.hpp"
#include "tools/daemon.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

// Every file the configuration names is loaded as the daemon would load it.
int check(const mp::Config& config) {
  mp::rewrite::Router router(config);  // throws ConfigError with every FILE:LINE
  std::cout << "ok\n";
  return 0;
}

int route(const mp::Config& config, const std::string& from,
          const std::vector<std::string>& addresses) {
  mp::rewrite::Router router(config);
  mp::PathOptions opts;
  opts.allow_utf8 = true;
  opts.allow_postmaster = true;
  std::string error;
  mp::Address sender;
  if (!from.empty()) {
    mp::PathOptions sopts = opts;
    sopts.allow_null = true;
    auto parsed = mp::parse_address(from, sopts, error);
    if (!parsed) {
      std::cerr << "mailprocd: route: bad sender '" << from << "': " << error << "\n";
      return 1;
    }
    sender = *parsed;
    std::string rule;
    mp::Address rewritten = router.rewrite_sender(sender, &rule);
    std::cout << mp::rewrite::format_sender(sender, rewritten, rule) << "\n";
  }
  int status = 0;
  for (const std::string& a : addresses) {
    auto parsed = mp::parse_address(a, opts, error);
    if (!parsed) {
      std::cerr << "mailprocd: route: bad address '" << a << "': " << error << "\n";
      status = 1;
      continue;
    }
    std::cout << mp::rewrite::format_route(a, router.resolve(sender, *parsed)) << "\n";
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mailprocd - queueing mail router and spooler"};
  app.name("mailprocd");
  std::string config_file = kDefaultConfig;
  app.add_option("-c,--config", config_file, "configuration file")->capture_default_str();
  app.set_version_flag("--version", std::string("mailprocd ") + MP_VERSION);
  CLI::App* check_cmd =
      app.add_subcommand("check", "validate the configuration and every file it names");
  CLI::App* route_cmd =
      app.add_subcommand("route", "show how addresses would be rewritten and routed");
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

  bool daemon = false;
  try {
    mp::Config config = mp::load_config(config_file);
    if (*check_cmd) return check(config);
    if (*route_cmd) return route(config, from, addresses);
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
