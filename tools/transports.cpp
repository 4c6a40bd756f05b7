#include "tools/transports.hpp"

#include "transports/local_transport.hpp"
#include "transports/net/smtp_relay.hpp"
#include "transports/spawner.hpp"

namespace mp {

struct Transports::Impl {
  std::unique_ptr<transports::LocalTransport> local;
  std::unique_ptr<transports::SmtpRelay> relay;
};

Transports::Transports(asio::io_context& io, const Config& config, bool privileged)
    : impl_(std::make_unique<Impl>()) {
  (void)privileged;  // make_spawner() forks the root helper when we are root
  transports::LocalOptions local;
  local.pipe_timeout = config.pipe_timeout;
  impl_->local = std::make_unique<transports::LocalTransport>(transports::make_spawner(), local);

  transports::RelaySettings relay;
  relay.helo_name = config.myhostname;
  relay.default_port = config.smtp_port;
  relay.concurrency = config.delivery_concurrency;
  impl_->relay = std::make_unique<transports::SmtpRelay>(io, relay);
}

Transports::~Transports() = default;

transports::Transport* Transports::select(const rewrite::NextHop& hop) {
  using rewrite::HopKind;
  switch (hop.kind) {
    case HopKind::relay: return impl_->relay.get();
    case HopKind::mda:
    case HopKind::pipe:
    case HopKind::maildir:
    case HopKind::discard:
    case HopKind::error: return impl_->local.get();
    case HopKind::mx:    // issue 4: MX delivery over ldns
    case HopKind::lmtp:  // issue 4
    case HopKind::spam:  // issue 6
      break;
  }
  return nullptr;
}

}  // namespace mp
