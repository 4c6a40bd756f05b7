// The table of mailprocd.conf keys: each key's name, its default as it would be
// written in the file, and whether a running daemon applies a new value on reload.
//
// The single source of the defaults: load_config() starts from these texts (run
// through the same parsers as the file's lines), `mailprocd config -d` prints them,
// `mailprocd config` prints what the file sets, and a reload names the changed keys
// that only a restart applies. Every key load_config() accepts has an entry here
// (tests/unit/common/config_keys_test.cpp checks it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace mp {

enum class OnReload {
  applied,  // a reload applies it (new SMTP sessions, the queue manager, routing)
  restart,  // SPEC: only a restart applies it (listeners, spool, user, sockets, log)
  // Read once at start by the delivery transports (SMTP/LMTP client, DNS, local
  // deliveries, spam stage): a restart applies it, and a reload says so.
  transports,
};

struct ConfigKey {
  std::string_view name;
  // As written in the file. "" is the empty value, or for `myhostname` and
  // `control_socket` a value computed at load (the system host name, SPOOLDIR/control).
  std::string_view default_text;
  OnReload on_reload = OnReload::applied;
};

// Every key, sorted by name.
const std::vector<ConfigKey>& config_keys();
const ConfigKey* find_config_key(std::string_view name);  // nullptr: unknown key

// The value a key has in `config`: the text written in the file (as written, after
// trimming) or, when the file does not set it, its default (computed ones filled in).
std::string effective_value(const Config& config, const ConfigKey& key);
// The default of a key as `mailprocd config -d` prints it (computed ones filled in).
std::string default_value(const ConfigKey& key);

// One `postconf`-style line: "key = value", or "key =" for an empty value.
std::string config_line(std::string_view key, std::string_view value);

// Keys whose value differs between the running configuration and the reloaded one
// and which the reload does not apply (OnReload::restart or ::transports), sorted.
std::vector<std::string> changed_keys_needing_restart(const Config& running, const Config& next);

}  // namespace mp
