#include "transports/transport.hpp"

namespace mp::transports {

// Keeps the library non-empty before the transports themselves land; also the
// status word of Postfix-shaped delivery log lines.
std::string_view status_word(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "sent";
    case Outcome::tempfail:
      return "deferred";
    case Outcome::permfail:
      return "bounced";
  }
  return "deferred";
}

}  // namespace mp::transports
