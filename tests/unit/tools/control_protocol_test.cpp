// The control socket's line protocol (tools/control_protocol.hpp): requests are
// validated before anything else, responses round-trip, malformed ones are refused.
#include "tools/control_protocol.hpp"

#include <gtest/gtest.h>

using namespace mp::control;

namespace {

const std::string kId1 = "1NBH0E5OQ3B2K7VQ";
const std::string kId2 = "1NBH0E5OQ3B2K7VR";

Request parse_ok(std::string_view line) {
  std::string error;
  std::optional<Request> r = parse_request(line, error);
  EXPECT_TRUE(r.has_value()) << line << ": " << error;
  return r.value_or(Request{});
}

std::string parse_error(std::string_view line) {
  std::string error;
  std::optional<Request> r = parse_request(line, error);
  EXPECT_FALSE(r.has_value()) << line;
  return error;
}

}  // namespace

TEST(ControlRequest, EveryVerbRoundTrips) {
  for (Command c : {Command::flush, Command::remove, Command::hold, Command::release,
                    Command::requeue, Command::wake}) {
    std::string error;
    auto r = make_request(c, {kId1, kId2}, error);
    ASSERT_TRUE(r) << error;
    std::string line = format_request(*r);
    EXPECT_EQ(line, std::string(verb(c)) + " " + kId1 + " " + kId2 + "\n");
    Request back = parse_ok(std::string_view(line).substr(0, line.size() - 1));
    EXPECT_EQ(back.command, c);
    EXPECT_FALSE(back.all);
    EXPECT_EQ(back.ids, (std::vector<std::string>{kId1, kId2}));
  }
  Request reload = parse_ok("reload");
  EXPECT_EQ(reload.command, Command::reload);
  EXPECT_EQ(format_request(reload), "reload\n");
}

TEST(ControlRequest, VerbsAreTheMpqueueWords) {
  EXPECT_EQ(verb(Command::remove), "delete");
  EXPECT_EQ(parse_verb("delete"), Command::remove);
  EXPECT_EQ(parse_verb("remove"), std::nullopt);
  EXPECT_EQ(parse_verb("FLUSH"), std::nullopt);
}

TEST(ControlRequest, FlushWithoutIdsMeansAll) {
  Request r = parse_ok("flush");
  EXPECT_TRUE(r.all);
  EXPECT_TRUE(r.ids.empty());
  EXPECT_EQ(format_request(r), "flush ALL\n");
  EXPECT_TRUE(parse_ok("flush ALL").all);
}

TEST(ControlRequest, AllIsAloneAndOnlyWhereItApplies) {
  EXPECT_TRUE(parse_ok("delete ALL").all);
  EXPECT_TRUE(parse_ok("requeue ALL").all);
  EXPECT_TRUE(parse_ok("hold ALL").all);
  EXPECT_TRUE(parse_ok("release ALL").all);
  EXPECT_EQ(parse_error("delete ALL " + kId1), "ALL cannot be combined with queue IDs");
  EXPECT_EQ(parse_error("delete " + kId1 + " ALL"), "ALL cannot be combined with queue IDs");
  EXPECT_EQ(parse_error("delete ALL ALL"), "ALL given more than once");
  EXPECT_EQ(parse_error("wake ALL"), "wake takes queue IDs, not ALL");
  EXPECT_EQ(parse_error("delete all"), "bad queue ID 'all'");
}

TEST(ControlRequest, IdsAreNeeded) {
  EXPECT_EQ(parse_error("delete"), "delete needs queue IDs or ALL");
  EXPECT_EQ(parse_error("hold"), "hold needs queue IDs or ALL");
  EXPECT_EQ(parse_error("release"), "release needs queue IDs or ALL");
  EXPECT_EQ(parse_error("requeue"), "requeue needs queue IDs or ALL");
  EXPECT_EQ(parse_error("wake"), "wake needs queue IDs");
  EXPECT_EQ(parse_error("reload " + kId1), "reload takes no arguments");
}

TEST(ControlRequest, IdsAreValidatedBeforeAnything) {
  EXPECT_EQ(parse_error("delete 1NBH0E5OQ3B2K7V"), "bad queue ID '1NBH0E5OQ3B2K7V'");  // short
  EXPECT_EQ(parse_error("delete 1NBH0E5OQ3B2K7VW"),
            "bad queue ID '1NBH0E5OQ3B2K7VW'");  // W: not base 32
  EXPECT_EQ(parse_error("delete 1nbh0e5oq3b2k7vq"),
            "bad queue ID '1nbh0e5oq3b2k7vq'");  // lower case
  EXPECT_EQ(parse_error("hold ../../etc/passwd"), "bad queue ID '../../etc/passwd'");
  EXPECT_EQ(parse_error("hold " + kId1 + " x"), "bad queue ID 'x'");
  std::string error;
  EXPECT_FALSE(make_request(Command::hold, {"../x"}, error));
  EXPECT_EQ(error, "bad queue ID '../x'");
  // A long argument is shortened in the message.
  std::string e = parse_error("hold " + std::string(100, 'A'));
  EXPECT_EQ(e, "bad queue ID '" + std::string(40, 'A') + "...'");
}

TEST(ControlRequest, MalformedLines) {
  EXPECT_EQ(parse_error(""), "empty request");
  EXPECT_EQ(parse_error("   "), "empty request");
  EXPECT_EQ(parse_error("frobnicate"), "unknown command 'frobnicate'");
  EXPECT_EQ(parse_error(std::string("hold ") + kId1 + "\x01"), "control character in request");
  EXPECT_EQ(parse_error(std::string("hold\0", 5) + kId1), "control character in request");
  EXPECT_EQ(parse_error(std::string(kMaxRequestLine + 1, 'a')), "request too long");
}

TEST(ControlRequest, SpacingCrAndDuplicates) {
  Request r = parse_ok("hold \t " + kId1 + "   " + kId2 + " " + kId1 + "\r");
  EXPECT_EQ(r.command, Command::hold);
  EXPECT_EQ(r.ids, (std::vector<std::string>{kId1, kId2}));
}

TEST(ControlRequest, FormatRefusesWhatParseWouldRefuse) {
  Request r;
  r.command = Command::remove;
  r.ids = {"not-an-id"};
  EXPECT_THROW(format_request(r), std::invalid_argument);
  r.ids = {kId1};
  r.all = true;
  EXPECT_THROW(format_request(r), std::invalid_argument);
}

TEST(ControlResponse, RoundTrip) {
  Response r;
  r.done = {kId1};
  r.missing = {kId2};
  r.messages = {"/etc/mailproc/transport:3: bad next hop 'x y'"};
  r.ok = false;
  r.error = "1 queue ID(s) not found";
  std::string text = format_response(r);
  EXPECT_EQ(text, "done " + kId1 + "\nmissing " + kId2 +
                      "\nmessage /etc/mailproc/transport:3: bad next hop 'x y'\n"
                      "error: 1 queue ID(s) not found\n");
  std::string error;
  auto back = parse_response(text, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->done, r.done);
  EXPECT_EQ(back->missing, r.missing);
  EXPECT_EQ(back->messages, r.messages);
  EXPECT_FALSE(back->ok);
  EXPECT_EQ(back->error, r.error);

  auto ok = parse_response("ok\n", error);
  ASSERT_TRUE(ok) << error;
  EXPECT_TRUE(ok->ok);
  EXPECT_TRUE(ok->done.empty());
}

TEST(ControlResponse, NoNewlineSmuggling) {
  Response r;
  r.messages = {"line one\nok"};
  r.ok = false;
  r.error = "bad\r\nok";
  std::string text = format_response(r);
  EXPECT_EQ(text, "message line one ok\nerror: bad  ok\n");
  std::string error;
  auto back = parse_response(text, error);
  ASSERT_TRUE(back) << error;
  EXPECT_FALSE(back->ok);
}

TEST(ControlResponse, Malformed) {
  std::string error;
  EXPECT_FALSE(parse_response("", error));
  EXPECT_EQ(error, "the daemon closed the connection without a status line");
  EXPECT_FALSE(parse_response("done " + kId1 + "\n", error));
  EXPECT_EQ(error, "the daemon closed the connection without a status line");
  EXPECT_FALSE(parse_response("ok", error));
  EXPECT_EQ(error, "the daemon's answer ends in the middle of a line");
  EXPECT_FALSE(parse_response("ok\ndone " + kId1 + "\n", error));
  EXPECT_EQ(error, "the daemon's answer goes on after its status line");
  EXPECT_FALSE(parse_response("hello\nok\n", error));
  EXPECT_EQ(error, "unexpected line in the daemon's answer: 'hello'");
  EXPECT_FALSE(parse_response("done\nok\n", error));  // a key without its value
}

// Found by control_protocol_fuzz: an error of only blanks or control characters was
// written as "error:  " and read back as an empty error.
TEST(ControlResponse, BlankErrorIsWrittenAsFailed) {
  Response r;
  r.ok = false;
  r.error = "\t";
  EXPECT_EQ(format_response(r), "error: failed\n");
  std::string error;
  auto back = parse_response(format_response(r), error);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->error, "failed");
}
