// LocalTransport: next-hop dispatch and the hop to the worker pool.
#include "transports/local_transport.hpp"
#include "common/ascii.hpp"

#include <exception>

#include "transports/maildir.hpp"
#include "transports/mda.hpp"
#include "transports/pipe.hpp"
#include "transports/simple.hpp"

namespace mp::transports {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

DeliveryResult all_deferred(const DeliveryRequest& request, const std::string& text) {
  DeliveryResult out;
  for (std::size_t i = 0; i < request.recipients.size(); ++i) {
    RecipientResult r;
    r.outcome = Outcome::tempfail;
    r.relay = "local";
    r.reply = Reply{451, "4.3.0", text};
    out.push_back(r);
  }
  return out;
}

}  // namespace

std::optional<LocalKind> local_kind(std::string_view next_hop) {
  next_hop = trim(next_hop);
  if (next_hop.empty()) return std::nullopt;
  if (next_hop.front() == '|') return LocalKind::pipe;
  if (next_hop.front() == '/') return LocalKind::mda;
  if (istarts_with(next_hop, "maildir:")) return LocalKind::maildir;
  if (is_discard_hop(next_hop)) return LocalKind::discard;
  if (is_error_hop(next_hop)) return LocalKind::error;
  return std::nullopt;
}

LocalTransport::LocalTransport(std::shared_ptr<Spawner> spawner, LocalOptions options)
    : spawner_(std::move(spawner)), options_(options), pool_(options.threads) {}

LocalTransport::~LocalTransport() = default;

void LocalTransport::deliver(DeliveryRequest request, std::function<void(DeliveryResult)> done) {
  auto shared = std::make_shared<DeliveryRequest>(std::move(request));
  auto callback = std::make_shared<std::function<void(DeliveryResult)>>(std::move(done));
  pool_.post(
      [this, shared, callback] {
        DeliveryResult result;
        try {
          result = deliver_now(*shared);
        } catch (const std::exception& e) {
          result = all_deferred(*shared, std::string("local delivery failed: ") + e.what());
        } catch (...) {
          result = all_deferred(*shared, "local delivery failed");
        }
        (*callback)(std::move(result));
      },
      [shared, callback] {
        (*callback)(all_deferred(*shared, "local delivery cancelled: shutting down"));
      });
}

DeliveryResult LocalTransport::deliver_now(const DeliveryRequest& request) {
  DeliveryResult out;
  out.reserve(request.recipients.size());
  for (const auto& rcpt : request.recipients) out.push_back(deliver_one(request, rcpt));
  return out;
}

RecipientResult LocalTransport::deliver_one(const DeliveryRequest& request,
                                            const RecipientRef& rcpt) {
  std::string_view hop = trim(request.next_hop);
  auto kind = local_kind(hop);
  if (!kind) {
    RecipientResult r;
    r.outcome = Outcome::tempfail;
    r.relay = "local";
    r.reply = Reply{451, "4.3.5", "next hop '" + std::string(hop) + "' is not a local transport"};
    return r;
  }
  switch (*kind) {
    case LocalKind::pipe:
      return deliver_pipe(hop, options_.pipe_timeout, request, rcpt, *spawner_);
    case LocalKind::mda:
      return deliver_mda(hop, options_.pipe_timeout, request, rcpt, *spawner_);
    case LocalKind::maildir:
      // issue 6: mail the spam stage flagged goes into maildir_junk (when set).
      return deliver_maildir(hop.substr(8), request.junk ? options_.maildir_junk : std::string(),
                             request, rcpt, *spawner_);
    case LocalKind::discard:
      return discard_result(hop);
    case LocalKind::error:
      return error_result(hop);
  }
  return RecipientResult{};
}

}  // namespace mp::transports
