// mpqueue — the operator's queue tool (SPEC: Programs; mpqueue(1)).
//
// Listing (-p, -j, list, show) reads the spool directly, so it works while the
// daemon is down (run as root or as the spool's owner). Actions (flush, delete,
// hold, release, requeue, reload) go to the running daemon through its control
// socket (tools/control_client.hpp). Exit status: 0 success, 1 user error (bad
// argument or file, unknown queue ID, reload refused), 2 anything else (no
// daemon, unreadable spool).
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "common/config.hpp"
#include "common/privileges.hpp"
#include "queue/envelope_file.hpp"
#include "queue/layout.hpp"
#include "queue/queue_id.hpp"
#include "tools/control_client.hpp"
#include "tools/control_protocol.hpp"
#include "tools/queue_listing.hpp"

namespace {

using mp::control::Command;
using mp::queue::SubQueue;

constexpr const char* kDefaultConfig = "/etc/mailproc/mailprocd.conf";

int fail(int status, const std::string& text) {
  std::cerr << "mpqueue: " << text << "\n";
  return status;
}

int list(const mp::Config& config, bool json) {
  std::string why;  // root reads as the spool's owner: never through a link planted there
  if (!mp::become_owner_of(config.spooldir, why)) return fail(2, "cannot read the queue: " + why);
  mp::queue::Layout layout(config.spooldir);
  mp::listing::Scan scan;
  try {
    scan = mp::listing::scan_queue(layout);
  } catch (const std::system_error& e) {
    return fail(2, std::string("cannot read the queue: ") + e.what());
  }
  for (const std::string& w : scan.warnings) std::cerr << "mpqueue: warning: " << w << "\n";
  std::cout << (json ? mp::listing::format_json(scan.entries)
                     : mp::listing::format_postqueue(scan.entries));
  std::cout.flush();
  return std::cout ? 0 : 2;
}

int show(const mp::Config& config, const std::string& id) {
  if (!mp::queue::is_valid_queue_id(id)) return fail(1, "bad queue ID '" + id + "'");
  std::string why;  // as in list()
  if (!mp::become_owner_of(config.spooldir, why)) return fail(2, "cannot read the queue: " + why);
  mp::queue::Layout layout(config.spooldir);
  for (int tries = 0; tries < 10; ++tries) {  // it may move on while we look
    std::optional<SubQueue> where = mp::listing::locate(layout, id);
    if (!where && ::access(layout.dir(SubQueue::incoming).c_str(), X_OK) != 0 && errno == EACCES)
      return fail(1, "permission denied: only root and the spool's owner may read messages");
    if (!where) return fail(1, id + ": no such message in the queue");
    std::filesystem::path path = layout.file(*where, id);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    mp::listing::Entry entry;
    entry.queue = *where;
    entry.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
    try {
      entry.file = mp::queue::read_queue_file(path, mp::queue::ReadMode::full);
    } catch (const mp::queue::QueueFileError& e) {
      return fail(1, std::string("does not parse: ") + e.what());
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::no_such_file_or_directory) continue;
      return fail(2, e.what());
    }
    std::cout << mp::listing::format_show(entry, entry.file.content());
    std::cout.flush();
    return std::cout ? 0 : 2;
  }
  return fail(2, id + ": the message keeps moving; try again");
}

// What happened to IDs the daemon did not act on: explained from the spool.
// Returns true when it is an error (exit 1).
bool explain_missing(const mp::queue::Layout& layout, Command command, const std::string& id) {
  std::optional<SubQueue> where = mp::listing::locate(layout, id);
  if (!where) {
    std::cerr << "mpqueue: " << id << ": no such message in the queue\n";
    return true;
  }
  const std::string in = std::string(mp::queue::name(*where)) + "/";
  bool in_delivery = *where == SubQueue::incoming || *where == SubQueue::active;
  if ((command == Command::flush || command == Command::requeue) && in_delivery)
    return false;  // being delivered now, by the current rules
  if (command == Command::hold && *where == SubQueue::hold) return false;  // already on hold
  if (command == Command::release) {
    std::cerr << "mpqueue: " << id << ": not on hold (it is in " << in << ")\n";
  } else if (command == Command::flush && *where == SubQueue::hold) {
    std::cerr << "mpqueue: " << id << ": on hold; release it first\n";
  } else {
    std::cerr << "mpqueue: " << id << ": in " << in << ", not acted on\n";
  }
  return true;
}

std::string count(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " message" : " messages");
}

// `ALL QUEUE` (postsuper -d ALL deferred): the IDs now in that sub-queue, in
// ID order; nullopt when `args` is not of that form.
std::optional<std::vector<std::string>> queue_selection(const mp::Config& config,
                                                        const std::vector<std::string>& args,
                                                        std::string& error) {
  if (args.size() != 2 || args[0] != "ALL") return std::nullopt;
  std::optional<SubQueue> q = mp::queue::parse_sub_queue(args[1]);
  if (!q || *q == SubQueue::archive || *q == SubQueue::corrupt) {
    error = "ALL takes one of incoming, active, deferred, hold; not '" + args[1] + "'";
    return std::vector<std::string>{};
  }
  mp::queue::Layout layout(config.spooldir);
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(layout.dir(*q), ec)) {
    std::string name = d.path().filename().string();
    if (mp::queue::is_valid_queue_id(name)) ids.push_back(std::move(name));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    error = "cannot read " + layout.dir(*q).string() + ": " + ec.message();
    return std::vector<std::string>{};
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// One request to the daemon; nullopt (with the message printed) when it cannot be had.
std::optional<mp::control::Response> call_daemon(const mp::Config& config,
                                                 const mp::control::Request& request, int& status) {
  try {
    return mp::control::call(config.control_socket, request);
  } catch (const mp::control::Unreachable& e) {
    status = fail(2, "cannot reach mailprocd at " + config.control_socket.string() + ": " +
                         e.what() + " (is it running?)");
  } catch (const std::exception& e) {
    status = fail(2, "mailprocd at " + config.control_socket.string() + ": " + e.what());
  }
  return std::nullopt;
}

void print_done(Command command, std::size_t n) {
  if (n == 0) return;
  switch (command) {
    case Command::remove:
      std::cout << "Deleted: " << count(n) << "\n";
      break;
    case Command::hold:
      std::cout << "Placed on hold: " << count(n) << "\n";
      break;
    case Command::release:
      std::cout << "Released from hold: " << count(n) << "\n";
      break;
    case Command::requeue:
      std::cout << "Requeued: " << count(n) << "\n";
      break;
    default:
      break;  // flush is silent, as postqueue -f is
  }
}

// `delete ALL deferred` and the like: the IDs found there, sent in batches that
// fit a request line. One that left the sub-queue meanwhile is not an error
// (postsuper acts on what it finds).
int act_on_queue(const mp::Config& config, Command command, const std::vector<std::string>& ids) {
  constexpr std::size_t kBatch = 10000;
  std::size_t done = 0;
  for (std::size_t first = 0; first < ids.size(); first += kBatch) {
    std::vector<std::string> batch(
        ids.begin() + static_cast<std::ptrdiff_t>(first),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), first + kBatch)));
    std::string error;
    std::optional<mp::control::Request> request = mp::control::make_request(command, batch, error);
    if (!request) return fail(2, error);
    int status = 0;
    std::optional<mp::control::Response> r = call_daemon(config, *request, status);
    if (!r) {
      print_done(command, done);
      return status;
    }
    if (!r->ok && r->missing.empty()) {
      print_done(command, done);
      return fail(2, "mailprocd: " + r->error);
    }
    done += r->done.size();
  }
  print_done(command, done);
  return 0;
}

// `flush --domain SITE` (postqueue -s, sendmail -qR): the deferred messages
// with a recipient still pending at SITE (case-insensitive), in ID order.
int flush_domain(const mp::Config& config, const std::string& site) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string wanted = lower(site);
  mp::queue::Layout layout(config.spooldir);
  mp::listing::Scan scan;
  try {
    scan = mp::listing::scan_queue(layout);
  } catch (const std::system_error& e) {
    return fail(2, std::string("cannot read the queue: ") + e.what());
  }
  std::vector<std::string> ids;
  for (const mp::listing::Entry& e : scan.entries) {
    if (e.queue != SubQueue::deferred) continue;
    const auto& rcpts = e.file.envelope.recipients;
    for (std::size_t i = 0; i < rcpts.size(); ++i) {
      bool pending = i >= e.file.recipients.size() ||
                     e.file.recipients[i].state == mp::queue::RcptState::pending;
      if (pending && rcpts[i].domain_lower() == wanted) {
        ids.push_back(e.file.id);
        break;
      }
    }
  }
  return act_on_queue(config, Command::flush, ids);
}

int act(const mp::Config& config, Command command, std::vector<std::string> args) {
  if (command != Command::flush && command != Command::reload) {
    std::string error;
    if (auto ids = queue_selection(config, args, error)) {
      if (!error.empty()) return fail(1, error);
      return act_on_queue(config, command, *ids);
    }
  }
  for (std::string& a : args) {  // queue IDs are upper case; be lenient about that
    std::string upper = a;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (mp::queue::is_valid_queue_id(upper)) a = upper;
  }
  std::string error;
  std::optional<mp::control::Request> request = mp::control::make_request(command, args, error);
  if (!request) return fail(1, error);
  int status = 0;
  std::optional<mp::control::Response> answer = call_daemon(config, *request, status);
  if (!answer) return status;
  const mp::control::Response& r = *answer;
  if (command == Command::reload) {
    if (r.ok) {  // notices: changed keys only a restart applies
      std::cout << "mailprocd reloaded its configuration and map files\n";
      for (const std::string& m : r.messages) std::cout << "mailprocd: " << m << "\n";
      return 0;
    }
    for (const std::string& m : r.messages) std::cerr << m << "\n";
    if (r.messages.empty()) return fail(2, "reload failed: " + r.error);
    return fail(1, "reload refused: mailprocd keeps its current rules");
  }
  bool user_error = false;
  mp::queue::Layout layout(config.spooldir);
  for (const std::string& id : r.missing) user_error |= explain_missing(layout, command, id);
  if (!r.ok && r.missing.empty()) return fail(2, "mailprocd: " + r.error);
  print_done(command, r.done.size());
  return user_error ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpqueue - list and manage the mailprocd queue"};
  app.name("mpqueue");
  app.fallthrough();  // -c also after the command
  std::string config_file = kDefaultConfig;
  app.add_option("-c,--config", config_file, "configuration file")->capture_default_str();
  app.set_version_flag("--version", std::string("mpqueue ") + MP_VERSION);
  bool postqueue_p = false, postqueue_j = false;
  app.add_flag("-p", postqueue_p, "list the queue as postqueue -p does (also: list)");
  app.add_flag("-j", postqueue_j,
               "list the queue as JSON lines, like postqueue -j (also: list --json)");

  CLI::App* list_cmd = app.add_subcommand("list", "list the queue (the layout of postqueue -p)");
  bool json = false;
  list_cmd->add_flag("--json", json, "one JSON object per message (postqueue -j)");

  struct Action {
    Command command;
    CLI::App* sub;
    std::vector<std::string> ids;
  };
  std::vector<Action> actions = {
      {Command::flush,
       app.add_subcommand("flush", "try deferred mail now (all, or these IDs)"),
       {}},
      {Command::remove, app.add_subcommand("delete", "remove messages from the queue"), {}},
      {Command::hold, app.add_subcommand("hold", "park messages in hold/ (no delivery)"), {}},
      {Command::release, app.add_subcommand("release", "put held messages back, due now"), {}},
      {Command::requeue,
       app.add_subcommand("requeue", "retry now, routed by the current rules"),
       {}},
  };
  for (Action& a : actions) {
    CLI::Option* ids = a.sub->add_option(
        "ID", a.ids,
        a.command == Command::flush
            ? "queue IDs (none: every deferred message)"
            : "queue IDs, ALL, or ALL and a queue (incoming, active, deferred, hold)");
    if (a.command != Command::flush) ids->required();
  }
  std::string flush_site;
  actions.front().sub->add_option(
      "--domain", flush_site,
      "only deferred mail with recipients at this domain (postqueue -s, sendmail -qR)");
  CLI::App* show_cmd = app.add_subcommand("show", "print a message with its envelope");
  std::string show_id;
  show_cmd->add_option("ID", show_id, "queue ID")->required();
  CLI::App* reload_cmd =
      app.add_subcommand("reload", "reload the configuration and map files (as SIGHUP)");
  app.require_subcommand(0, 1);
  app.footer(
      "Listing and show read the spool (run as root or as the spool's owner); the other\n"
      "commands need the running daemon (its control socket). Exit status: 0 success,\n"
      "1 user error (bad argument, unknown queue ID, reload refused), 2 other failures.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(1, std::string(e.what()) + " (see mpqueue --help)");
  }
  bool listing = postqueue_p || postqueue_j;
  if (postqueue_p && postqueue_j)
    return fail(1, "-p and -j exclude each other (see mpqueue --help)");
  if (listing && !app.get_subcommands().empty())
    return fail(1, "-p or -j cannot be combined with a command (see mpqueue --help)");
  if (!listing && app.get_subcommands().empty())
    return fail(1, "nothing to do: give -p, -j or a command (see mpqueue --help)");

  try {
    if (*reload_cmd) {
      // A broken file is for the daemon to refuse (it names every error in its reply and
      // log): its socket is found from the keys that parse. Unreachable: the file's errors.
      std::vector<std::string> errors;
      mp::Config config = mp::load_config_collecting(config_file, errors);
      int status = act(config, Command::reload, {});
      if (status != 2 || errors.empty()) return status;
      throw mp::ConfigError(std::move(errors));
    }
    mp::Config config = mp::load_config(config_file);
    if (listing) return list(config, postqueue_j);
    if (*list_cmd) return list(config, json);
    if (*show_cmd) {
      std::string id = show_id;
      for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return show(config, mp::queue::is_valid_queue_id(id) ? id : show_id);
    }
    if (*actions.front().sub && !flush_site.empty()) {
      if (!actions.front().ids.empty())
        return fail(1, "--domain cannot be combined with queue IDs");
      return flush_domain(config, flush_site);
    }
    for (const Action& a : actions)
      if (*a.sub) return act(config, a.command, a.ids);
    return fail(2, "no command");  // not reached
  } catch (const mp::ConfigError& e) {
    for (const std::string& line : e.errors()) std::cerr << line << "\n";
    return 1;
  } catch (const std::exception& e) {
    return fail(2, e.what());
  }
}
