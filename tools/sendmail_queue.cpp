// mpsendmail's way into the queue (see sendmail_queue.hpp).
#include "tools/sendmail_queue.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "common/log.hpp"
#include "common/privileges.hpp"
#include "queue/layout.hpp"
#include "queue/spool_owner.hpp"
#include "queue/writer.hpp"
#include "tools/submission.hpp"
#include "tools/submit_client.hpp"

namespace mp::submission {
namespace {

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

Queuer::Queuer(const Config& config, Invoker who) : config_(config), who_(std::move(who)) {
  // A log on stderr is left alone: stderr is the caller's (cron).
  logging_ = config.log != "stderr" && !config.log.empty();
  if (logging_) {
    try {
      mp::log::open(config.log, config.myhostname);
    } catch (const std::exception&) {
      logging_ = false;  // not ours to write: the queue manager's lines still follow
    }
  }
}

Queued Queuer::queue(const Envelope& env, const std::string& content, const std::string& date) {
  if (!decided_) {
    direct_ = become_spool_writer(config_, why_not_direct_);
    decided_ = true;
  }
  Queued q;
  if (!direct_) {
    // Not the spool's owner: the daemon queues it for us.
    SubmitResult r = submit(submit_socket_path(config_), env, content);
    q.status = r.status;
    q.id = r.id;
    if (r.status != ex_ok)
      q.error = "cannot queue: spool not writable (" + why_not_direct_ + ") and " + r.error;
    return q;
  }
  const std::string& host = config_.myhostname;
  try {
    mp::queue::Layout layout(config_.spooldir);
    layout.create();  // sub-queues missing from a half-made spool (as its owner); checks them all
    mp::queue::Writer writer(layout, mp::queue::WriterOptions{1});
    auto draft = writer.begin(env);
    draft->append("Received: by " + host + " (mailproc, from userid " + std::to_string(who_.uid) +
                  ")\r\n\tid " + draft->id() + "; " + date + "\r\n");
    draft->append(content);
    q.id = writer.commit(std::move(draft));
  } catch (const std::exception& e) {
    q.status = ex_tempfail;
    q.error = std::string("cannot queue the message: ") + e.what();
    return q;
  }
  // Durably queued from here on: nothing below may turn this into a failure.
  if (logging_) {
    mp::log::info("pickup",
                  q.id + ": uid=" + std::to_string(who_.uid) + " from=" + env.sender.bracketed());
  }
  wake_daemon(config_, q.id);
  return q;
}

}  // namespace mp::submission
