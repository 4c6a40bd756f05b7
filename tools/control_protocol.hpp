// The control protocol: how mpqueue (and mpsendmail's wake-up) talk to a running
// mailprocd over its unix control socket (`control_socket`, SPOOLDIR/control).
//
//   client → server   one request line:  VERB [ARG...] "\n"
//                       flush [ID...|ALL]      deferred mail due now (no ID: all)
//                       delete ID...|ALL       remove from the queue
//                       hold ID...|ALL         park in hold/
//                       release ID...|ALL      hold/ → deferred/, due now
//                       requeue ID...|ALL      due now, routed afresh by the current rules
//                       wake ID...             a message was just written to incoming/
//                       reload                 as SIGHUP: re-read the config and map files
//   server → client   zero or more lines, then one status line, then it closes:
//                       "done ID"              acted on
//                       "missing ID"           not in a sub-queue where the action applies
//                       "message TEXT"         detail (reload: one FILE:LINE error a line)
//                       "ok" | "error: TEXT"   the status, always last
//
// Written by tools/control_client (mpqueue, mpsendmail), read by
// tools/control_server (mailprocd). Pure: no I/O, so both ends and their tests
// share it. Invariants: a parsed request holds only valid queue IDs
// (queue::is_valid_queue_id), no duplicates, and `all` never together with IDs;
// no line of either direction holds a raw CR, LF or other control character.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mp::control {

// Longest request line the server reads (about 60,000 queue IDs).
inline constexpr std::size_t kMaxRequestLine = 1024 * 1024;

enum class Command { flush, remove, hold, release, requeue, wake, reload };

std::string_view verb(Command c);                          // "flush", "delete", ...
std::optional<Command> parse_verb(std::string_view verb);  // exact, lower case

struct Request {
  Command command = Command::flush;
  bool all = false;              // every message the action applies to ("ALL", or flush alone)
  std::vector<std::string> ids;  // valid queue IDs, no duplicates, in the order given
};

// A request from a command and its arguments (mpqueue's command line, or the
// words after the verb on the wire). nullopt with `error` set when the
// arguments do not fit the command: a bad queue ID, ALL mixed with IDs, IDs
// missing, arguments to reload.
std::optional<Request> make_request(Command command, const std::vector<std::string>& args,
                                    std::string& error);

// The request line, "\n" included. The request must be one make_request() accepts.
std::string format_request(const Request& request);

// One request line (without its "\n"; a trailing "\r" is ignored).
std::optional<Request> parse_request(std::string_view line, std::string& error);

struct Response {
  std::vector<std::string> done;
  std::vector<std::string> missing;
  std::vector<std::string> messages;
  bool ok = true;
  std::string error;  // when !ok: what went wrong, one line
};

// Every line of the response, the status last. Control characters in
// messages and in the error are replaced by spaces.
std::string format_response(const Response& response);

// A whole response as read until the server closed the connection. nullopt
// with `error` set when it is malformed or has no status line.
std::optional<Response> parse_response(std::string_view text, std::string& error);

}  // namespace mp::control
