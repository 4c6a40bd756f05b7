// The PROXY protocol (HAProxy's, versions 1 and 2) as a pure, incremental
// parser: bytes in, "need more" / "done" / "error" out, no I/O. A load
// balancer in front of mailproc sends one such header at the start of each
// connection to tell the real client's address.
//
// Called by smtpd/net/proxy_handshake.cpp on `proxy:` listeners, before the
// greeting (and by tests/fuzz/proxy_fuzz.cpp). The caller feeds everything
// received so far; on need_more it reads at least `needed` more bytes — never
// more than that many — and calls again, so it never reads past the header.
// Invariants: done ⇒ consumed is the exact header length (15..107 bytes for
// v1, 16..65551 for v2) and `source`, when not empty, is a valid IP address in
// its canonical text form (an IPv4-mapped IPv6 address is given as IPv4);
// need_more ⇒ needed ≥ 1 and every byte fed so far is consistent with a header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mp::smtpd {

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // True when the header names no client to use (v1 UNKNOWN; v2 LOCAL, or
  // PROXY with an unspecified family): the connection's own peer stands.
  bool local = false;
  std::string source;  // client address ("192.0.2.10", "2001:db8::1"); empty when local
  std::uint16_t source_port = 0;
  std::string destination;  // the address the client connected to; empty when local
  std::uint16_t destination_port = 0;
};

struct ProxyParse {
  enum class Status { need_more, done, error };
  Status status = Status::need_more;
  std::size_t consumed = 0;  // done: length of the header
  std::size_t needed = 0;    // need_more: read at least (and at most) this many bytes, then retry
  ProxyHeader header;        // done
  std::string error;         // error: why, one line for the log
};

// The v1 line is at most this long, CRLF included.
inline constexpr std::size_t kProxyV1MaxLength = 107;
// The v2 header starts with these 12 bytes.
inline constexpr std::string_view kProxyV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

// Parses the start of a connection's input (everything received so far).
ProxyParse parse_proxy_header(std::string_view in);

}  // namespace mp::smtpd
