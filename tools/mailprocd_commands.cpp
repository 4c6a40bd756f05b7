// `mailprocd check`, `mailprocd config`, `mailprocd route`.
#include "tools/mailprocd_commands.hpp"

#include <algorithm>
#include <future>
#include <iostream>
#include <set>

#include "common/address.hpp"
#include "common/ascii.hpp"
#include "common/config_keys.hpp"
#include "rewrite/route_format.hpp"
#include "rewrite/router.hpp"
#include "transports/net/ldns_resolver.hpp"

namespace mp::commands {
namespace {

void print_errors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors) std::cerr << e << "\n";
}

// --resolve: synchronous answers from the resolver's worker threads.
class DnsLookup {
 public:
  explicit DnsLookup(const Config& config) : resolver_(options(config)) {}

  transports::MxAnswer mx(const std::string& domain) {
    std::promise<transports::MxAnswer> answer;
    resolver_.resolve_mx(domain, [&answer](transports::MxAnswer a) { answer.set_value(a); });
    return answer.get_future().get();
  }
  transports::AddressAnswer addresses(const std::string& host) {
    std::promise<transports::AddressAnswer> answer;
    resolver_.resolve_addresses(host,
                                [&answer](transports::AddressAnswer a) { answer.set_value(a); });
    return answer.get_future().get();
  }

 private:
  static transports::LdnsResolverOptions options(const Config& config) {
    transports::LdnsResolverOptions o;
    o.servers = config.dns_servers;
    return o;
  }
  transports::LdnsResolver resolver_;
};

std::string failure(transports::DnsStatus status, const std::string& error) {
  switch (status) {
    case transports::DnsStatus::nxdomain:
      return "no such domain (mail bounces)";
    case transports::DnsStatus::nodata:
      return "no address record (mail bounces)";
    case transports::DnsStatus::tempfail:
      return "DNS lookup failed: " + error + " (mail is deferred)";
    case transports::DnsStatus::ok:
      break;
  }
  return "";
}

// "HOST ADDR ADDR..." or "HOST: what failed".
std::string host_addresses(DnsLookup& dns, const std::string& host) {
  transports::AddressAnswer a = dns.addresses(host);
  if (a.status != transports::DnsStatus::ok) return host + ": " + failure(a.status, a.error);
  std::string out = host;
  for (const std::string& addr : a.addresses) out += " " + addr;
  return out;
}

// The lines under a route for --resolve: what MX delivery or a host list would connect to.
void print_resolved(DnsLookup& dns, const rewrite::Route& route) {
  const rewrite::NextHop& hop = route.hop.final_hop();
  if (hop.kind == rewrite::HopKind::relay) {
    for (const HostPort& h : hop.hosts)
      std::cout << "  host " << host_addresses(dns, h.host) << "\n";
    return;
  }
  if (hop.kind != rewrite::HopKind::mx) return;
  std::string domain = hop.domain.empty() ? ascii_lower(route.rewritten.domain) : hop.domain;
  std::string prefix = "  mx " + domain + ": ";
  transports::MxAnswer mx = dns.mx(domain);
  if (mx.status == transports::DnsStatus::nodata) {
    std::cout << prefix << "no MX record, A/AAAA fallback: " << host_addresses(dns, domain) << "\n";
    return;
  }
  if (mx.status != transports::DnsStatus::ok) {
    std::cout << prefix << failure(mx.status, mx.error) << "\n";
    return;
  }
  std::vector<transports::MxRecord> records = mx.records;
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  for (const transports::MxRecord& r : records) {
    if (r.exchange.empty()) {
      std::cout << prefix << "null MX (RFC 7505): the domain accepts no mail (mail bounces)\n";
      return;
    }
    std::cout << prefix << r.preference << " " << host_addresses(dns, r.exchange) << "\n";
  }
}

// Mail for a domain delivered here (local transports, LMTP) must be accepted from anyone.
bool delivered_here(const rewrite::Route& route) {
  return route.local() || route.hop.final_hop().kind == rewrite::HopKind::lmtp;
}

}  // namespace

int check(const std::filesystem::path& config_file) {
  std::vector<std::string> errors;
  Config config = load_config_collecting(config_file, errors);
  try {
    rewrite::Router router(config);  // the map files the keys that parsed name
  } catch (const ConfigError& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  }
  if (!errors.empty()) {
    print_errors(errors);
    return 1;
  }
  std::cout << "ok\n";
  return 0;
}

int config(const std::filesystem::path& config_file, bool defaults,
           const std::vector<std::string>& keys) {
  for (const std::string& k : keys) {
    if (!find_config_key(k)) {
      std::cerr << "mailprocd: config: unknown key '" << k << "'\n";
      return 1;
    }
  }
  std::optional<Config> loaded;
  if (!defaults) loaded = load_config(config_file);  // throws ConfigError: every FILE:LINE
  for (const ConfigKey& key : config_keys()) {
    bool picked = keys.empty() || std::find(keys.begin(), keys.end(), key.name) != keys.end();
    if (!picked) continue;
    if (defaults) {
      std::cout << config_line(key.name, default_value(key)) << "\n";
    } else if (!keys.empty() || loaded->set_in_file.contains(key.name)) {
      std::cout << config_line(key.name, effective_value(*loaded, key)) << "\n";
    }
  }
  return 0;
}

int route(const Config& config, const RouteOptions& options,
          const std::vector<std::string>& addresses) {
  rewrite::Router router(config);
  std::optional<DnsLookup> dns;
  if (options.resolve) dns.emplace(config);
  PathOptions opts;
  opts.allow_utf8 = true;
  opts.allow_postmaster = true;
  std::string error;
  Address sender;
  if (!options.from.empty()) {
    PathOptions sopts = opts;
    sopts.allow_null = true;
    auto parsed = parse_address(options.from, sopts, error);
    if (!parsed) {
      std::cerr << "mailprocd: route: bad sender '" << options.from << "': " << error << "\n";
      return 1;
    }
    sender = *parsed;
    std::string rule;
    Address rewritten = router.rewrite_sender(sender, &rule);
    std::cout << rewrite::format_sender(sender, rewritten, rule) << "\n";
  }
  int status = 0;
  std::set<std::string> warned;
  for (const std::string& a : addresses) {
    auto parsed = parse_address(a, opts, error);
    if (!parsed) {
      std::cerr << "mailprocd: route: bad address '" << a << "': " << error << "\n";
      status = 1;
      continue;
    }
    rewrite::Route route = router.resolve(sender, *parsed);
    std::string line = rewrite::format_route(a, route);
    if (!route.reject && !route.unix_user.empty()) {
      // What the delivery would run or write; %i (the queue ID) is known only then.
      auto values = rewrite::placeholder_values(route.rewritten, sender, route.unix_user, "%i");
      line += " expanded=" +
              rewrite::format_value(rewrite::expand_placeholders(route.next_hop(), values));
    }
    std::cout << line << "\n";
    if (dns && !route.reject) print_resolved(*dns, route);
    std::string domain = ascii_lower(parsed->domain);
    if (!domain.empty() && delivered_here(route) && !config.relay_domain_matches(domain) &&
        warned.insert(domain).second) {
      std::cerr << "mailprocd: route: warning: " << domain
                << " is delivered here but is not in relay_domains: mail for it from clients "
                   "outside mynetworks is refused (554 5.7.1 Relay access denied)\n";
    }
  }
  return status;
}

}  // namespace mp::commands
