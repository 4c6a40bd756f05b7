// Reading line-oriented config and map files: `#` at the start of a line or
// after white space starts a comment, blank lines are skipped, every line keeps
// its number so errors can name FILE:LINE. Shared by mailprocd.conf and the
// rewrite/ map files (transport, variables, rewrite, users).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mp {

struct ConfigLine {
  int number = 0;    // 1-based
  std::string text;  // comment removed, trimmed; never empty
};

// Throws ConfigError with one line "FILE: cannot read: reason" when the file cannot be read.
std::vector<ConfigLine> read_config_lines(const std::filesystem::path& file);
// The same for a file's text already in memory (tests, fuzzers).
std::vector<ConfigLine> split_config_lines(std::string_view data);

// Splits on blanks (spaces, tabs).
std::vector<std::string> split_words(std::string_view text);
// Splits a list value on commas and/or blanks.
std::vector<std::string> split_list(std::string_view text);

// Outside text for an error message, quoted: at most `limit` bytes of it, control
// bytes and bytes of 0x80 and above as \xNN, "..." when it was cut — so `check` never
// echoes a 2 MB line or raw binary (SPEC: errors quote at most ~100 bytes).
std::string quote_excerpt(std::string_view text, std::size_t limit = 100);

// All errors of one load, each "FILE:LINE: what is wrong" (or "FILE: ..." when no line applies).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

}  // namespace mp
