// libFuzzer target for smtpd::parse_proxy_header (PROXY protocol v1/v2).
// Aborts when a result breaks the parser's contract (smtpd/proxy_protocol.hpp):
//   need_more: needed ≥ 1 and the header, if any, can still fit (v1 ≤ 107 bytes,
//              v2 ≤ 16 + 65535): reading `needed` bytes never reads past it;
//   done:      consumed within the input and within the version's bounds; a
//              non-local header has a valid, canonical source address; parsing
//              exactly the header's bytes gives the same answer, and every shorter
//              prefix asks for more without asking past the header's end;
//   error:     a one-line, printable reason; more input never turns it into success.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtpd/proxy_protocol.hpp"

namespace {

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "proxy_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                      \
    }                                                                    \
  } while (0)

using mp::smtpd::parse_proxy_header;
using mp::smtpd::ProxyParse;
using Status = ProxyParse::Status;

constexpr std::size_t kV2Max = 16 + 65535;

bool canonical_ip(const std::string& text) {
  unsigned char buf[16];
  char back[INET6_ADDRSTRLEN];
  int family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, text.c_str(), buf) != 1) return false;
  if (!inet_ntop(family, buf, back, sizeof back)) return false;
  return text == back;
}

void check(std::string_view in) {
  const ProxyParse r = parse_proxy_header(in);
  switch (r.status) {
    case Status::need_more:
      CHECK(r.needed >= 1);
      CHECK(in.size() + r.needed <= kV2Max);
      if (!in.empty() && in[0] == 'P') CHECK(in.size() + r.needed <= mp::smtpd::kProxyV1MaxLength);
      break;
    case Status::error: {
      CHECK(!r.error.empty());
      for (unsigned char c : r.error) CHECK(c >= 0x20 && c < 0x7f);
      std::string more(in);
      more += "\r\n";
      CHECK(parse_proxy_header(more).status == Status::error);
      break;
    }
    case Status::done: {
      const auto& h = r.header;
      CHECK(r.consumed <= in.size());
      CHECK(h.version == 1 || h.version == 2);
      if (h.version == 1) CHECK(r.consumed >= 15 && r.consumed <= mp::smtpd::kProxyV1MaxLength);
      if (h.version == 2) CHECK(r.consumed >= 16 && r.consumed <= kV2Max);
      CHECK(h.local == h.source.empty());
      if (!h.local) {
        CHECK(canonical_ip(h.source));
        CHECK(canonical_ip(h.destination));
        // An IPv4-mapped address is given as IPv4.
        CHECK(!(h.source.starts_with("::ffff:") && h.source.find('.') != std::string::npos));
      }
      const std::string_view exact = in.substr(0, r.consumed);
      const ProxyParse again = parse_proxy_header(exact);
      CHECK(again.status == Status::done);
      CHECK(again.consumed == r.consumed);
      CHECK(again.header.source == h.source && again.header.source_port == h.source_port);
      // Shorter prefixes (all for v1; a sample for long v2 headers).
      std::size_t step = r.consumed > 256 ? r.consumed / 128 : 1;
      for (std::size_t n = 0; n < r.consumed; n += step) {
        const ProxyParse p = parse_proxy_header(exact.substr(0, n));
        CHECK(p.status == Status::need_more);
        CHECK(n + p.needed <= r.consumed);
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
