// libFuzzer target for the SMTP/LMTP client's side of outside input
// (transports/smtp_client_protocol.hpp): the next hop's replies and EHLO keywords,
// and the client state machine driven by them. The first byte picks what the rest is:
//   0..63    one buffer of replies for parse_reply() (and parse_extensions() on each):
//            ok: consumed within the input and ending at a line end, a code 100..599,
//            printable text (no control bytes but '\n' and '\t'), an enhanced status
//            of the code's class when one is set; parsing exactly the consumed bytes
//            gives the same reply, and every shorter prefix is incomplete;
//            malformed: a printable error; incomplete: the input holds no whole reply
//            and is at most kMaxReplySize bytes.
//   64..127  the same bytes as a server's whole side of a session: the client is fed
//            each parsed reply in turn (a pipelining transaction to three recipients,
//            then RSET and another); it must never emit anything but CRLF lines, never
//            change a decided result, keep one result per recipient, and always end
//            (closed or ready) within a bounded number of replies.
//   128..255 the bytes as message content for dot_stuff(): only CRLF line ends, no
//            line holding only "." before the terminator, no bare CR or LF anywhere
//            (what a lenient next hop could take for a line end), and un-stuffing
//            gives the content back with stray CRs as spaces.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "transports/smtp_client_protocol.hpp"

namespace {

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "smtp_reply_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

using mp::Reply;
using namespace mp::transports;
using Status = ParsedReply::Status;

bool printable_text(std::string_view s, bool newlines) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n' && newlines) continue;
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

void check_reply(std::string_view in) {
  ParsedReply p = parse_reply(in);
  switch (p.status) {
    case Status::ok: {
      CHECK(p.consumed >= 4 && p.consumed <= in.size());
      CHECK(in[p.consumed - 1] == '\n');
      CHECK(p.reply.code >= 100 && p.reply.code <= 599);
      CHECK(printable_text(p.reply.text, true));
      if (!p.reply.status.empty())
        CHECK(p.reply.status[0] == static_cast<char>('0' + p.reply.code / 100));
      ParsedReply again = parse_reply(in.substr(0, p.consumed));
      CHECK(again.status == Status::ok && again.consumed == p.consumed);
      CHECK(again.reply.code == p.reply.code && again.reply.text == p.reply.text &&
            again.reply.status == p.reply.status);
      for (std::size_t n = 0; n < p.consumed; n += 1 + n / 8)
        CHECK(parse_reply(in.substr(0, n)).status == Status::incomplete);
      Extensions ext = parse_extensions(p.reply);
      CHECK(ext.esmtp == (p.reply.code / 100 == 2));
      break;
    }
    case Status::malformed:
      CHECK(!p.error.empty() && printable_text(p.error, false));
      break;
    case Status::incomplete:
      CHECK(in.size() <= kMaxReplySize);
      break;
  }
}

bool crlf_lines_only(std::string_view out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\r' && (i + 1 >= out.size() || out[i + 1] != '\n')) return false;
    if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) return false;
  }
  return out.empty() || out.ends_with("\r\n");
}

void check_session(std::string_view in, std::uint8_t mode) {
  ClientSettings s;
  s.lmtp = mode & 1;
  s.starttls = (mode & 2)   ? StartTls::if_offered
               : (mode & 4) ? StartTls::required
                            : StartTls::never;
  s.helo_name = "fuzz.test";
  s.peer = "mx.test[192.0.2.1]";
  SmtpClientProtocol c(s);
  Transaction tx;
  tx.sender = mp::Address{"s", "from.test"};
  tx.recipients = {mp::Address{"a", "x.test"}, mp::Address{"b", "x.test"},
                   mp::Address{"c", "x.test"}};
  tx.message = std::make_shared<const std::string>("Subject: f\r\n\r\n.body\r\n");
  int transactions = 0;
  std::vector<ClientResult> seen;
  for (int round = 0; round < 400; ++round) {
    CHECK(crlf_lines_only(c.output()));
    c.written();
    if (c.step() == ClientStep::closed) return;
    if (c.step() == ClientStep::start_tls) {
      c.tls_failed("fuzz");
      continue;
    }
    if (c.step() == ClientStep::ready) {
      if (transactions == 2) return c.quit();
      if (transactions == 1) {
        c.reset();
      } else {
        c.begin(tx);
        seen.assign(tx.recipients.size(), ClientResult{});
      }
      ++transactions;
      continue;
    }
    const auto& results = c.results();
    if (!results.empty()) {
      CHECK(results.size() == tx.recipients.size());
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (seen[i].decided)
          CHECK(results[i].decided && results[i].reply.line() == seen[i].reply.line());
        seen[i] = results[i];
      }
    }
    ParsedReply p = parse_reply(in);
    if (p.status == Status::incomplete) return c.on_failure(Broken::lost_connection);
    if (p.status == Status::malformed) return c.on_failure(Broken::malformed_reply, p.error);
    in.remove_prefix(p.consumed);
    c.on_reply(p.reply);
  }
  CHECK(false && "the session did not end");
}

void check_dot_stuff(std::string_view content) {
  std::string out = dot_stuff(content);
  CHECK(out.ends_with(".\r\n"));
  CHECK(crlf_lines_only(out));
  std::string back;
  std::size_t pos = 0;
  bool ended = false;
  while (pos < out.size()) {
    std::size_t end = out.find("\r\n", pos);
    CHECK(end != std::string::npos);
    std::string_view line = std::string_view(out).substr(pos, end - pos);
    pos = end + 2;
    if (line == ".") {
      CHECK(pos == out.size());  // only the terminator is a lone dot
      ended = true;
      break;
    }
    if (line.starts_with('.')) line.remove_prefix(1);
    back.append(line);
    back += '\n';
  }
  CHECK(ended);
  // The content with CRLF and LF as line ends, a final one added, stray CRs as spaces.
  std::string want;
  for (std::size_t i = 0; i < content.size(); ++i) {
    char ch = content[i];
    if (ch == '\r' && i + 1 < content.size() && content[i + 1] == '\n') continue;
    if (ch == '\r' && i + 1 == content.size()) {  // a CR at the very end ends the line
      want += '\n';
      continue;
    }
    want += ch == '\r' ? ' ' : ch;
  }
  if (!want.empty() && !want.ends_with('\n')) want += '\n';
  CHECK(back == want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] < 64) {
    check_reply(in);
  } else if (data[0] < 128) {
    check_session(in, data[0]);
  } else {
    check_dot_stuff(in);
  }
  return 0;
}
