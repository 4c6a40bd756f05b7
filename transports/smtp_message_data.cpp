#include "transports/smtp_message_data.hpp"

#include <algorithm>

namespace mp::transports {
namespace {

// The header section: up to the first empty line (or everything when there is none).
std::string_view header_section(std::string_view message) {
  if (message.starts_with("\r\n") || message.starts_with("\n")) return {};
  for (std::string_view sep : {"\r\n\r\n", "\n\n"}) {
    std::size_t end = message.find(sep);
    if (end != std::string_view::npos) message = message.substr(0, end);
  }
  return message;
}

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 32 + 8);
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t nl = message.find('\n', pos);
    std::string_view line =
        message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with('.')) out += '.';
    // A stray CR goes out as a space (Postfix 3.9's cleanup_replace_stray_cr_lf): a next
    // hop that ends lines at a bare CR must never see a line of ours start with a dot.
    std::size_t from = out.size();
    out += line;
    std::replace(out.begin() + static_cast<std::ptrdiff_t>(from), out.end(), '\r', ' ');
    out += "\r\n";
    pos = nl == std::string_view::npos ? message.size() : nl + 1;
  }
  out += ".\r\n";
  return out;
}

bool needs_smtputf8(const Address& sender, const std::vector<Address>& recipients,
                    std::string_view message, bool requested) {
  if (sender.needs_smtputf8()) return true;
  for (const Address& r : recipients) {
    if (r.needs_smtputf8()) return true;
  }
  return requested && has_8bit(header_section(message));
}

}  // namespace mp::transports
