// mailprocd's one-shot commands (SPEC: Programs): `check`, `config`, `route`.
// Each prints to stdout (errors and warnings to stderr) and returns the exit status.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.hpp"

namespace mp::commands {

// Every error of the config file and of every map file it names, in one run:
// "ok" and 0, or one FILE:LINE line per error on stderr and 1.
int check(const std::filesystem::path& config_file);

// `postconf -n` / `postconf -d`: "key = value" lines sorted by key. Without
// `defaults`, the keys the file sets (as written); with it, every default. `keys`
// (if any) picks those keys instead: their effective values, or their defaults.
int config(const std::filesystem::path& config_file, bool defaults,
           const std::vector<std::string>& keys);

struct RouteOptions {
  std::string from;
  bool resolve = false;  // also look up MX records and host addresses (dns_servers)
};

// The dry run: one line per address (rewrite/route_format.hpp), placeholders of a
// local next hop filled in (`expanded=`), with --resolve the DNS answers below it;
// a warning on stderr for a locally routed domain outside relay_domains.
int route(const Config& config, const RouteOptions& options,
          const std::vector<std::string>& addresses);

}  // namespace mp::commands
