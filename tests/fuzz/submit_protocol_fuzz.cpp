// libFuzzer target for the local submission protocol (tools/submit_protocol.hpp).
// The first byte picks the side (even: what a client sends the submit socket, odd:
// the daemon's answer line mpsendmail reads); the rest is the input.
//   request:  a header that parses has a sender and at least one recipient; encoding
//             it again gives a header that ends where header_end() says and parses
//             back to the same addresses and size; crlf_clean() of the content agrees
//             with a plain scan; any answer the server would send is one line.
//   response: a parsed answer, encoded, is one line that parses to the same answer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tools/submit_protocol.hpp"

namespace {

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "submit_protocol_fuzz: invariant failed: %s\n", #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

using namespace mp::submit;

bool clean_by_scan(std::string_view c) {
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i] == '\r' && (i + 1 == c.size() || c[i + 1] != '\n')) return false;
    if (c[i] == '\n' && (i == 0 || c[i - 1] != '\r')) return false;
  }
  return c.empty() || (c.size() >= 2 && c.substr(c.size() - 2) == "\r\n");
}

void check_answer_line(const Response& r) {
  std::string line = encode_response(r);
  CHECK(line.ends_with('\n') && line.find('\n') == line.size() - 1 &&
        line.find('\r') == std::string::npos);
  auto back = parse_response(std::string_view(line).substr(0, line.size() - 1));
  CHECK(back.has_value() || (r.outcome == Outcome::ok && r.text.empty()));
  if (back) CHECK(back->outcome == r.outcome);
}

void check_request(std::string_view in) {
  std::size_t end = header_end(in);
  if (end == 0) return;
  CHECK(end >= 2 && end <= in.size() && in.substr(end - 2, 2) == "\n\n");
  std::string error;
  auto h = parse_request_header(in.substr(0, end), error);
  if (!h) {
    CHECK(!error.empty());
    check_answer_line({Outcome::fail, error});
    return;
  }
  CHECK(!h->recipients.empty());
  mp::Envelope env;
  env.sender = h->sender;
  env.recipients = h->recipients;
  const std::string again = encode_request_header(env, h->size);
  CHECK(header_end(again) == again.size());
  std::string e2;
  auto back = parse_request_header(again, e2);
  CHECK(back.has_value());
  CHECK(back->sender == h->sender && back->recipients == h->recipients && back->size == h->size);
  std::string_view content = in.substr(end);
  CHECK(crlf_clean(content) == clean_by_scan(content));
}

void check_response(std::string_view line) {
  auto r = parse_response(line);
  if (!r) return;
  CHECK(r->outcome != Outcome::ok || !r->text.empty());
  if (line.find_first_of("\r\n") == std::string_view::npos) {
    CHECK(encode_response(*r) ==
          std::string(line.substr(0, line.find(' '))) + " " + r->text + "\n");
  }
  check_answer_line(*r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1)
    check_response(in);
  else
    check_request(in);
  return 0;
}
