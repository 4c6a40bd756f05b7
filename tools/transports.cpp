#include "tools/transports.hpp"

#include "transports/local_transport.hpp"
#include "transports/net/ldns_resolver.hpp"
#include "transports/net/smtp_relay.hpp"
#include "transports/spam_stage.hpp"  // issue 6
#include "transports/spawner.hpp"

namespace mp {

struct Transports::Impl {
  std::unique_ptr<transports::LdnsResolver> resolver;
  std::unique_ptr<transports::LocalTransport> local;
  std::unique_ptr<transports::SmtpRelay> smtp;  // host lists and MX
  std::unique_ptr<transports::SmtpRelay> lmtp;
  // issue 6: delivers through the transports above, so it goes first (see ~Impl).
  std::unique_ptr<transports::SpamStage> spam;

  ~Impl() {
    spam.reset();  // issue 6: its last scans may still hand mail to the others
    // The resolver first: it answers what is still queued (tempfail) through the
    // transports' strands, whose deliveries then simply never resume.
    resolver.reset();
  }
};

Transports::Transports(asio::io_context& io, const Config& config, bool privileged)
    : impl_(std::make_unique<Impl>()) {
  (void)privileged;  // make_spawner() forks the root helper when we are root
  transports::LocalOptions local;
  local.pipe_timeout = config.pipe_timeout;
  local.maildir_junk = config.maildir_junk;  // issue 6
  impl_->local = std::make_unique<transports::LocalTransport>(transports::make_spawner(), local);

  transports::LdnsResolverOptions dns;
  dns.servers = config.dns_servers;
  impl_->resolver = std::make_unique<transports::LdnsResolver>(dns);

  transports::RelaySettings smtp;
  smtp.helo_name = config.myhostname;
  smtp.default_port = config.smtp_port;
  smtp.concurrency = config.delivery_concurrency;
  smtp.destination_concurrency = config.destination_concurrency;
  smtp.tls = config.smtp_tls;
  smtp.connection_cache_time = config.smtp_connection_cache_time;
  smtp.resolver = impl_->resolver.get();
  impl_->smtp = std::make_unique<transports::SmtpRelay>(io, smtp);

  transports::RelaySettings lmtp = smtp;
  lmtp.mode = transports::DestinationMode::lmtp;
  lmtp.tls = SmtpTls::none;
  impl_->lmtp = std::make_unique<transports::SmtpRelay>(io, lmtp);

  // issue 6: spam:NEXTHOP scans, then hands the marked copy to NEXTHOP's own transport.
  impl_->spam = std::make_unique<transports::SpamStage>(
      transports::SpamSettings::from(config),
      [this](std::string_view text) -> transports::Transport* {
        std::string reason;
        auto then = rewrite::parse_next_hop(text, reason);
        return then && then->kind != rewrite::HopKind::spam ? select(*then) : nullptr;
      });
}

Transports::~Transports() = default;

transports::Transport* Transports::select(const rewrite::NextHop& hop) {
  using rewrite::HopKind;
  switch (hop.kind) {
    case HopKind::relay:
    case HopKind::mx:
      return impl_->smtp.get();
    case HopKind::lmtp:
      return impl_->lmtp.get();
    case HopKind::mda:
    case HopKind::pipe:
    case HopKind::maildir:
    case HopKind::discard:
    case HopKind::error:
      return impl_->local.get();
    case HopKind::spam:  // issue 6
      return impl_->spam.get();
  }
  return nullptr;
}

void Transports::stop() {
  if (impl_->spam) impl_->spam->cancel_queued();
}

void Transports::close_idle() {
  impl_->smtp->close_idle();
  impl_->lmtp->close_idle();
}

}  // namespace mp
