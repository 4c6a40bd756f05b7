// mpsendmail -bs, -bp, -q (see sendmail_modes.hpp).
#include "tools/sendmail_modes.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tools/sendmail_smtp.hpp"

namespace mp::submission {
namespace {

// Writes all of `text` to stdout; false when the reader is gone.
bool write_out(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Reply queue_one(const Config& config, Queuer& queuer, const SmtpMessage& m) {
  const Invoker& who = queuer.who();
  const std::string& host = config.myhostname;
  std::time_t now = std::time(nullptr);
  PrepareInput prep;
  prep.from =
      from_header_value(who.full_name, m.sender.is_null() ? who.name + "@" + host : m.sender.str());
  prep.date = rfc5322_date(now, utc_offset(now));
  prep.message_id = message_id(host, now);
  Prepared message = prepare_message(m.content, prep);

  Envelope env;
  env.sender = m.sender;
  env.recipients = m.recipients;
  env.helo = host;
  env.client_name = "localhost";
  env.protocol = "local";
  env.eightbit = message.eightbit;
  env.smtputf8 = m.smtputf8 || m.sender.needs_smtputf8();
  for (const Address& a : m.recipients) env.smtputf8 = env.smtputf8 || a.needs_smtputf8();
  env.arrival = static_cast<std::int64_t>(now);

  Queued q = queuer.queue(env, message.content, prep.date);
  if (q.status == ex_ok) return Reply{250, "2.0.0", "Ok: queued as " + q.id};
  std::cerr << "mpsendmail: " << q.error << "\n";
  if (q.status == ex_tempfail) return Reply{451, "4.3.0", "Error: queue file write error"};
  return Reply{554, "5.6.0", "Error: message refused: " + q.error};
}

}  // namespace

int run_mpqueue(const Options& o) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::cerr << "mpsendmail: cannot find mpqueue: /proc/self/exe: " << ec.message() << "\n";
    return ex_software;
  }
  const std::string mpqueue = (self.parent_path() / "mpqueue").string();
  std::vector<std::string> args{"mpqueue"};
  if (!o.config_file.empty()) args.insert(args.end(), {"-c", o.config_file});
  if (o.mode == Mode::list_queue) {
    args.push_back("-p");
  } else {
    args.push_back("flush");
    if (!o.queue_site.empty()) args.insert(args.end(), {"--domain", o.queue_site});
    if (!o.queue_id.empty()) args.push_back(o.queue_id);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(mpqueue.c_str(), argv.data());
  std::cerr << "mpsendmail: cannot run " << mpqueue << ": " << std::strerror(errno) << "\n";
  return ex_software;
}

int run_smtp(const Config& config, Queuer& queuer) {
  StdinSmtpSettings settings;
  settings.hostname = config.myhostname;
  settings.message_size_limit = config.message_size_limit;
  settings.max_recipients = config.max_recipients;
  StdinSmtp smtp(settings, [&](const SmtpMessage& m) { return queue_one(config, queuer, m); });
  if (!write_out(smtp.greeting())) return ex_ioerr;
  std::string in, out;
  char buf[65536];
  constexpr std::size_t kMaxCommandLine = 64 * 1024;  // DATA lines are not limited
  while (!smtp.done()) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::cerr << "mpsendmail: cannot read standard input: " << std::strerror(errno) << "\n";
      return ex_ioerr;
    }
    if (n == 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; !smtp.done() && (nl = in.find('\n', start)) != std::string::npos;
         start = nl + 1)
      out += smtp.line(std::string_view(in).substr(start, nl - start));
    in.erase(0, start);
    if (!smtp.in_data() && in.size() > kMaxCommandLine) {
      out += Reply{500, "5.5.2", "Error: line too long"}.wire();
      in.clear();
    }
    // Pipelined replies go out together, before we wait for more input.
    if (!out.empty() && !write_out(out)) return ex_ioerr;
    out.clear();
  }
  smtp.end_of_input();
  return ex_ok;
}

}  // namespace mp::submission
