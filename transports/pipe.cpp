// Pipe deliveries and the program-running code shared with the MDA transport.
#include "transports/pipe.hpp"

#include "common/config_file.hpp"
#include "transports/local_job_wire.hpp"
#include "transports/local_message.hpp"
#include "transports/placeholders.hpp"
#include "transports/subprocess.hpp"

namespace mp::transports {
namespace {

std::string seconds_text(std::chrono::milliseconds t) {
  if (t.count() % 1000 == 0) return std::to_string(t.count() / 1000) + "s";
  return std::to_string(t.count()) + "ms";
}

std::string with_stderr(std::string text, const std::string& line) {
  if (!line.empty()) text += ": " + line;
  return text;
}

}  // namespace

std::optional<std::vector<std::string>> parse_pipe_hop(std::string_view next_hop,
                                                       std::string& why) {
  if (next_hop.empty() || next_hop.front() != '|') {
    why = "a pipe next hop starts with '|'";
    return std::nullopt;
  }
  auto argv = split_words(next_hop.substr(1));
  if (argv.empty() || argv[0].front() != '/') {
    why = "the program must be an absolute path";
    return std::nullopt;
  }
  return argv;
}

RecipientResult command_result(const JobResult& job, const std::string& program,
                               std::chrono::milliseconds timeout, const std::string& relay) {
  RecipientResult r;
  r.relay = relay;
  switch (job.status) {
    case JobResult::Status::exited:
      if (job.code == 0) {
        r.outcome = Outcome::ok;
        r.reply = Reply{250, "2.0.0", "delivered to command: " + program};
      } else if (job.code == kExTempfail) {
        r.outcome = Outcome::tempfail;
        r.reply = Reply{451, "4.3.0",
                        with_stderr("command " + program +
                                        " exited with status 75 (EX_TEMPFAIL, try again later)",
                                    job.text)};
      } else {
        r.outcome = Outcome::permfail;
        r.reply = Reply{554, "5.3.0",
                        job.text.empty() ? "command " + program + " exited with status " +
                                               std::to_string(job.code)
                                         : job.text};
      }
      return r;
    case JobResult::Status::signaled:
      r.outcome = Outcome::tempfail;
      r.reply = Reply{451, "4.3.0",
                      with_stderr("command " + program + " killed by signal " +
                                      std::to_string(job.code) + " (" + signal_name(job.code) + ")",
                                  job.text)};
      return r;
    case JobResult::Status::timed_out:
      r.outcome = Outcome::tempfail;
      r.reply = Reply{451, "4.3.0",
                      "command " + program + " timed out after " + seconds_text(timeout) +
                          " (pipe_timeout) and was killed"};
      return r;
    default:
      return job_not_run(job, relay);
  }
}

RecipientResult deliver_command(const std::vector<std::string>& argv_template,
                                const std::string& run_as, const std::string& relay,
                                std::chrono::milliseconds timeout, const DeliveryRequest& request,
                                const RecipientRef& rcpt, Spawner& spawner) {
  if (auto refused = refuse_before_delivery(request, rcpt, relay)) return *refused;
  ExpandError error;
  auto argv = expand_argv(argv_template, placeholder_values(request, rcpt, run_as), error);
  if (!argv) return expansion_refused(error, relay);

  Job job;
  job.kind = Job::Kind::exec;
  job.user = run_as;
  job.argv = std::move(*argv);
  job.env = delivery_env(request, rcpt);
  job.timeout = timeout;
  if (std::string why = validate_job(job); !why.empty()) {
    RecipientResult r;
    r.relay = relay;
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.5", "bad command delivery: " + why};
    return r;
  }
  job.data = local_message(request, rcpt);
  const std::string program = job.argv[0];
  return command_result(spawner.run(job), program, timeout, relay);
}

RecipientResult deliver_pipe(std::string_view next_hop, std::chrono::milliseconds timeout,
                             const DeliveryRequest& request, const RecipientRef& rcpt,
                             Spawner& spawner) {
  std::string why;
  auto argv = parse_pipe_hop(next_hop, why);
  if (!argv) {
    RecipientResult r;
    r.relay = "pipe";
    r.outcome = Outcome::tempfail;
    r.reply = Reply{451, "4.3.5", "bad pipe next hop: " + why};
    return r;
  }
  const std::string run_as = rcpt.unix_user.empty() ? "nobody" : rcpt.unix_user;
  return deliver_command(*argv, run_as, "pipe", timeout, request, rcpt, spawner);
}

}  // namespace mp::transports
