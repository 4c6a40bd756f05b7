// transports::Resolver — DESIGN seam 4: the DNS answers SMTP delivery needs,
// with the distinctions that decide between bouncing and retrying:
//   ok (answer), nxdomain (no such domain: bounce), nodata (the name exists
//   but has no record of that type), tempfail (SERVFAIL, timeout, network:
//   retry, never bounce).
// Implementations: transports/net/ldns_resolver (ldns, never blocking the
// network threads, TTL-bounded cache) and a fake for unit tests
// (tests/unit/transports/fake_resolver.hpp). Callbacks may run on any thread
// and are called exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mp::transports {

enum class DnsStatus { ok, nxdomain, nodata, tempfail };

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // host name without the trailing dot; "" for a null MX (RFC 7505 ".")
};

struct MxAnswer {
  DnsStatus status = DnsStatus::tempfail;
  std::vector<MxRecord> records;  // as received (unordered)
  std::string error;              // for tempfail: what went wrong, for logs and replies
};

struct AddressAnswer {
  DnsStatus status = DnsStatus::tempfail;
  std::vector<std::string> addresses;  // IPv6 and IPv4 literals ("::1", "127.0.0.1")
  std::string error;
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual void resolve_mx(const std::string& domain, std::function<void(MxAnswer)> done) = 0;
  // A and AAAA together: ok when either has data; nxdomain when the name does not exist.
  virtual void resolve_addresses(const std::string& host,
                                 std::function<void(AddressAnswer)> done) = 0;
};

}  // namespace mp::transports
