#include "transports/net/ldns_resolver.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "transports/mx_plan.hpp"

namespace mp::transports {

namespace {

using Clock = std::chrono::steady_clock;

enum class QType { a, aaaa, mx };

ldns_rr_type rr_type(QType t) {
  switch (t) {
    case QType::a:
      return LDNS_RR_TYPE_A;
    case QType::aaaa:
      return LDNS_RR_TYPE_AAAA;
    case QType::mx:
      break;
  }
  return LDNS_RR_TYPE_MX;
}

const char* type_name(QType t) {
  switch (t) {
    case QType::a:
      return "A";
    case QType::aaaa:
      return "AAAA";
    case QType::mx:
      break;
  }
  return "MX";
}

// One (name, type) answer, as cached.
struct Raw {
  DnsStatus status = DnsStatus::tempfail;
  std::vector<MxRecord> mx;
  std::vector<std::string> addresses;
  std::string error;
};

Raw raw_status(DnsStatus status, std::string error) {
  Raw r;
  r.status = status;
  r.error = std::move(error);
  return r;
}

struct ResolverFree {
  void operator()(ldns_resolver* r) const { ldns_resolver_deep_free(r); }
};
struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct RrListFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
using ResolverPtr = std::unique_ptr<ldns_resolver, ResolverFree>;
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using RrListPtr = std::unique_ptr<ldns_rr_list, RrListFree>;

std::string rdf_text(const ldns_rdf* rdf) {
  if (rdf == nullptr) return {};
  char* s = ldns_rdf2str(rdf);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  return out;
}

bool is_ipv6_literal(const std::string& host) {
  return host.find(':') != std::string::npos;
}

// A syntactically possible DNS name (RFC 1035 lengths); letters, digits, '-',
// '_' and '.' only, so nothing reaches ldns's escape parser.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

std::uint16_t random_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<std::uint16_t>(std::uniform_int_distribution<unsigned>(0, 0xffff)(rng));
}

}  // namespace

struct LdnsResolver::Impl {
  explicit Impl(LdnsResolverOptions opts);
  ~Impl();

  void lookup(const std::string& name, QType type, std::function<void(Raw)> done);
  void run_query(const std::string& name, QType type);
  std::pair<Raw, std::chrono::seconds> query(const std::string& name, QType type);
  ResolverPtr make_resolver(std::string& error) const;
  void complete(const std::string& key, Raw raw, std::chrono::seconds ttl);

  void worker(std::deque<std::function<void()>>& jobs);
  void post(std::deque<std::function<void()>>& jobs, std::function<void()> job);

  using Waiters = std::vector<std::function<void(Raw)>>;
  struct Entry {
    Raw raw;
    Clock::time_point expires;
  };
  static constexpr std::size_t max_cache_entries = 20000;

  LdnsResolverOptions options;
  std::uint16_t port = 53;
  std::atomic<std::uint64_t> sent{0};

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::map<std::string, Entry> cache;             // key: "MX name", "A name", "AAAA name"
  std::map<std::string, Waiters> inflight;        // same keys: queries on their way
  std::deque<std::function<void()>> query_jobs;   // blocking ldns calls
  std::deque<std::function<void()>> answer_jobs;  // callbacks of cached answers
  std::vector<std::thread> threads;
};

LdnsResolver::Impl::Impl(LdnsResolverOptions opts) : options(std::move(opts)) {
  for (const auto& s : options.servers) {
    ldns_rdf* probe = ldns_rdf_new_frm_str(
        is_ipv6_literal(s.host) ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, s.host.c_str());
    if (probe == nullptr)
      throw std::invalid_argument("dns_servers: '" + s.host + "' is not an IP address");
    ldns_rdf_deep_free(probe);
  }
  auto with_port = std::find_if(options.servers.begin(), options.servers.end(),
                                [](const HostPort& s) { return s.port != 0; });
  if (with_port != options.servers.end()) port = with_port->port;
  if (options.timeout.count() <= 0) options.timeout = std::chrono::milliseconds(1);
  const unsigned n = std::max(1u, options.threads);
  for (unsigned i = 0; i < n; ++i) threads.emplace_back([this] { worker(query_jobs); });
  threads.emplace_back([this] { worker(answer_jobs); });
}

LdnsResolver::Impl::~Impl() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  for (auto& t : threads) t.join();
  // Workers are gone: what is left runs here. A queued query answers its
  // waiters with a tempfail (see run_query); a cached answer is just delivered.
  for (auto* jobs : {&answer_jobs, &query_jobs})
    while (!jobs->empty()) {
      auto job = std::move(jobs->front());
      jobs->pop_front();
      job();
    }
}

void LdnsResolver::Impl::worker(std::deque<std::function<void()>>& jobs) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !jobs.empty(); });
      if (stopping) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    job();
  }
}

void LdnsResolver::Impl::post(std::deque<std::function<void()>>& jobs, std::function<void()> job) {
  {
    std::lock_guard lock(mutex);
    jobs.push_back(std::move(job));
  }
  wake.notify_all();
}

void LdnsResolver::Impl::lookup(const std::string& name_in, QType type,
                                std::function<void(Raw)> done) {
  const std::string name = normalize_host_name(name_in);
  if (!valid_name(name)) {
    Raw bad = raw_status(DnsStatus::nxdomain, "invalid domain name '" + name_in + "'");
    post(answer_jobs,
         [done = std::move(done), bad = std::move(bad)]() mutable { done(std::move(bad)); });
    return;
  }
  const std::string key = std::string(type_name(type)) + " " + name;
  bool start = false;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) {
      if (it->second.expires > Clock::now()) {
        answer_jobs.push_back(
            [done = std::move(done), raw = it->second.raw]() mutable { done(std::move(raw)); });
        wake.notify_all();
        return;
      }
      cache.erase(it);
    }
    auto& waiters = inflight[key];
    start = waiters.empty();
    waiters.push_back(std::move(done));
    if (start) query_jobs.push_back([this, name, type] { run_query(name, type); });
  }
  if (start) wake.notify_all();
}

void LdnsResolver::Impl::run_query(const std::string& name, QType type) {
  const std::string key = std::string(type_name(type)) + " " + name;
  bool stopped = false;
  {
    std::lock_guard lock(mutex);
    stopped = stopping;
  }
  if (stopped) {
    complete(key, raw_status(DnsStatus::tempfail, "resolver stopped"), std::chrono::seconds(0));
    return;
  }
  auto [raw, ttl] = query(name, type);
  complete(key, std::move(raw), ttl);
}

void LdnsResolver::Impl::complete(const std::string& key, Raw raw, std::chrono::seconds ttl) {
  Waiters waiters;
  {
    std::lock_guard lock(mutex);
    if (auto it = inflight.find(key); it != inflight.end()) {
      waiters = std::move(it->second);
      inflight.erase(it);
    }
    if (ttl.count() > 0 && raw.status != DnsStatus::tempfail) {
      if (cache.size() >= max_cache_entries) {
        const auto now = Clock::now();
        std::erase_if(cache, [&](const auto& kv) { return kv.second.expires <= now; });
        if (cache.size() >= max_cache_entries) cache.clear();
      }
      cache[key] = Entry{raw, Clock::now() + ttl};
    }
  }
  for (auto& w : waiters) w(raw);
}

ResolverPtr LdnsResolver::Impl::make_resolver(std::string& error) const {
  ldns_resolver* raw = nullptr;
  if (options.servers.empty()) {
    const std::string file = options.resolv_conf.empty() ? "/etc/resolv.conf" : options.resolv_conf;
    ldns_status st = ldns_resolver_new_frm_file(&raw, file.c_str());
    if (st != LDNS_STATUS_OK || raw == nullptr) {
      error = "cannot use " + file + ": " + ldns_get_errorstr_by_id(st);
      return nullptr;
    }
  } else {
    raw = ldns_resolver_new();
    if (raw == nullptr) {
      error = "out of memory";
      return nullptr;
    }
  }
  ResolverPtr res(raw);
  for (const auto& s : options.servers) {
    RdfPtr addr(ldns_rdf_new_frm_str(is_ipv6_literal(s.host) ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
                                     s.host.c_str()));
    if (!addr || ldns_resolver_push_nameserver(res.get(), addr.get()) != LDNS_STATUS_OK) {
      error = "bad DNS server " + s.host;
      return nullptr;
    }
  }
  if (ldns_resolver_nameserver_count(res.get()) == 0) {
    error = "no DNS server configured";
    return nullptr;
  }
  if (!options.servers.empty()) ldns_resolver_set_port(res.get(), port);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(options.timeout).count();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  ldns_resolver_set_timeout(res.get(), tv);
  // ldns's "retry" is the number of tries per server.
  ldns_resolver_set_retry(res.get(),
                          static_cast<std::uint8_t>(std::min(options.retries + 1, 255u)));
  ldns_resolver_set_retrans(res.get(), 0);      // no sleep between servers
  ldns_resolver_set_fallback(res.get(), true);  // TC=1: EDNS0 4096, then TCP
  ldns_resolver_set_usevc(res.get(), false);
  ldns_resolver_set_dnssec(res.get(), false);
  ldns_resolver_set_dnssec_cd(res.get(), false);
  ldns_resolver_set_defnames(res.get(), false);
  ldns_resolver_set_dnsrch(res.get(), false);
  ldns_resolver_set_recursive(res.get(), true);
  ldns_resolver_set_random(res.get(), false);  // servers in the configured order
  ldns_resolver_set_fail(res.get(), false);    // a dead server: go on with the next
  return res;
}

// The blocking part, on a query worker. A fresh ldns resolver per query: ldns
// marks a server that failed once as unreachable for the life of the resolver
// object, and re-reading resolv.conf follows its changes.
std::pair<Raw, std::chrono::seconds> LdnsResolver::Impl::query(const std::string& name,
                                                               QType type) {
  using std::chrono::seconds;
  std::string error;
  ResolverPtr res = make_resolver(error);
  if (!res) return {raw_status(DnsStatus::tempfail, error), seconds(0)};

  RdfPtr dname(ldns_dname_new_frm_str((name + ".").c_str()));
  if (!dname)
    return {raw_status(DnsStatus::nxdomain, "invalid domain name '" + name + "'"), seconds(0)};

  const ldns_rr_type t = rr_type(type);
  ldns_pkt* q_raw = nullptr;
  ldns_status st =
      ldns_resolver_prepare_query_pkt(&q_raw, res.get(), dname.get(), t, LDNS_RR_CLASS_IN, LDNS_RD);
  PktPtr q(q_raw);
  if (st != LDNS_STATUS_OK || !q)
    return {raw_status(DnsStatus::tempfail,
                       std::string("cannot build query: ") + ldns_get_errorstr_by_id(st)),
            seconds(0)};
  ldns_pkt_set_id(q.get(), random_id());

  ldns_pkt* a_raw = nullptr;
  sent.fetch_add(1, std::memory_order_relaxed);
  st = ldns_resolver_send_pkt(&a_raw, res.get(), q.get());
  PktPtr answer(a_raw);
  if (st != LDNS_STATUS_OK || !answer) {
    const char* why = st == LDNS_STATUS_OK ? "no answer" : ldns_get_errorstr_by_id(st);
    return {raw_status(DnsStatus::tempfail,
                       std::string("no answer from the DNS servers (") + why + ")"),
            seconds(0)};
  }

  // The answer must be to this query: same ID and, when echoed, same question.
  if (ldns_pkt_id(answer.get()) != ldns_pkt_id(q.get()))
    return {raw_status(DnsStatus::tempfail, "DNS answer with a mismatched ID"), seconds(0)};
  if (const ldns_rr_list* question = ldns_pkt_question(answer.get());
      question != nullptr && ldns_rr_list_rr_count(question) > 0) {
    const ldns_rr* qrr = ldns_rr_list_rr(question, 0);
    if (ldns_rr_get_type(qrr) != t || ldns_dname_compare(ldns_rr_owner(qrr), dname.get()) != 0)
      return {raw_status(DnsStatus::tempfail, "DNS answer to another question"), seconds(0)};
  }

  auto negative_ttl = [&]() -> seconds {
    RrListPtr soas(
        ldns_pkt_rr_list_by_type(answer.get(), LDNS_RR_TYPE_SOA, LDNS_SECTION_AUTHORITY));
    if (!soas || ldns_rr_list_rr_count(soas.get()) == 0)
      return seconds(0);  // RFC 2308: no SOA, no caching
    const ldns_rr* soa = ldns_rr_list_rr(soas.get(), 0);
    std::uint32_t ttl = ldns_rr_ttl(soa);
    if (const ldns_rdf* minimum = ldns_rr_rdf(soa, 6); minimum != nullptr)
      ttl = std::min(ttl, ldns_rdf2native_int32(minimum));
    return std::min(seconds(ttl), options.negative_ttl_cap);
  };

  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(answer.get());
  if (rcode == LDNS_RCODE_NXDOMAIN)
    return {raw_status(DnsStatus::nxdomain, "host not found (NXDOMAIN)"), negative_ttl()};
  if (rcode != LDNS_RCODE_NOERROR) {
    const char* what = rcode == LDNS_RCODE_SERVFAIL  ? "server failure (SERVFAIL)"
                       : rcode == LDNS_RCODE_REFUSED ? "query refused (REFUSED)"
                                                     : nullptr;
    std::string text =
        what != nullptr ? what : "DNS error RCODE " + std::to_string(static_cast<int>(rcode));
    return {raw_status(DnsStatus::tempfail, text), seconds(0)};
  }
  if (ldns_pkt_tc(answer.get()))  // still truncated after the TCP fallback
    return {raw_status(DnsStatus::tempfail, "truncated DNS answer"), seconds(0)};

  RrListPtr records(ldns_pkt_rr_list_by_type(answer.get(), t, LDNS_SECTION_ANSWER));
  const std::size_t count = records ? ldns_rr_list_rr_count(records.get()) : 0;
  if (count == 0)
    return {raw_status(DnsStatus::nodata, "no " + std::string(type_name(type)) + " record"),
            negative_ttl()};

  Raw raw;
  raw.status = DnsStatus::ok;
  std::uint32_t ttl =
      static_cast<std::uint32_t>(std::min<std::int64_t>(options.max_ttl.count(), 0xffffffffLL));
  // CNAMEs leading to the records bound the TTL too.
  if (const ldns_rr_list* all = ldns_pkt_answer(answer.get()); all != nullptr)
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(all); ++i)
      ttl = std::min(ttl, ldns_rr_ttl(ldns_rr_list_rr(all, i)));
  for (std::size_t i = 0; i < count; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(records.get(), i);
    if (type == QType::mx) {
      const ldns_rdf* pref = ldns_rr_mx_preference(rr);
      const ldns_rdf* exchange = ldns_rr_mx_exchange(rr);
      if (pref == nullptr || exchange == nullptr) continue;
      raw.mx.push_back({ldns_rdf2native_int16(pref), normalize_host_name(rdf_text(exchange))});
    } else {
      std::string text = rdf_text(ldns_rr_a_address(rr));
      if (!text.empty()) raw.addresses.push_back(std::move(text));
    }
  }
  if (raw.mx.empty() && raw.addresses.empty())
    return {raw_status(DnsStatus::tempfail, "malformed DNS answer"), seconds(0)};
  return {std::move(raw), seconds(ttl)};
}

// ---------------------------------------------------------------------------

LdnsResolver::LdnsResolver(LdnsResolverOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

LdnsResolver::~LdnsResolver() = default;

void LdnsResolver::resolve_mx(const std::string& domain, std::function<void(MxAnswer)> done) {
  impl_->lookup(domain, QType::mx, [done = std::move(done)](Raw raw) {
    MxAnswer answer;
    answer.status = raw.status;
    answer.records = std::move(raw.mx);
    answer.error = std::move(raw.error);
    done(std::move(answer));
  });
}

namespace {

// A and AAAA answers meet here; the second one to arrive answers.
struct AddressJoin {
  std::mutex mutex;
  std::optional<Raw> a, aaaa;
  std::function<void(AddressAnswer)> done;

  void arrive(bool is_a, Raw raw) {
    std::optional<Raw> first, second;
    {
      std::lock_guard lock(mutex);
      (is_a ? a : aaaa) = std::move(raw);
      if (!a || !aaaa) return;
      first = std::move(a);
      second = std::move(aaaa);
    }
    done(combine(*first, *second));
  }

  // ok if either has data (IPv4 first); else nxdomain if either says the name
  // does not exist; else tempfail if either failed; else nodata.
  static AddressAnswer combine(const Raw& v4, const Raw& v6) {
    AddressAnswer out;
    if (v4.status == DnsStatus::ok || v6.status == DnsStatus::ok) {
      out.status = DnsStatus::ok;
      for (const Raw* r : {&v4, &v6})
        if (r->status == DnsStatus::ok)
          out.addresses.insert(out.addresses.end(), r->addresses.begin(), r->addresses.end());
      return out;
    }
    for (DnsStatus s : {DnsStatus::nxdomain, DnsStatus::tempfail}) {
      if (v4.status == s || v6.status == s) {
        out.status = s;
        out.error = v4.status == s ? v4.error : v6.error;
        return out;
      }
    }
    out.status = DnsStatus::nodata;
    out.error = "no A or AAAA record";
    return out;
  }
};

}  // namespace

void LdnsResolver::resolve_addresses(const std::string& host,
                                     std::function<void(AddressAnswer)> done) {
  auto join = std::make_shared<AddressJoin>();
  join->done = std::move(done);
  impl_->lookup(host, QType::a, [join](Raw raw) { join->arrive(true, std::move(raw)); });
  impl_->lookup(host, QType::aaaa, [join](Raw raw) { join->arrive(false, std::move(raw)); });
}

std::uint64_t LdnsResolver::queries_sent() const {
  return impl_->sent.load(std::memory_order_relaxed);
}

void LdnsResolver::clear_cache() {
  std::lock_guard lock(impl_->mutex);
  impl_->cache.clear();
}

}  // namespace mp::transports
