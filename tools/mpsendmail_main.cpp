// mpsendmail — sendmail-compatible local submission (SPEC: Programs; mpsendmail(1)).
//
// The message is read from stdin and queued in one of two ways:
//  * directly, with queue::Writer, when this process may write the spool: as
//    root (which first becomes the spool's owner, so the daemon can read the
//    file) or as the spool's owner. The file is complete and fsynced in
//    incoming/ before exit 0; the daemon is woken through its control socket
//    when it runs, else its periodic scan (queue_run_interval) picks it up.
//  * otherwise through the daemon's submit socket (tools/submit_client.hpp),
//    where the daemon, not the user, writes the spool.
// Exit statuses are sendmail's (sysexits.h): 0 only once durably queued.
// The queueing itself is tools/sendmail_queue.cpp; -bs, -bp and -q are
// tools/sendmail_modes.cpp.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <optional>
#include <set>
#include <system_error>

#include "common/config.hpp"
#include "tools/sendmail_modes.hpp"
#include "tools/sendmail_queue.hpp"
#include "tools/submission.hpp"

namespace {

using namespace mp::submission;

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

int fail(int status, const std::string& text) {
  std::cerr << "mpsendmail: " << text << "\n";
  return status;
}

// Reads stdin up to the end (or the "." line). Returns 0 or an exit status.
int read_input(InputCollector& in) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ex_ioerr, std::string("cannot read the message from standard input: ") +
                                std::strerror(errno));
    }
    if (n == 0) {
      in.finish();
      return 0;
    }
    if (in.feed(std::string_view(buf, static_cast<std::size_t>(n)))) return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A daemon closing a socket early must not kill us after the message is queued.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  // Run as mailq (a symlink) it is `-bp`; as sendmail, itself.
  CommandLine cl = parse_command_line(args_for_program_name(argc > 0 ? argv[0] : "", args));
  if (!cl.error.empty()) return fail(ex_usage, cl.error + " (see mpsendmail --help)");
  const Options& opt = cl.options;
  if (opt.help) {
    std::cout << usage_text();
    return ex_ok;
  }
  if (opt.version) {
    std::cout << "mpsendmail " << MP_VERSION << "\n";
    return ex_ok;
  }

  if (opt.mode == Mode::list_queue || opt.mode == Mode::run_queue) {
    if (!opt.recipients.empty())
      return fail(ex_usage, "-bp and -q take no recipients (see mpsendmail --help)");
    return run_mpqueue(opt);  // mpqueue reads the configuration itself
  }
  if (opt.mode == Mode::smtp && !opt.recipients.empty())
    return fail(ex_usage, "-bs takes no recipients: they come with RCPT TO");

  mp::Config config;
  try {
    config = mp::load_config(opt.config_file.empty() ? kDefaultConfig : opt.config_file);
  } catch (const mp::ConfigError& e) {
    for (const std::string& line : e.errors()) std::cerr << "mpsendmail: " << line << "\n";
    return fail(ex_tempfail, "configuration unusable, message not queued");
  }
  const std::string& host = config.myhostname;
  const Invoker who = invoking_user();
  if (opt.mode == Mode::smtp) {
    Queuer queuer(config, who);  // the log is opened before privileges change
    return run_smtp(config, queuer);
  }

  // The envelope sender: -f, else the invoking user @ myhostname.
  std::string error;
  mp::Address sender;
  if (opt.sender) {
    std::string s = *opt.sender;
    if (s.empty() || s == "<>") {
      sender = mp::Address{};
    } else {
      auto parsed = parse_recipient(s, host, error);
      if (!parsed) return fail(ex_usage, "bad sender address '" + s + "': " + error);
      sender = *parsed;
    }
  } else {
    auto parsed = parse_recipient(who.name, host, error);
    if (!parsed)
      return fail(ex_software, "cannot make a sender address of user '" + who.name + "'");
    sender = *parsed;
  }

  std::vector<mp::Address> rcpts;
  std::set<std::string> seen;
  auto add_recipient = [&](const std::string& spec, int status) -> int {
    auto a = parse_recipient(spec, host, error);
    if (!a) return fail(status, "bad recipient address '" + spec + "': " + error);
    std::string key = a->local + "@" + a->domain_lower();
    if (seen.insert(key).second) rcpts.push_back(*a);
    return ex_ok;
  };
  for (const std::string& arg : opt.recipients)
    for (const std::string& spec : split_address_list(arg))
      if (int st = add_recipient(spec, ex_usage)) return st;
  if (!opt.extract_recipients && rcpts.empty())
    return fail(ex_usage, "no recipients given (name them, or use -t)");

  InputCollector input(opt.ignore_dots, config.message_size_limit);
  if (int st = read_input(input)) return st;
  if (input.too_large())
    return fail(ex_dataerr, "message larger than message_size_limit (" +
                                std::to_string(config.message_size_limit) + " bytes), not queued");

  std::time_t now = std::time(nullptr);
  PrepareInput prep;
  prep.extract_recipients = opt.extract_recipients;
  std::string from_addr = sender.is_null() ? who.name + "@" + host : sender.str();
  std::string full_name = opt.full_name ? *opt.full_name : "";
  if (!opt.full_name) {
    const char* env = std::getenv("NAME");
    full_name = env != nullptr ? env : who.full_name;
  }
  prep.from = from_header_value(full_name, from_addr);
  prep.date = rfc5322_date(now, utc_offset(now));
  prep.message_id = message_id(host, now);
  Prepared message = prepare_message(input.text(), prep);
  for (const std::string& spec : message.header_recipients)
    if (int st = add_recipient(spec, ex_dataerr)) return st;
  if (rcpts.empty()) return fail(ex_usage, "no recipient addresses found in the message header");
  if (rcpts.size() > config.max_recipients)
    return fail(ex_usage, "too many recipients (max_recipients = " +
                              std::to_string(config.max_recipients) + ")");

  mp::Envelope env;
  env.sender = sender;
  env.recipients = rcpts;
  env.helo = host;
  env.client_name = "localhost";
  env.protocol = "local";
  env.eightbit = message.eightbit;
  env.smtputf8 = sender.needs_smtputf8();
  for (const mp::Address& a : rcpts) env.smtputf8 = env.smtputf8 || a.needs_smtputf8();
  env.arrival = static_cast<std::int64_t>(now);

  Queuer queuer(config, who);
  Queued q = queuer.queue(env, message.content, prep.date);
  if (q.status != ex_ok) return fail(q.status, q.error);
  if (opt.verbose) std::cerr << "mpsendmail: queued as " << q.id << "\n";
  return ex_ok;
}
