// PROXY protocol v1/v2 parser: accepted headers and their addresses, the
// exact-read property (reading only `needed` bytes never reads past the
// header), and every kind of malformed header.
#include "smtpd/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mp::smtpd {
namespace {

using Status = ProxyParse::Status;

// Reads `stream` as the session does: `needed` bytes at a time, never more.
// Returns the final parse and how many bytes were read in all.
std::pair<ProxyParse, std::size_t> read_exactly(const std::string& stream) {
  std::string got;
  for (int i = 0; i < 1000; ++i) {
    ProxyParse r = parse_proxy_header(got);
    if (r.status != Status::need_more) return {r, got.size()};
    EXPECT_GE(r.needed, 1u);
    if (got.size() + r.needed > stream.size()) return {r, got.size()};  // the client stopped
    got.append(stream, got.size(), r.needed);
  }
  ADD_FAILURE() << "no end";
  return {};
}

ProxyParse parse_all(const std::string& header) {
  auto [r, read] = read_exactly(header + "EHLO client.test\r\n");
  if (r.status == Status::done) {
    EXPECT_EQ(r.consumed, read) << "read past the header";
    EXPECT_EQ(r.consumed, header.size());
    // One call with everything (and more) gives the same answer.
    ProxyParse whole = parse_proxy_header(header + "EHLO client.test\r\n");
    EXPECT_EQ(whole.status, Status::done);
    EXPECT_EQ(whole.consumed, r.consumed);
    EXPECT_EQ(whole.header.source, r.header.source);
  }
  return r;
}

std::string error_of(const std::string& in) {
  ProxyParse r = parse_all(in);
  EXPECT_EQ(r.status, Status::error) << in;
  EXPECT_FALSE(r.error.empty());
  return r.error;
}

std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& block) {
  std::string h(kProxyV2Signature);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(block.size() >> 8);
  h += static_cast<char>(block.size() & 0xff);
  return h + block;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// 192.0.2.10:54321 → 198.51.100.1:25
const std::string kInet4 = bytes({192, 0, 2, 10, 198, 51, 100, 1, 0xd4, 0x31, 0, 25});

TEST(ProxyV1, Tcp4) {
  ProxyParse r = parse_all("PROXY TCP4 192.0.2.10 198.51.100.1 54321 25\r\n");
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.version, 1);
  EXPECT_FALSE(r.header.local);
  EXPECT_EQ(r.header.source, "192.0.2.10");
  EXPECT_EQ(r.header.source_port, 54321);
  EXPECT_EQ(r.header.destination, "198.51.100.1");
  EXPECT_EQ(r.header.destination_port, 25);
}

TEST(ProxyV1, Tcp6CanonicalAndMapped) {
  ProxyParse r = parse_all("PROXY TCP6 2001:DB8:0:0::1 2001:db8::25 0 65535\r\n");
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.source, "2001:db8::1");
  EXPECT_EQ(r.header.source_port, 0);
  EXPECT_EQ(r.header.destination_port, 65535);
  r = parse_all("PROXY TCP6 ::ffff:192.0.2.10 ::1 1000 25\r\n");
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.source, "192.0.2.10");
}

TEST(ProxyV1, UnknownKeepsTheConnectionsPeer) {
  ProxyParse r = parse_all("PROXY UNKNOWN\r\n");
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_TRUE(r.header.local);
  EXPECT_TRUE(r.header.source.empty());
  r = parse_all("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n");
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_TRUE(r.header.local);
}

TEST(ProxyV1, LengthLimitIs107Bytes) {
  std::string head = "PROXY UNKNOWN ";
  std::string longest = head + std::string(107 - head.size() - 2, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(parse_all(longest).status, Status::done);
  std::string too_long = head + std::string(108 - head.size() - 2, 'x') + "\r\n";
  EXPECT_NE(error_of(too_long).find("longer than 107"), std::string::npos);
  // Without a line end, the 106th byte already tells.
  EXPECT_EQ(parse_proxy_header(head + std::string(106 - head.size(), 'x')).status, Status::error);
  EXPECT_EQ(parse_proxy_header(head + std::string(105 - head.size(), 'x')).status,
            Status::need_more);
}

TEST(ProxyV1, Malformed) {
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 54321 25\n");     // bare LF
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 54321 25\rX\n");  // CR without LF
  error_of("PROXY TCP5 192.0.2.10 198.51.100.1 54321 25\r\n");
  error_of("PROXY tcp4 192.0.2.10 198.51.100.1 54321 25\r\n");
  error_of("PROXY TCP4 2001:db8::1 198.51.100.1 54321 25\r\n");  // family mismatch
  error_of("PROXY TCP6 192.0.2.10 2001:db8::1 54321 25\r\n");
  error_of("PROXY TCP4 192.0.2.300 198.51.100.1 54321 25\r\n");
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 65536 25\r\n");
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 054321 25\r\n");
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 -1 25\r\n");
  error_of("PROXY TCP4 192.0.2.10  198.51.100.1 54321 25\r\n");  // two spaces
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 54321\r\n");
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 54321 25 x\r\n");
  error_of("PROXY TCP4 192.0.2.10 198.51.100.1 54321 25 \r\n");
  error_of("PROXY TCP4 192.0.2.10\t198.51.100.1 54321 25\r\n");
  error_of("PROXY \r\n");
  error_of("PROXYTCP4 192.0.2.10 198.51.100.1 54321 25\r\n");
}

TEST(ProxyV1, PrefixesNeedMore) {
  const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 54321 25\r\n";
  for (std::size_t n = 0; n < line.size(); ++n) {
    ProxyParse r = parse_proxy_header(std::string_view(line).substr(0, n));
    ASSERT_EQ(r.status, Status::need_more) << n;
    EXPECT_LE(n + r.needed, line.size()) << n;
  }
}

TEST(ProxyNone, PlainSmtpIsNotAHeader) {
  EXPECT_EQ(parse_proxy_header("EHLO client.test\r\n").status, Status::error);
  EXPECT_EQ(parse_proxy_header("E").status, Status::error);
  EXPECT_EQ(parse_proxy_header("PRO").status, Status::need_more);
  EXPECT_EQ(parse_proxy_header("PROXX").status, Status::error);
  EXPECT_EQ(parse_proxy_header("\r\n\r\n").status, Status::need_more);
  EXPECT_EQ(parse_proxy_header("\r\nQUIT\r\n").status, Status::error);
  EXPECT_EQ(parse_proxy_header("").needed, 15u);
}

TEST(ProxyV2, Tcp4) {
  ProxyParse r = parse_all(v2(0x21, 0x11, kInet4));
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.version, 2);
  EXPECT_FALSE(r.header.local);
  EXPECT_EQ(r.header.source, "192.0.2.10");
  EXPECT_EQ(r.header.source_port, 54321);
  EXPECT_EQ(r.header.destination, "198.51.100.1");
  EXPECT_EQ(r.header.destination_port, 25);
}

TEST(ProxyV2, Tcp6WithTlvs) {
  std::string block(16, '\0');
  block[0] = 0x20, block[1] = 0x01, block[2] = 0x0d, block[3] = static_cast<char>(0xb8);
  block[15] = 7;                                           // 2001:db8::7
  block += std::string(15, '\0') + "\x01";                 // ::1
  block += bytes({0x04, 0x00, 0x00, 0x19});                // ports 1024 → 25
  block += bytes({0x04, 0x00, 0x04, 'a', 'b', 'c', 'd'});  // a PP2_TYPE_NOOP TLV, skipped
  ProxyParse r = parse_all(v2(0x21, 0x21, block));
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.source, "2001:db8::7");
  EXPECT_EQ(r.header.destination, "::1");
  EXPECT_EQ(r.header.source_port, 1024);
  EXPECT_EQ(r.header.destination_port, 25);
  EXPECT_EQ(r.consumed, 16u + block.size());
}

TEST(ProxyV2, MappedIpv6BecomesIpv4) {
  std::string block = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10});
  block += std::string(15, '\0') + "\x01" + bytes({0, 1, 0, 25});
  ProxyParse r = parse_all(v2(0x21, 0x21, block));
  ASSERT_EQ(r.status, Status::done) << r.error;
  EXPECT_EQ(r.header.source, "192.0.2.10");
}

TEST(ProxyV2, LocalAndUnspecKeepTheConnectionsPeer) {
  for (const std::string& h : {v2(0x20, 0x00, ""), v2(0x20, 0x11, kInet4), v2(0x21, 0x00, ""),
                               v2(0x21, 0x00, "ignored")}) {
    ProxyParse r = parse_all(h);
    ASSERT_EQ(r.status, Status::done) << r.error;
    EXPECT_TRUE(r.header.local);
    EXPECT_TRUE(r.header.source.empty());
    EXPECT_EQ(r.consumed, h.size());
  }
}

TEST(ProxyV2, Malformed) {
  EXPECT_NE(error_of(v2(0x11, 0x11, kInet4)).find("version"), std::string::npos);
  EXPECT_NE(error_of(v2(0x22, 0x11, kInet4)).find("command"), std::string::npos);
  error_of(v2(0x21, 0x12, kInet4));                  // UDP
  error_of(v2(0x21, 0x31, std::string(216, '\0')));  // AF_UNIX
  error_of(v2(0x21, 0x41, kInet4));                  // unknown family
  error_of(v2(0x21, 0x11, kInet4.substr(0, 11)));    // block too short
  error_of(v2(0x21, 0x21, std::string(35, '\0')));
  std::string bad_sig = v2(0x21, 0x11, kInet4);
  bad_sig[11] = 'X';
  error_of(bad_sig);
}

TEST(ProxyV2, NeedsExactlyTheDeclaredLength) {
  std::string h = v2(0x21, 0x11, kInet4 + std::string(300, 'T'));
  ProxyParse r = parse_proxy_header(h.substr(0, 16));
  ASSERT_EQ(r.status, Status::need_more);
  EXPECT_EQ(r.needed, 12u + 300u);
  for (std::size_t n = 0; n < h.size(); ++n) {
    ProxyParse p = parse_proxy_header(std::string_view(h).substr(0, n));
    ASSERT_EQ(p.status, Status::need_more) << n;
    EXPECT_LE(n + p.needed, h.size()) << n;
  }
  EXPECT_EQ(parse_proxy_header(h).consumed, h.size());
  // The largest possible block.
  std::string big = v2(0x21, 0x11, kInet4 + std::string(65535 - 12, 'T'));
  EXPECT_EQ(parse_all(big).consumed, 16u + 65535u);
}

}  // namespace
}  // namespace mp::smtpd
