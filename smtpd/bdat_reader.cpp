// The BDAT content reader (see bdat_reader.hpp for the contract).
#include "smtpd/bdat_reader.hpp"

namespace mp::smtpd {

void BdatReader::put(std::string_view s, std::string& out) const {
  if (!(mode_ == BareNewline::reject && saw_bare_)) out.append(s);
}

void BdatReader::bare(std::string& out) {
  saw_bare_ = true;
  put("\r\n", out);
}

void BdatReader::feed(std::string_view chunk, std::string& out) {
  const std::size_t n = chunk.size();
  std::size_t i = 0;
  while (i < n) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (chunk[i] == '\n') {
        put("\r\n", out);
        ++i;
        continue;
      }
      bare(out);  // the CR was not followed by LF
    }
    // The run of ordinary bytes up to the next CR or LF.
    std::size_t j = chunk.find_first_of("\r\n", i);
    if (j == std::string_view::npos) j = n;
    if (j > i) put(chunk.substr(i, j - i), out);
    if (j == n) break;
    if (chunk[j] == '\r') {
      pending_cr_ = true;
    } else {
      bare(out);
    }
    i = j + 1;
  }
}

void BdatReader::finish(std::string& out) {
  if (!pending_cr_) return;
  pending_cr_ = false;
  bare(out);
}

}  // namespace mp::smtpd
