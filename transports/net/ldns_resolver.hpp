// LdnsResolver — the production transports::Resolver (DESIGN seam 4) over ldns.
//
// Created once by mailprocd from the `dns_servers` setting; used by the MX
// delivery (transports/net/) from any thread. Invariants:
//   - ldns calls block, so they run only on the resolver's own worker threads,
//     never on the caller's thread; every callback is called exactly once, on a
//     worker thread (or, for queries still queued when the resolver is
//     destroyed, on the destroying thread with a tempfail "resolver stopped").
//   - names are queried as absolute names (no search list, no default domain),
//     recursion desired, DNSSEC off; a truncated UDP answer is retried over TCP.
//   - NOERROR with records of the type → ok; NOERROR without → nodata; NXDOMAIN →
//     nxdomain; SERVFAIL, REFUSED, other RCODEs, timeouts, network errors →
//     tempfail with a text for logs and replies. An answer whose ID or question
//     differs from the query is a tempfail too. A name that cannot be a DNS
//     name (empty label, > 63/253 octets, characters other than letters,
//     digits, '-', '_') is nxdomain without a query.
//   - resolve_addresses asks A and AAAA in parallel: ok when either has data
//     (IPv4 addresses first, then IPv6, each in the server's order); else
//     nxdomain if either says so; else tempfail if either failed; else nodata.
//     MX exchanges come back lower case without the trailing dot ("" for ".").
//   - answers are cached per (name, type) for the smallest TTL of the records
//     (capped at max_ttl); negative answers (nxdomain, nodata) for
//     min(SOA TTL, SOA minimum) from the authority section, capped at
//     negative_ttl_cap, and not cached at all without an SOA; tempfail is never
//     cached. Identical queries in flight at once share one network query.
//   - thread safe. Not to be destroyed from one of its own callbacks (the
//     destructor joins the worker threads).
// Servers: `servers` empty → /etc/resolv.conf (or `resolv_conf`) via
// ldns_resolver_new_frm_file. ldns has ONE port for all servers
// (ldns_resolver_set_port): the port used is that of the first entry with a
// non-zero port, else 53; entries naming another port are still queried on that
// one (mailprocd check may warn about it). Server hosts must be IP literals
// (else the constructor throws std::invalid_argument). Each query builds a
// fresh ldns resolver (ldns would otherwise shun a server for good after one
// failure), so resolv.conf edits are followed. Timeouts: `timeout` per try,
// 1 + `retries` tries per server, servers in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "transports/resolver.hpp"

namespace mp::transports {

struct LdnsResolverOptions {
  std::vector<HostPort> servers;               // empty: resolv_conf
  std::string resolv_conf;                     // empty: /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};     // per try (UDP or TCP)
  unsigned retries = 2;                        // tries per server: 1 + retries
  unsigned threads = 4;                        // worker threads (blocking ldns calls)
  std::chrono::seconds max_ttl{86400};         // cap for positive answers
  std::chrono::seconds negative_ttl_cap{300};  // cap for nxdomain/nodata
};

class LdnsResolver final : public Resolver {
 public:
  explicit LdnsResolver(LdnsResolverOptions options);
  ~LdnsResolver() override;  // stops the workers; see the invariants above
  LdnsResolver(const LdnsResolver&) = delete;
  LdnsResolver& operator=(const LdnsResolver&) = delete;

  void resolve_mx(const std::string& domain, std::function<void(MxAnswer)> done) override;
  void resolve_addresses(const std::string& host, std::function<void(AddressAnswer)> done) override;

  // For tests and statistics: DNS queries actually sent (cache misses; A and
  // AAAA count as two), and emptying the cache.
  std::uint64_t queries_sent() const;
  void clear_cache();

 private:
  struct Impl;  // ldns_resolver.cpp: the worker threads, the cache, queries in flight
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::transports
