#include "tools/reload.hpp"

#include "common/config_keys.hpp"
#include "smtpd/net/server.hpp"

namespace mp {

namespace {

std::string restart_notice(const std::string& key) {
  const ConfigKey* k = find_config_key(key);
  if (k && k->on_reload == OnReload::transports)
    return key + " changed: takes effect at restart (read once by the delivery transports)";
  return key + " changed: takes effect at restart";
}

}  // namespace

PreparedReload prepare_reload(const Config& running,
                              std::shared_ptr<asio::ssl::context> running_tls) {
  PreparedReload out;
  Config next = load_config_collecting(running.file, out.errors);
  try {
    out.router = std::make_shared<const rewrite::Router>(next);
  } catch (const ConfigError& e) {
    out.errors.insert(out.errors.end(), e.errors().begin(), e.errors().end());
  } catch (const std::exception& e) {
    out.errors.push_back(e.what());
  }
  if (!out.errors.empty()) return out;

  bool same_tls_files = next.tls_cert == running.tls_cert && next.tls_key == running.tls_key;
  try {
    out.tls = smtpd::make_tls_context(next);
  } catch (const std::exception& e) {
    if (!same_tls_files) {
      out.errors.push_back(e.what());
      return out;
    }
    out.tls = std::move(running_tls);
    out.notices.push_back(std::string(e.what()) + ": the certificate loaded before stays in use");
  }
  for (const std::string& key : changed_keys_needing_restart(running, next))
    out.notices.push_back(restart_notice(key));
  out.config = std::make_shared<const Config>(std::move(next));
  return out;
}

}  // namespace mp
