// Maildir delivery: directory creation, tmp -> new, fsync; result mapping.
#include "transports/maildir.hpp"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "transports/local_job_wire.hpp"
#include "transports/local_message.hpp"
#include "transports/placeholders.hpp"

namespace mp::transports {
namespace {

constexpr int kAttempts = 5;

int fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

std::string parent_of(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Makes `dir` and its missing parents (mode 0700). 0 or errno; `where` names the culprit.
int ensure_dirs(const std::string& dir, std::string& where) {
  std::size_t pos = 1;
  while (pos <= dir.size()) {
    std::size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    std::string prefix = dir.substr(0, slash);
    pos = slash + 1;
    if (prefix.empty() || prefix.back() == '/') continue;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        where = prefix;
        return ENOTDIR;
      }
      continue;
    }
    if (errno != ENOENT) {
      where = prefix;
      return errno;
    }
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      where = prefix;
      return errno;
    }
    if (int err = fsync_dir(parent_of(prefix))) {  // the new entry must survive a crash
      where = parent_of(prefix);
      return err;
    }
  }
  return 0;
}

// DIR plus tmp/ new/ cur/.
int ensure_maildir(const std::string& dir, std::string& where) {
  if (int err = ensure_dirs(dir, where)) return err;
  for (const char* sub : {"/tmp", "/new", "/cur"}) {
    if (int err = ensure_dirs(dir + sub, where)) return err;
  }
  return 0;
}

std::string escaped_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string out;
  for (const char* p = buf; *p; ++p) {
    if (*p == '/') {
      out += "\\057";
    } else if (*p == ':') {
      out += "\\072";
    } else {
      out += *p;
    }
  }
  return out;
}

MaildirWrite failure(const std::string& maildir, const std::string& step, int err) {
  MaildirWrite w;
  w.error = err;
  w.temporary = true;
  w.text = "maildir " + maildir + ": " + step + ": " + strerror(err);
  return w;
}

int write_fully(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

}  // namespace

std::string maildir_unique_name() {
  static std::atomic<unsigned long> counter{0};
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  return std::to_string(tv.tv_sec) + ".M" + std::to_string(tv.tv_usec) + "P" +
         std::to_string(::getpid()) + "Q" + std::to_string(++counter) + "." + escaped_host();
}

MaildirWrite write_maildir(const std::string& maildir, const std::string& folder,
                           std::string_view content) {
  std::string where;
  if (int err = ensure_maildir(maildir, where)) return failure(maildir, "create " + where, err);
  std::string target = maildir;
  if (!folder.empty()) {
    target += "/" + folder;
    if (int err = ensure_maildir(target, where)) return failure(maildir, "create " + where, err);
    std::string marker = target + "/maildirfolder";
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return failure(maildir, "create " + marker, errno);
    ::close(fd);
  }

  std::string name, tmp_path;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < kAttempts; ++attempt) {
    name = maildir_unique_name();
    tmp_path = target + "/tmp/" + name;
    fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return failure(maildir, "create " + tmp_path, errno);
  }
  if (fd < 0) return failure(maildir, "create " + tmp_path, EEXIST);

  int err = write_fully(fd, content);
  std::string step = "write " + tmp_path;
  if (err == 0 && ::fsync(fd) != 0) {
    err = errno;
    step = "fsync " + tmp_path;
  }
  if (::close(fd) != 0 && err == 0) {
    err = errno;
    step = "close " + tmp_path;
  }
  if (err != 0) {
    ::unlink(tmp_path.c_str());
    return failure(maildir, step, err);
  }

  // link() never replaces an existing file; rename() is the fallback where links fail.
  std::string new_path;
  bool moved = false;
  for (int attempt = 0; !moved && attempt < kAttempts; ++attempt) {
    if (attempt > 0) name = maildir_unique_name();
    new_path = target + "/new/" + name;
    if (::link(tmp_path.c_str(), new_path.c_str()) == 0) {
      ::unlink(tmp_path.c_str());
      moved = true;
    } else if (errno == EEXIST) {
      continue;
    } else if (errno == EPERM || errno == ENOTSUP || errno == EXDEV || errno == EMLINK ||
               errno == ENOSYS) {
      if (::rename(tmp_path.c_str(), new_path.c_str()) != 0) {
        err = errno;
        ::unlink(tmp_path.c_str());
        return failure(maildir, "rename to " + new_path, err);
      }
      moved = true;
    } else {
      err = errno;
      ::unlink(tmp_path.c_str());
      return failure(maildir, "link to " + new_path, err);
    }
  }
  if (!moved) {
    ::unlink(tmp_path.c_str());
    return failure(maildir, "link to " + new_path, EEXIST);
  }
  if (int e = fsync_dir(target + "/new")) return failure(maildir, "fsync " + target + "/new", e);
  MaildirWrite ok;
  ok.ok = true;
  ok.name = name;
  return ok;
}

RecipientResult deliver_maildir(std::string_view path_template, std::string_view folder,
                                const DeliveryRequest& request, const RecipientRef& rcpt,
                                Spawner& spawner) {
  const std::string relay = "maildir";
  RecipientResult r;
  r.relay = relay;
  if (rcpt.unix_user.empty()) {
    r.outcome = Outcome::permfail;
    r.reply = Reply{550, "5.1.1", "User unknown (no unix user for " + rcpt.address.str() + ")"};
    return r;
  }
  if (auto refused = refuse_before_delivery(request, rcpt, relay)) return *refused;
  ExpandError error;
  auto path = expand_path(path_template, placeholder_values(request, rcpt, rcpt.unix_user), error);
  if (!path) return expansion_refused(error, relay);

  Job job;
  job.kind = Job::Kind::maildir;
  job.user = rcpt.unix_user;
  job.maildir = std::move(*path);
  job.folder = std::string(folder);
  if (std::string why = validate_job(job); !why.empty()) {
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.5", "bad maildir delivery: " + why};
    return r;
  }
  job.data = local_message(request, rcpt);
  JobResult res = spawner.run(job);
  switch (res.status) {
    case JobResult::Status::maildir_ok:
      r.outcome = Outcome::ok;
      r.reply = Reply{250, "2.0.0", "delivered to maildir"};
      return r;
    case JobResult::Status::maildir_failed:
      if (res.temporary) {
        r.outcome = Outcome::tempfail;
        if (res.code == EDQUOT) {
          r.reply = Reply{452, "4.2.2", res.text};
        } else if (res.code == ENOSPC) {
          r.reply = Reply{452, "4.3.1", res.text};
        } else {
          r.reply = Reply{450, "4.2.0", res.text};
        }
      } else {
        r.outcome = Outcome::permfail;
        r.reply = Reply{550, "5.2.0", res.text};
      }
      return r;
    default:
      return job_not_run(res, relay);
  }
}

}  // namespace mp::transports
