// The key table of mailprocd.conf (SPEC "mailprocd.conf"): names, defaults, reload behaviour.
#include "common/config_keys.hpp"

#include <algorithm>

namespace mp {

const std::vector<ConfigKey>& config_keys() {
  using enum OnReload;
  static const std::vector<ConfigKey> table = [] {
    std::vector<ConfigKey> keys = {
        {"archive", "no"},
        {"bare_newline", "reject"},
        {"control_socket", "", restart},  // computed: SPOOLDIR/control
        {"delay_warning", "0"},
        {"delivery_concurrency", "20", transports},
        {"destination_concurrency", "", transports},  // empty: delivery_concurrency for all
        {"dns_servers", "", transports},  // empty: /etc/resolv.conf
        {"listen", "127.0.0.1:2525", restart},
        {"log", "stderr", restart},
        {"maildir_junk", "", transports},
        {"max_connections", "1000"},
        {"max_connections_per_ip", "50"},
        {"max_hops", "50"},
        {"max_recipients", "1000"},
        {"maxqueuetime", "5d"},
        {"message_size_limit", "10240000"},
        {"metrics_listen", "", restart},
        {"mynetworks", "127.0.0.0/8, [::1]/128"},
        {"myhostname", ""},  // computed: the system host name
        {"ndr", "yes"},
        {"pipe_timeout", "1000s", transports},
        {"proxy_trusted", ""},
        {"queue_run_interval", "5m"},
        {"relay_domains", ""},
        {"relayhost", ""},
        {"retry_max", "1h"},
        {"retry_min", "5m"},
        {"rewrite", ""},
        {"rewrite_headers", "no"},
        {"smtp_connection_cache_time", "2s", transports},
        {"smtp_port", "25", transports},
        {"smtp_tls", "may", transports},
        {"smtpd_banner", "$myhostname ESMTP"},
        {"smtpd_min_data_rate", "500"},
        {"smtpd_timeout", "300s"},
        {"spam_failure", "defer", transports},
        {"spam_worker_idle", "60s", transports},
        {"spam_workers_per_user", "1", transports},
        {"spamd", "127.0.0.1:783", transports},
        {"spooldir", "/var/spool/mailproc", restart},
        {"submit_socket", "/run/mailproc/submit", restart},
        {"tls_cert", ""},
        {"tls_key", ""},
        {"transport", ""},
        {"user", "mailproc", restart},
        {"users", ""},
        {"variables", ""},
    };
    std::sort(keys.begin(), keys.end(),
              [](const ConfigKey& a, const ConfigKey& b) { return a.name < b.name; });
    return keys;
  }();
  return table;
}

const ConfigKey* find_config_key(std::string_view name) {
  const auto& keys = config_keys();
  auto it = std::lower_bound(keys.begin(), keys.end(), name,
                             [](const ConfigKey& k, std::string_view n) { return k.name < n; });
  return it != keys.end() && it->name == name ? &*it : nullptr;
}

namespace {

// Keys whose empty default stands for a value computed from the rest of the configuration.
std::string computed(const Config& config, std::string_view key) {
  if (key == "myhostname") return config.myhostname;
  if (key == "control_socket") return config.control_socket.string();
  return std::string();
}

}  // namespace

std::string effective_value(const Config& config, const ConfigKey& key) {
  if (auto it = config.set_in_file.find(key.name); it != config.set_in_file.end())
    return it->second;
  if (key.default_text.empty()) return computed(config, key.name);
  return std::string(key.default_text);
}

std::string default_value(const ConfigKey& key) {
  if (key.default_text.empty()) return computed(default_config(), key.name);
  return std::string(key.default_text);
}

std::string config_line(std::string_view key, std::string_view value) {
  std::string line(key);
  line += " =";
  if (!value.empty()) {
    line += ' ';
    line += value;
  }
  return line;
}

std::vector<std::string> changed_keys_needing_restart(const Config& running, const Config& next) {
  std::vector<std::string> changed;
  for (const ConfigKey& key : config_keys()) {
    if (key.on_reload == OnReload::applied) continue;
    if (effective_value(running, key) != effective_value(next, key)) changed.emplace_back(key.name);
  }
  return changed;
}

}  // namespace mp
