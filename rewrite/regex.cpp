// PCRE2 wrapper: anchored, case-insensitive whole-subject matching.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rewrite/regex.hpp"

#include <pcre2.h>

namespace mp::rewrite {

struct Regex::Code {
  pcre2_code* code = nullptr;
  explicit Code(pcre2_code* c) : code(c) {}
  ~Code() { pcre2_code_free(code); }
  Code(const Code&) = delete;
  Code& operator=(const Code&) = delete;
};

namespace {

constexpr uint32_t kOptions =
    PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS | PCRE2_NEVER_BACKSLASH_C;

std::string error_text(int code, PCRE2_SIZE offset) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  std::string text =
      n > 0 ? std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n))
            : "error " + std::to_string(code);
  return text + " at offset " + std::to_string(offset);
}

pcre2_code* compile_code(std::string_view pattern, uint32_t options, std::string* error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 options, &code, &offset, nullptr);
  if (!re) {
    if (error) *error = error_text(code, offset);
    return nullptr;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // best effort: falls back to the interpreter
  return re;
}

// True when `s` is valid UTF-8, as PCRE2 would check it.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    unsigned second = static_cast<unsigned char>(s[i + 1]);
    if (second < lo || second > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      unsigned b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

bool run(const pcre2_code* re, std::string_view subject, uint32_t options) {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  if (!md) return false;
  int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, options,
                       md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;  // PCRE2_ERROR_NOMATCH and resource limits: no match
}

}  // namespace

std::optional<Regex> Regex::compile(std::string_view pattern, std::string& error) {
  Regex r;
  r.pattern_ = std::string(pattern);
  if (valid_utf8(pattern)) {
    pcre2_code* utf = compile_code(pattern, kOptions | PCRE2_UTF, &error);
    if (!utf) return std::nullopt;
    r.utf_ = std::make_shared<const Code>(utf);
    // Byte mode may reject what UTF mode allows (\x{100}); then non-UTF-8 subjects never match.
    if (pcre2_code* bytes = compile_code(pattern, kOptions, nullptr))
      r.bytes_ = std::make_shared<const Code>(bytes);
  } else {
    pcre2_code* bytes = compile_code(pattern, kOptions, &error);
    if (!bytes) return std::nullopt;
    r.bytes_ = std::make_shared<const Code>(bytes);
  }
  return r;
}

bool Regex::matches(std::string_view subject) const {
  if (utf_ && valid_utf8(subject)) return run(utf_->code, subject, 0);
  if (bytes_) return run(bytes_->code, subject, 0);
  return false;
}

}  // namespace mp::rewrite
