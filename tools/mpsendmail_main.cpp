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
#include <fcntl.h>
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
#include "common/log.hpp"
#include "common/privileges.hpp"
#include "queue/layout.hpp"
#include "queue/spool_owner.hpp"
#include "queue/writer.hpp"
#include "tools/submission.hpp"
#include "tools/submit_client.hpp"

namespace {

using namespace mp::submission;

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

int fail(int status, const std::string& text) {
  std::cerr << "mpsendmail: " << text << "\n";
  return status;
}

struct Invoker {
  uid_t uid = 0;
  std::string name;       // login name, or "#UID" when the uid has no passwd entry
  std::string full_name;  // GECOS, first field
};

Invoker invoking_user() {
  Invoker who;
  who.uid = ::getuid();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(who.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    who.name = pw.pw_name;
    std::string gecos = pw.pw_gecos ? pw.pw_gecos : "";
    who.full_name = gecos.substr(0, gecos.find(','));
  } else {
    who.name = "#" + std::to_string(who.uid);
  }
  return who;
}

int utc_offset(std::time_t now) {
  std::tm tm{};
  localtime_r(&now, &tm);
  return static_cast<int>(tm.tm_gmtoff);
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

std::string message_id(const std::string& host, std::time_t now) {
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  unsigned r = 0;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (::read(fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) r = 0;
    ::close(fd);
  }
  char tag[64];
  std::snprintf(tag, sizeof tag, "%s.%ld.%08x", stamp, static_cast<long>(::getpid()), r);
  return "<" + std::string(tag) + "@" + host + ">";
}

// Root writes the spool as its owner (files the daemon, running as that owner,
// can read); a spool that does not exist yet is made first, owned by `user`.
// Returns false (with `why`) when this process may not write the spool.
bool become_spool_writer(const mp::Config& config, std::string& why) {
  const std::filesystem::path& spool = config.spooldir;
  struct stat st {};
  if (mp::running_as_root()) {
    if (::stat(spool.c_str(), &st) != 0 && errno == ENOENT) {
      try {
        std::optional<mp::UnixUser> owner;
        try {
          owner = mp::lookup_user(config.user);
        } catch (const std::runtime_error&) {
          // no such user: the spool stays root's, as a daemon run as root would leave it
        }
        mp::queue::Layout layout(spool);
        if (owner) {  // made the owner's on descriptors, as mailprocd does (queue/spool_owner)
          mp::queue::SpoolOwner who{owner->name, owner->uid, owner->gid};
          mp::UniqueFd root = mp::queue::prepare_spool_root(layout, who);
          mp::queue::prepare_sub_queues(root.get(), layout, who);
        } else {
          layout.create();
        }
      } catch (const std::exception& e) {
        why = e.what();
        return false;
      }
    }
    return mp::become_owner_of(spool, why);
  }
  for (const std::filesystem::path& dir : {spool / "tmp", spool / "incoming"}) {
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      why = dir.string() + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // A daemon closing a socket early must not kill us after the message is queued.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  CommandLine cl = parse_command_line(args);
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

  mp::Config config;
  try {
    config = mp::load_config(opt.config_file.empty() ? kDefaultConfig : opt.config_file);
  } catch (const mp::ConfigError& e) {
    for (const std::string& line : e.errors()) std::cerr << "mpsendmail: " << line << "\n";
    return fail(ex_tempfail, "configuration unusable, message not queued");
  }
  const std::string& host = config.myhostname;
  const Invoker who = invoking_user();

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

  // The log is opened before privileges change (root may open the daemon's
  // log file); a log on stderr is left alone: stderr is the caller's (cron).
  bool logging = config.log != "stderr" && !config.log.empty();
  if (logging) {
    try {
      mp::log::open(config.log, host);
    } catch (const std::exception&) {
      logging = false;  // not ours to write: the queue manager's lines still follow
    }
  }

  std::string why;
  if (!become_spool_writer(config, why)) {
    // Not the spool's owner: the daemon queues it for us.
    SubmitResult r = submit(submit_socket_path(config), env, message.content);
    if (r.status == ex_ok && opt.verbose) std::cerr << "mpsendmail: queued as " << r.id << "\n";
    if (r.status != ex_ok) {
      return fail(r.status, "cannot queue: spool not writable (" + why + ") and " + r.error);
    }
    return ex_ok;
  }

  std::string id;
  try {
    mp::queue::Layout layout(config.spooldir);
    layout.create();  // sub-queues missing from a half-made spool (as its owner); checks them all
    mp::queue::Writer writer(layout, mp::queue::WriterOptions{1});
    auto draft = writer.begin(env);
    draft->append("Received: by " + host + " (mailproc, from userid " + std::to_string(who.uid) +
                  ")\r\n\tid " + draft->id() + "; " + prep.date + "\r\n");
    draft->append(message.content);
    id = writer.commit(std::move(draft));
  } catch (const std::exception& e) {
    return fail(ex_tempfail, std::string("cannot queue the message: ") + e.what());
  }
  // Durably queued from here on: nothing below may turn this into a failure.
  if (logging) {
    mp::log::info("pickup",
                  id + ": uid=" + std::to_string(who.uid) + " from=" + sender.bracketed());
  }
  wake_daemon(config, id);
  if (opt.verbose) std::cerr << "mpsendmail: queued as " << id << "\n";
  return ex_ok;
}
