// The control protocol's pure side (see control_protocol.hpp).
#include "tools/control_protocol.hpp"

#include <set>
#include <stdexcept>

#include "queue/queue_id.hpp"

namespace mp::control {
namespace {

constexpr std::string_view kAll = "ALL";

std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';
  }
  return out;
}

// Words separated by spaces or tabs.
std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

// What an argument looks like in an error message: printable and short.
std::string shown(std::string_view arg) {
  std::string s = one_line(arg.substr(0, 40));
  if (arg.size() > 40) s += "...";
  return "'" + s + "'";
}

}  // namespace

std::string_view verb(Command c) {
  switch (c) {
    case Command::flush:
      return "flush";
    case Command::remove:
      return "delete";
    case Command::hold:
      return "hold";
    case Command::release:
      return "release";
    case Command::requeue:
      return "requeue";
    case Command::wake:
      return "wake";
    case Command::reload:
      return "reload";
  }
  return "?";
}

std::optional<Command> parse_verb(std::string_view v) {
  for (Command c : {Command::flush, Command::remove, Command::hold, Command::release,
                    Command::requeue, Command::wake, Command::reload}) {
    if (verb(c) == v) return c;
  }
  return std::nullopt;
}

std::optional<Request> make_request(Command command, const std::vector<std::string>& args,
                                    std::string& error) {
  Request r;
  r.command = command;
  const std::string name(verb(command));
  if (command == Command::reload) {
    if (!args.empty()) {
      error = "reload takes no arguments";
      return std::nullopt;
    }
    return r;
  }
  std::set<std::string> seen;
  for (const std::string& a : args) {
    if (a == kAll) {
      if (command == Command::wake) {
        error = "wake takes queue IDs, not ALL";
        return std::nullopt;
      }
      r.all = true;
      continue;
    }
    if (!queue::is_valid_queue_id(a)) {
      error = "bad queue ID " + shown(a);
      return std::nullopt;
    }
    if (seen.insert(a).second) r.ids.push_back(a);
  }
  if (r.all && !r.ids.empty()) {
    error = "ALL cannot be combined with queue IDs";
    return std::nullopt;
  }
  if (r.all && args.size() > 1) {
    error = "ALL given more than once";
    return std::nullopt;
  }
  if (!r.all && r.ids.empty()) {
    if (command == Command::flush) {
      r.all = true;  // postqueue -f: everything deferred
    } else {
      error = name + (command == Command::wake ? " needs queue IDs" : " needs queue IDs or ALL");
      return std::nullopt;
    }
  }
  return r;
}

std::string format_request(const Request& request) {
  std::string line(verb(request.command));
  if (request.command != Command::reload) {
    if (request.all) {
      if (!request.ids.empty()) throw std::invalid_argument("control request: ALL with queue IDs");
      line += " ALL";
    }
    for (const std::string& id : request.ids) {
      if (!queue::is_valid_queue_id(id))
        throw std::invalid_argument("control request: bad queue ID " + shown(id));
      line += ' ';
      line += id;
    }
  }
  return line + "\n";
}

std::optional<Request> parse_request(std::string_view line, std::string& error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxRequestLine) {
    error = "request too long";
    return std::nullopt;
  }
  // Tabs separate words like spaces; any other control character spoils the request.
  for (unsigned char c : line) {
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      error = "control character in request";
      return std::nullopt;
    }
  }
  std::vector<std::string> words = split_words(line);
  if (words.empty()) {
    error = "empty request";
    return std::nullopt;
  }
  std::optional<Command> command = parse_verb(words.front());
  if (!command) {
    error = "unknown command " + shown(words.front());
    return std::nullopt;
  }
  words.erase(words.begin());
  return make_request(*command, words, error);
}

std::string format_response(const Response& response) {
  std::string out;
  for (const std::string& id : response.done) out += "done " + one_line(id) + "\n";
  for (const std::string& id : response.missing) out += "missing " + one_line(id) + "\n";
  for (const std::string& m : response.messages) out += "message " + one_line(m) + "\n";
  if (response.ok) {
    out += "ok\n";
  } else {
    // Leading blanks are dropped on read: an error of only blanks would read back empty.
    std::string e = one_line(response.error);
    e.erase(0, e.find_first_not_of(' '));
    out += "error: " + (e.empty() ? std::string("failed") : e) + "\n";
  }
  return out;
}

std::optional<Response> parse_response(std::string_view text, std::string& error) {
  Response r;
  bool status = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      error = "the daemon's answer ends in the middle of a line";
      return std::nullopt;
    }
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (status) {
      error = "the daemon's answer goes on after its status line";
      return std::nullopt;
    }
    auto value = [&](std::string_view key) -> std::optional<std::string> {
      if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ')
        return std::string(line.substr(key.size() + 1));
      return std::nullopt;
    };
    if (line == "ok") {
      status = true;
    } else if (line.substr(0, 6) == "error:") {
      status = true;
      r.ok = false;
      std::string_view e = line.substr(6);
      while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
      r.error = std::string(e);
    } else if (auto v = value("done")) {
      r.done.push_back(*v);
    } else if (auto v = value("missing")) {
      r.missing.push_back(*v);
    } else if (auto v = value("message")) {
      r.messages.push_back(*v);
    } else {
      error = "unexpected line in the daemon's answer: " + shown(line);
      return std::nullopt;
    }
  }
  if (!status) {
    error = "the daemon closed the connection without a status line";
    return std::nullopt;
  }
  return r;
}

}  // namespace mp::control
