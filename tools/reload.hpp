// The daemon's reload, first half (tools/daemon.cpp does the second): read the
// config file and every map file again, as a whole, off the event loops.
//
// prepare_reload() builds everything the running parts will take — the Config,
// the Router (all map files) and the STARTTLS context — and touches nothing that
// runs. On any error the result holds every "FILE:LINE: ..." line and nothing is
// swapped. It runs as the daemon's unprivileged user: files it cannot read are
// errors, except the TLS certificate and key when their paths did not change
// (they are often readable by root only): then the ones loaded at start stay,
// and a notice says so.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "rewrite/router.hpp"

namespace mp {

struct PreparedReload {
  std::vector<std::string> errors;  // not empty: refused
  std::shared_ptr<const Config> config;
  std::shared_ptr<const rewrite::Router> router;
  std::shared_ptr<asio::ssl::context> tls;  // null when TLS is not configured
  // For the reply and the log: changed keys only a restart applies, kept certificates.
  std::vector<std::string> notices;
};

PreparedReload prepare_reload(const Config& running,
                              std::shared_ptr<asio::ssl::context> running_tls);

}  // namespace mp
