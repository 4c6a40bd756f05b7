// mpsendmail's pure parts: the sendmail command line, the end of input, header
// addresses, the stored message (tools/submission.hpp) and the submit protocol
// with its client (tools/submit_protocol.hpp, tools/submit_client.hpp).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "tools/submission.hpp"
#include "tools/submit_client.hpp"
#include "tools/submit_protocol.hpp"

using namespace mp::submission;

namespace {

Options parse_ok(std::vector<std::string> args) {
  CommandLine cl = parse_command_line(args);
  EXPECT_EQ(cl.error, "") << "args: " << ::testing::PrintToString(args);
  return cl.options;
}

std::string parse_error(std::vector<std::string> args) {
  return parse_command_line(args).error;
}

}  // namespace

// ---------------------------------------------------------------- command line

TEST(CommandLine, RecipientsAfterOptions) {
  Options o = parse_ok({"-oi", "-t", "a@x.org", "b@y.org"});
  EXPECT_TRUE(o.ignore_dots);
  EXPECT_TRUE(o.extract_recipients);
  EXPECT_EQ(o.recipients, (std::vector<std::string>{"a@x.org", "b@y.org"}));
  EXPECT_FALSE(o.sender.has_value());
}

TEST(CommandLine, CombinedFlagsAndAttachedValues) {
  Options o = parse_ok({"-ti", "-fsender@x.org", "-FJohn Doe", "rcpt@y.org"});
  EXPECT_TRUE(o.extract_recipients);
  EXPECT_TRUE(o.ignore_dots);
  EXPECT_EQ(o.sender, "sender@x.org");
  EXPECT_EQ(o.full_name, "John Doe");
  EXPECT_EQ(o.recipients, std::vector<std::string>{"rcpt@y.org"});

  // A value-taking letter inside a cluster takes the next argument.
  o = parse_ok({"-tf", "s@x.org", "-F", "Jane", "-C", "/etc/x.conf", "r@y.org"});
  EXPECT_TRUE(o.extract_recipients);
  EXPECT_EQ(o.sender, "s@x.org");
  EXPECT_EQ(o.full_name, "Jane");
  EXPECT_EQ(o.config_file, "/etc/x.conf");
  EXPECT_EQ(o.recipients, std::vector<std::string>{"r@y.org"});

  EXPECT_EQ(parse_ok({"-c", "a.conf", "r@y"}).config_file, "a.conf");
  EXPECT_EQ(parse_ok({"-Cb.conf", "r@y"}).config_file, "b.conf");
  EXPECT_EQ(parse_ok({"-r", "old@x", "r@y"}).sender, "old@x");
}

TEST(CommandLine, NullSenderAndEmptyFullName) {
  EXPECT_EQ(parse_ok({"-f", "<>", "r@y"}).sender, "<>");
  EXPECT_EQ(parse_ok({"-f", "", "r@y"}).sender, "");
  EXPECT_EQ(parse_ok({"-F", "", "r@y"}).full_name, "");
}

TEST(CommandLine, NoOpFlagsAreAccepted) {
  Options o = parse_ok({"-bm",   "-odi",  "-odb",     "-oem",  "-oee",  "-om",      "-m",   "-n",
                        "-U",    "-G",    "-v",       "-N",    "never", "-R",       "hdrs", "-V",
                        "envid", "-X",    "/tmp/log", "-Am",   "-B",    "8BITMIME", "-h",   "5",
                        "-L",    "label", "-d0.1",    "-Ox=y", "r@y"});
  EXPECT_FALSE(o.ignore_dots);
  EXPECT_TRUE(o.verbose);
  EXPECT_EQ(o.recipients, std::vector<std::string>{"r@y"});
  EXPECT_FALSE(o.ignored.empty());
}

TEST(CommandLine, DoubleDashEndsOptions) {
  Options o = parse_ok({"-i", "--", "-notanoption@x.org"});
  EXPECT_TRUE(o.ignore_dots);
  EXPECT_EQ(o.recipients, std::vector<std::string>{"-notanoption@x.org"});
}

TEST(CommandLine, OptionsStopAtTheFirstRecipient) {
  Options o = parse_ok({"r@y", "-t"});
  EXPECT_FALSE(o.extract_recipients);
  EXPECT_EQ(o.recipients, (std::vector<std::string>{"r@y", "-t"}));
}

TEST(CommandLine, HelpAndVersion) {
  EXPECT_TRUE(parse_ok({"--help"}).help);
  EXPECT_TRUE(parse_ok({"--version"}).version);
  EXPECT_NE(usage_text().find("-t"), std::string::npos);
}

TEST(CommandLine, UsageErrors) {
  EXPECT_NE(parse_error({"-f"}), "");
  EXPECT_NE(parse_error({"-F"}), "");
  EXPECT_NE(parse_error({"-C"}), "");
  EXPECT_NE(parse_error({"-o"}), "");
  EXPECT_NE(parse_error({"-b"}), "");
  EXPECT_NE(parse_error({"-Z", "r@y"}), "");
  EXPECT_NE(parse_error({"--frobnicate"}), "");
  EXPECT_NE(parse_error({"-N"}), "");
  EXPECT_NE(parse_error({"-bd"}), "");
  EXPECT_NE(parse_error({"-qR"}), "");
  EXPECT_NE(parse_error({"-qI"}), "");
  EXPECT_NE(parse_error({"-qSsender"}), "");
  EXPECT_NE(parse_error({"-bi"}).find("aliases"), std::string::npos);
  EXPECT_NE(parse_error({"-I"}), "");
}

TEST(CommandLine, Modes) {
  EXPECT_EQ(parse_ok({"r@y"}).mode, Mode::deliver);
  EXPECT_EQ(parse_ok({"-bm", "r@y"}).mode, Mode::deliver);
  EXPECT_EQ(parse_ok({"-bs"}).mode, Mode::smtp);
  EXPECT_EQ(parse_ok({"-bp", "-C", "f"}).mode, Mode::list_queue);
  EXPECT_EQ(parse_ok({"-bp", "-C", "f"}).config_file, "f");
  EXPECT_EQ(parse_ok({"-q"}).mode, Mode::run_queue);
  Options site = parse_ok({"-qRexample.org"});
  EXPECT_EQ(site.mode, Mode::run_queue);
  EXPECT_EQ(site.queue_site, "example.org");
  EXPECT_EQ(parse_ok({"-qI1NBH0E5OQ3B2K7VQ"}).queue_id, "1NBH0E5OQ3B2K7VQ");
  Options interval = parse_ok({"-q30m"});  // accepted, does nothing (Postfix too)
  EXPECT_EQ(interval.mode, Mode::deliver);
  EXPECT_EQ(interval.ignored, std::vector<std::string>{"-q30m"});
}

TEST(CommandLine, ProgramName) {
  using V = std::vector<std::string>;
  EXPECT_EQ(args_for_program_name("/usr/bin/mailq", {}), V{"-bp"});
  EXPECT_EQ(args_for_program_name("mailq", {"-C", "f"}), (V{"-bp", "-C", "f"}));
  EXPECT_EQ(args_for_program_name("/usr/sbin/newaliases", {}), V{"-bi"});
  EXPECT_EQ(args_for_program_name("/usr/sbin/sendmail", {"-t"}), V{"-t"});
  EXPECT_EQ(args_for_program_name("mpsendmail", {"r@y"}), V{"r@y"});
}

// ---------------------------------------------------------------- input

TEST(Input, DotLineEndsInputWithoutI) {
  InputCollector in(false, 0);
  EXPECT_FALSE(in.feed("Subject: x\n\nline\n.."));
  EXPECT_FALSE(in.feed("not the end\n"));
  EXPECT_TRUE(in.feed(".\nignored after the dot\n"));
  EXPECT_EQ(in.text(), "Subject: x\n\nline\n..not the end\n");
  EXPECT_TRUE(in.feed("more"));  // stays finished
  EXPECT_EQ(in.text(), "Subject: x\n\nline\n..not the end\n");
}

TEST(Input, DotLineSplitAcrossChunksAndCrlf) {
  InputCollector in(false, 0);
  EXPECT_FALSE(in.feed("a\r\n"));
  EXPECT_FALSE(in.feed("."));
  EXPECT_TRUE(in.feed("\r\nrest"));
  EXPECT_EQ(in.text(), "a\r\n");
}

TEST(Input, DotAtEndOfInputWithoutNewline) {
  InputCollector in(false, 0);
  EXPECT_FALSE(in.feed("a\n."));
  in.finish();
  EXPECT_EQ(in.text(), "a\n");
}

TEST(Input, IgnoreDotsKeepsDotLines) {
  InputCollector in(true, 0);
  EXPECT_FALSE(in.feed("a\n.\nb\n"));
  in.finish();
  EXPECT_EQ(in.text(), "a\n.\nb\n");
}

TEST(Input, DotsInsideLinesAreData) {
  InputCollector in(false, 0);
  EXPECT_FALSE(in.feed(". \n.x\n x.\n"));
  in.finish();
  EXPECT_EQ(in.text(), ". \n.x\n x.\n");
}

TEST(Input, SizeLimit) {
  InputCollector in(true, 10);
  EXPECT_FALSE(in.feed("0123456789"));
  EXPECT_FALSE(in.too_large());
  EXPECT_TRUE(in.feed("x"));
  EXPECT_TRUE(in.too_large());
}

// ---------------------------------------------------------------- addresses

TEST(Addresses, SplitAddressList) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_address_list("a@x.org"), V{"a@x.org"});
  EXPECT_EQ(split_address_list(" a@x.org , b@y.org "), (V{"a@x.org", "b@y.org"}));
  EXPECT_EQ(split_address_list("\"Doe, John\" <john@x.org>, Jane <jane@y.org>"),
            (V{"john@x.org", "jane@y.org"}));
  EXPECT_EQ(split_address_list("john@x.org (John, the boss), jane@y.org"),
            (V{"john@x.org", "jane@y.org"}));
  EXPECT_EQ(split_address_list("undisclosed-recipients:;"), V{});
  EXPECT_EQ(split_address_list("friends: a@x.org, B <b@y.org>;, c@z.org"),
            (V{"a@x.org", "b@y.org", "c@z.org"}));
  EXPECT_EQ(split_address_list("\"quoted local\"@x.org"), V{"\"quoted local\"@x.org"});
  EXPECT_EQ(split_address_list("<\"a b\"@x.org>"), V{"\"a b\"@x.org"});
  EXPECT_EQ(split_address_list("root"), V{"root"});
  EXPECT_EQ(split_address_list(""), V{});
  EXPECT_EQ(split_address_list("Name With Spaces"), V{"NameWithSpaces"});  // refused later
}

TEST(Addresses, ParseRecipient) {
  std::string error;
  auto a = parse_recipient("root", "host.test", error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "root@host.test");
  a = parse_recipient("bob@Example.ORG", "host.test", error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "bob@Example.ORG");
  a = parse_recipient("\"a@b\"", "host.test", error);  // the @ is quoted: a bare local part
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, "host.test");
  EXPECT_FALSE(parse_recipient("a@@b", "host.test", error));
  EXPECT_NE(error, "");
  EXPECT_FALSE(parse_recipient("NameWithSpaces@", "host.test", error));
  EXPECT_FALSE(parse_recipient("a\nb@x", "host.test", error));
}

TEST(Addresses, FromHeaderValue) {
  EXPECT_EQ(from_header_value("", "a@x"), "a@x");
  EXPECT_EQ(from_header_value("John Doe", "a@x"), "John Doe <a@x>");
  EXPECT_EQ(from_header_value("Doe, John", "a@x"), "\"Doe, John\" <a@x>");
  EXPECT_EQ(from_header_value("say \"hi\"", "a@x"), "\"say \\\"hi\\\"\" <a@x>");
  // No header injection through -F.
  EXPECT_EQ(from_header_value("Evil\r\nBcc: x@y", "a@x"), "\"Evil  Bcc: x@y\" <a@x>");
  EXPECT_EQ(from_header_value("Jörg", "a@x"), "=?UTF-8?B?SsO2cmc=?= <a@x>");
}

TEST(Dates, Rfc5322) {
  EXPECT_EQ(rfc5322_date(0, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1700000000, 3600), "Tue, 14 Nov 2023 23:13:20 +0100");
  EXPECT_EQ(rfc5322_date(1700000000, -5 * 3600 - 1800), "Tue, 14 Nov 2023 16:43:20 -0530");
}

// ---------------------------------------------------------------- the message

namespace {

PrepareInput defaults(bool extract = false) {
  PrepareInput in;
  in.extract_recipients = extract;
  in.from = "U <u@h.test>";
  in.date = "Thu, 01 Jan 1970 00:00:00 +0000";
  in.message_id = "<id@h.test>";
  return in;
}

}  // namespace

TEST(Prepare, AddsMissingHeadersAndConvertsToCrlf) {
  Prepared p = prepare_message("Subject: hi\nTo: a@x.org\n\nline 1\nline 2", defaults());
  EXPECT_EQ(
      p.content,
      "Subject: hi\r\nTo: a@x.org\r\n"
      "From: U <u@h.test>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\nMessage-ID: <id@h.test>\r\n"
      "\r\nline 1\r\nline 2\r\n");
  EXPECT_TRUE(p.header_recipients.empty());
  EXPECT_FALSE(p.eightbit);
}

TEST(Prepare, KeepsPresentHeaders) {
  std::string msg =
      "from: me@x.org\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\nmessage-id: <m@x>\r\n\r\nbody\r\n";
  Prepared p = prepare_message(msg, defaults());
  EXPECT_EQ(p.content, msg);
}

TEST(Prepare, ExtractsRecipientsAndRemovesBcc) {
  Prepared p = prepare_message(
      "To: a@x.org,\n  \"B\" <b@y.org>\nCc: c@z.org\nBcc: hidden@w.org,\n\tother@w.org\n"
      "Subject: s\n\nbody\n",
      defaults(true));
  EXPECT_EQ(p.header_recipients, (std::vector<std::string>{"a@x.org", "b@y.org", "c@z.org",
                                                           "hidden@w.org", "other@w.org"}));
  EXPECT_EQ(p.content.find("Bcc"), std::string::npos);
  EXPECT_EQ(p.content.find("hidden"), std::string::npos);
  EXPECT_NE(p.content.find("To: a@x.org,\r\n  \"B\" <b@y.org>\r\nCc: c@z.org\r\nSubject: s\r\n"),
            std::string::npos);
}

TEST(Prepare, BccRemovedEvenWithoutT) {
  Prepared p = prepare_message("bcc: x@y\nSubject: s\n\nb\n", defaults(false));
  EXPECT_TRUE(p.header_recipients.empty());
  EXPECT_EQ(p.content.find("x@y"), std::string::npos);
}

TEST(Prepare, ResentHeadersWinWhenPresent) {
  Prepared p = prepare_message("To: orig@x.org\nResent-To: new@y.org\nResent-Bcc: nb@z.org\n\nb\n",
                               defaults(true));
  EXPECT_EQ(p.header_recipients, (std::vector<std::string>{"new@y.org", "nb@z.org"}));
  EXPECT_EQ(p.content.find("nb@z.org"), std::string::npos);
}

TEST(Prepare, NoHeaderAtAll) {
  Prepared p = prepare_message("just a body line\nsecond: not a header\n", defaults());
  EXPECT_EQ(
      p.content,
      "From: U <u@h.test>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\nMessage-ID: <id@h.test>\r\n"
      "\r\njust a body line\r\nsecond: not a header\r\n");
}

TEST(Prepare, HeaderEndsAtNonHeaderLine) {
  Prepared p = prepare_message("Subject: x\nthis is body\n", defaults());
  EXPECT_NE(p.content.find("Message-ID: <id@h.test>\r\n\r\nthis is body\r\n"), std::string::npos);
}

TEST(Prepare, EmptyInput) {
  Prepared p = prepare_message("", defaults());
  EXPECT_EQ(p.content,
            "From: U <u@h.test>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\nMessage-ID: "
            "<id@h.test>\r\n\r\n");
}

TEST(Prepare, MboxFromLineDroppedAndBareCrNormalized) {
  Prepared p =
      prepare_message("From someone Mon Jan  1 00:00:00 2024\nSubject: a\rb\n\nx\ry\n", defaults());
  EXPECT_EQ(p.content.find("From someone"), std::string::npos);
  // The bare CR splits the Subject line; "b" is no header line, so the body starts there.
  EXPECT_EQ(p.content.rfind("Subject: a\r\nFrom: ", 0), 0u);
  EXPECT_NE(p.content.find("Message-ID: <id@h.test>\r\n\r\nb\r\n\r\nx\r\ny\r\n"),
            std::string::npos);
  EXPECT_TRUE(mp::submit::crlf_clean(p.content));
}

TEST(Prepare, ReceivedPrependedAndEightBit) {
  PrepareInput in = defaults();
  in.received = "Received: by h.test; now\r\n";
  Prepared p = prepare_message("Subject: caf\xc3\xa9\n\nb\n", in);
  EXPECT_EQ(p.content.rfind("Received: by h.test; now\r\nSubject:", 0), 0u);
  EXPECT_TRUE(p.eightbit);
}

// ---------------------------------------------------------------- submit protocol

TEST(SubmitProtocol, HeaderRoundTrip) {
  mp::Envelope env;
  std::string error;
  env.sender = *parse_recipient("s@x.org", "h", error);
  env.recipients = {*parse_recipient("a@y.org", "h", error),
                    *parse_recipient("\"b c\"@z.org", "h", error)};
  std::string h = mp::submit::encode_request_header(env, 42);
  EXPECT_EQ(mp::submit::header_end(h), h.size());
  EXPECT_EQ(mp::submit::header_end(h.substr(0, h.size() - 1)), 0u);
  auto parsed = mp::submit::parse_request_header(h, error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->sender, env.sender);
  EXPECT_EQ(parsed->recipients, env.recipients);
  EXPECT_EQ(parsed->size, 42u);

  env.sender = mp::Address{};
  parsed = mp::submit::parse_request_header(mp::submit::encode_request_header(env, 0), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_TRUE(parsed->sender.is_null());
}

TEST(SubmitProtocol, BadHeaders) {
  std::string error;
  for (std::string h : {
           "HELLO\n\n",
           "MAILPROC-SUBMIT 1\nsender <a@b>\nsize 1\n\n",                // no rcpt
           "MAILPROC-SUBMIT 1\nrcpt <a@b>\nsize 1\n\n",                  // no sender
           "MAILPROC-SUBMIT 1\nsender <a@b>\nrcpt <c@d>\n\n",            // no size
           "MAILPROC-SUBMIT 1\nsender <a@b>\nrcpt <c@d>\nsize -1\n\n",   // bad size
           "MAILPROC-SUBMIT 1\nsender <a@b>\nrcpt <>\nsize 1\n\n",       // null rcpt
           "MAILPROC-SUBMIT 1\nsender <a@b> x\nrcpt <c@d>\nsize 1\n\n",  // trailing text
           "MAILPROC-SUBMIT 1\nsender <a@b>\nsender <a@b>\nrcpt <c@d>\nsize 1\n\n",
           "MAILPROC-SUBMIT 1\nsender <a@b>\nrcpt <c@d>\nsize 1\nuid 0\n\n",  // unknown line
       }) {
    error.clear();
    EXPECT_FALSE(mp::submit::parse_request_header(h, error)) << h;
    EXPECT_NE(error, "") << h;
  }
}

TEST(SubmitProtocol, CrlfClean) {
  EXPECT_TRUE(mp::submit::crlf_clean(""));
  EXPECT_TRUE(mp::submit::crlf_clean("a\r\nb\r\n"));
  EXPECT_FALSE(mp::submit::crlf_clean("a\nb\r\n"));
  EXPECT_FALSE(mp::submit::crlf_clean("a\rb\r\n"));
  EXPECT_FALSE(mp::submit::crlf_clean("a\r\nb"));
  EXPECT_FALSE(mp::submit::crlf_clean("\n"));
}

TEST(SubmitProtocol, Responses) {
  using mp::submit::Outcome;
  auto r = mp::submit::parse_response("ok 1ABC");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::ok);
  EXPECT_EQ(r->text, "1ABC");
  EXPECT_FALSE(mp::submit::parse_response("ok"));
  EXPECT_FALSE(mp::submit::parse_response("maybe x"));
  EXPECT_EQ(mp::submit::encode_response({Outcome::tempfail, "disk\nfull"}), "tempfail disk full\n");
  r = mp::submit::parse_response("fail too big");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::fail);
}

// ---------------------------------------------------------------- submit client

namespace {

// A one-shot unix-socket server in a thread: reads the request, answers `answer`.
struct FakeDaemon {
  std::filesystem::path dir, path;
  int listener = -1;
  std::thread thread;
  std::string received;

  explicit FakeDaemon(std::string answer) {
    char tmpl[] = "/tmp/mp-submit-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir / "submit";
    listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    thread = std::thread([this, answer] {
      int c = ::accept(listener, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      for (;;) {
        std::size_t end = mp::submit::header_end(received);
        if (end != 0) {
          std::string error;
          auto h = mp::submit::parse_request_header(received.substr(0, end), error);
          if (!h || received.size() >= end + h->size) break;
        }
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, static_cast<std::size_t>(n));
      }
      if (!answer.empty()) (void)!::write(c, answer.data(), answer.size());
      ::close(c);
    });
  }
  ~FakeDaemon() {
    thread.join();
    ::close(listener);
    std::filesystem::remove_all(dir);
  }
};

mp::Envelope envelope() {
  mp::Envelope env;
  std::string error;
  env.sender = *parse_recipient("s@x.org", "h", error);
  env.recipients = {*parse_recipient("r@y.org", "h", error)};
  return env;
}

}  // namespace

TEST(SubmitClient, QueuedOnlyOnOk) {
  FakeDaemon d("ok 1QUEUEID\n");
  SubmitResult r =
      submit(d.path, envelope(), "Subject: x\r\n\r\nbody\r\n", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 0) << r.error;
  EXPECT_EQ(r.id, "1QUEUEID");
  d.thread.join();
  d.thread = std::thread([] {});
  EXPECT_EQ(d.received,
            "MAILPROC-SUBMIT 1\nsender <s@x.org>\nrcpt <r@y.org>\nsize 20\n\n"
            "Subject: x\r\n\r\nbody\r\n");
}

TEST(SubmitClient, TempfailFailAndSilence) {
  {
    FakeDaemon d("tempfail disk full\n");
    SubmitResult r = submit(d.path, envelope(), "x\r\n", std::chrono::seconds(10));
    EXPECT_EQ(r.status, 75);
    EXPECT_NE(r.error.find("disk full"), std::string::npos);
  }
  {
    FakeDaemon d("fail message too large\n");
    EXPECT_EQ(submit(d.path, envelope(), "x\r\n", std::chrono::seconds(10)).status, 65);
  }
  {
    FakeDaemon d("");  // closes without an answer: not queued
    SubmitResult r = submit(d.path, envelope(), "x\r\n", std::chrono::seconds(10));
    EXPECT_EQ(r.status, 75);
    EXPECT_NE(r.error, "");
  }
}

TEST(SubmitClient, NoDaemonIsTempfail) {
  SubmitResult r = submit("/nonexistent/mailproc/submit", envelope(), "x\r\n");
  EXPECT_EQ(r.status, 75);
  EXPECT_NE(r.error.find("/nonexistent/mailproc/submit"), std::string::npos);
}
