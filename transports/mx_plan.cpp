#include "transports/mx_plan.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>

namespace mp::transports {

namespace {

Reply make_reply(int code, const char* status, std::string text) {
  Reply r;
  r.code = code;
  r.status = status;
  r.text = std::move(text);
  return r;
}

MxPlan final_plan(MxPlan::Kind kind, Reply reply) {
  MxPlan plan;
  plan.kind = kind;
  plan.reply = std::move(reply);
  return plan;
}

MxPlan loop_plan(const std::string& domain) {
  return final_plan(MxPlan::Kind::permfail,
                    make_reply(554, "5.4.6", "mail for " + domain + " loops back to myself"));
}

// Fisher–Yates over [first, last) with the hook.
void shuffle_range(std::vector<MxRecord>& v, std::size_t first, std::size_t last,
                   const MxPick& pick) {
  for (std::size_t n = last - first; n > 1; --n) {
    unsigned j = pick(static_cast<unsigned>(n));
    if (j >= n) j = static_cast<unsigned>(n - 1);  // a misbehaving hook stays in range
    std::swap(v[first + n - 1], v[first + j]);
  }
}

}  // namespace

std::string normalize_host_name(const std::string& name) {
  std::string out = name;
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

MxPick default_mx_pick() {
  return [](unsigned n) -> unsigned {
    thread_local std::mt19937 rng{std::random_device{}()};
    if (n == 0) return 0;
    return std::uniform_int_distribution<unsigned>(0, n - 1)(rng);
  };
}

MxPlan plan_mx(const std::string& domain_in, const MxAnswer& mx, const std::string& myhostname,
               const MxPick& pick_in) {
  const std::string domain = normalize_host_name(domain_in);
  const std::string me = normalize_host_name(myhostname);

  switch (mx.status) {
    case DnsStatus::nxdomain:
      return final_plan(MxPlan::Kind::permfail,
                        make_reply(550, "5.1.2",
                                   "Host or domain name not found. Name service error for name=" +
                                       domain + " type=MX: Host not found"));
    case DnsStatus::tempfail:
      return final_plan(
          MxPlan::Kind::tempfail,
          make_reply(451, "4.4.3",
                     "Host or domain name lookup for " + domain + " type=MX failed: " +
                         (mx.error.empty() ? std::string("temporary DNS failure") : mx.error)));
    case DnsStatus::nodata:
      break;
    case DnsStatus::ok:
      break;
  }

  std::vector<MxRecord> records;
  if (mx.status == DnsStatus::ok) {
    records.reserve(mx.records.size());
    for (const auto& r : mx.records)
      records.push_back({r.preference, normalize_host_name(r.exchange)});
    // RFC 7505: a null MX is the only record of the domain.
    if (records.size() == 1 && records.front().exchange.empty())
      return final_plan(MxPlan::Kind::permfail,
                        make_reply(556, "5.1.10",
                                   "Recipient address rejected: Domain " + domain +
                                       " does not accept mail (nullMX)"));
    std::erase_if(records, [](const MxRecord& r) { return r.exchange.empty(); });
  }

  if (records.empty()) {  // nodata, or ok without a usable record: implicit MX
    if (!me.empty() && domain == me) return loop_plan(domain);
    MxPlan plan;
    plan.kind = MxPlan::Kind::hosts;
    plan.hosts.push_back(domain);
    return plan;
  }

  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  // A host listed twice keeps its best (first, after sorting) preference.
  {
    std::vector<MxRecord> unique;
    for (auto& r : records) {
      bool seen = std::any_of(unique.begin(), unique.end(),
                              [&](const MxRecord& u) { return u.exchange == r.exchange; });
      if (!seen) unique.push_back(std::move(r));
    }
    records = std::move(unique);
  }

  // RFC 5321 §5.1: myself and every host not better than myself are dropped.
  if (!me.empty()) {
    auto mine = std::find_if(records.begin(), records.end(),
                             [&](const MxRecord& r) { return r.exchange == me; });
    if (mine != records.end()) {
      const auto limit = mine->preference;
      std::erase_if(records, [&](const MxRecord& r) { return r.preference >= limit; });
      if (records.empty()) return loop_plan(domain);
    }
  }

  const MxPick pick = pick_in ? pick_in : default_mx_pick();
  for (std::size_t first = 0; first < records.size();) {
    std::size_t last = first + 1;
    while (last < records.size() && records[last].preference == records[first].preference) ++last;
    shuffle_range(records, first, last, pick);
    first = last;
  }

  MxPlan plan;
  plan.kind = MxPlan::Kind::hosts;
  for (auto& r : records) {
    if (plan.hosts.size() == max_mx_hosts) break;
    plan.hosts.push_back(std::move(r.exchange));
  }
  return plan;
}

AddressPlan plan_addresses(const std::string& host_in, const AddressAnswer& answer) {
  const std::string host = normalize_host_name(host_in);
  AddressPlan plan;
  auto fail = [&](AddressPlan::Kind kind, Reply reply) {
    plan.kind = kind;
    plan.reply = std::move(reply);
    return plan;
  };
  switch (answer.status) {
    case DnsStatus::ok:
      for (const auto& a : answer.addresses)
        if (!a.empty() &&
            std::find(plan.addresses.begin(), plan.addresses.end(), a) == plan.addresses.end())
          plan.addresses.push_back(a);
      if (!plan.addresses.empty()) {
        plan.kind = AddressPlan::Kind::addresses;
        return plan;
      }
      [[fallthrough]];
    case DnsStatus::nodata:
      return fail(AddressPlan::Kind::permfail,
                  make_reply(550, "5.1.2",
                             "Host or domain name not found. Name service error for name=" + host +
                                 " type=A: No address associated with hostname"));
    case DnsStatus::nxdomain:
      return fail(AddressPlan::Kind::permfail,
                  make_reply(550, "5.1.2",
                             "Host or domain name not found. Name service error for name=" + host +
                                 " type=A: Host not found"));
    case DnsStatus::tempfail:
      break;
  }
  return fail(
      AddressPlan::Kind::tempfail,
      make_reply(451, "4.4.3",
                 "Host or domain name lookup for " + host + " failed: " +
                     (answer.error.empty() ? std::string("temporary DNS failure") : answer.error)));
}

}  // namespace mp::transports
