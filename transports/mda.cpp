// MDA deliveries (maildrop, procmail, ...) on top of the pipe code.
#include "transports/mda.hpp"

#include "common/config_file.hpp"
#include "transports/pipe.hpp"

namespace mp::transports {

std::optional<std::vector<std::string>> parse_mda_hop(std::string_view next_hop, std::string& why) {
  auto argv = split_words(next_hop);
  if (argv.empty() || argv[0].front() != '/') {
    why = "an MDA next hop is an absolute program path";
    return std::nullopt;
  }
  if (argv.size() == 1) {
    argv.push_back("-d");
    argv.push_back("%u");
  }
  return argv;
}

RecipientResult deliver_mda(std::string_view next_hop, std::chrono::milliseconds timeout,
                            const DeliveryRequest& request, const RecipientRef& rcpt,
                            Spawner& spawner) {
  RecipientResult r;
  r.relay = "local";
  std::string why;
  auto argv = parse_mda_hop(next_hop, why);
  if (!argv) {
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.5", "bad MDA next hop: " + why};
    return r;
  }
  if (rcpt.unix_user.empty()) {
    r.outcome = Outcome::permfail;
    r.reply = Reply{550, "5.1.1", "User unknown (no unix user for " + rcpt.address.str() + ")"};
    return r;
  }
  return deliver_command(*argv, rcpt.unix_user, "local", timeout, request, rcpt, spawner);
}

}  // namespace mp::transports
