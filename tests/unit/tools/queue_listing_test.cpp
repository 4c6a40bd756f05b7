// mpqueue's listings (tools/queue_listing.hpp): golden files for -p and -j, and
// inline checks of the Postfix details (columns, reasons, summary wording), of
// `show`, and of the spool scan.
//
// Golden cases: tests/golden/mpqueue/NAME.queue describes the queue; the output
// of -p must equal NAME.p.ref and that of -j NAME.j.ref (times in UTC).
// MP_GOLDEN_UPDATE=1 rewrites the .ref files instead: check every change by eye.
// A .queue file holds messages, one block each (`#` comments, blank lines skipped):
//   message QUEUE ID          sub-queue (active, incoming, deferred, hold) and queue ID
//   arrival EPOCH             envelope arrival
//   size N                    content size
//   mtime EPOCH               the file's mtime (a deferred message's next attempt)
//   sender ADDRESS            "<>" for the null sender
//   rcpt ADDRESS [STATE CODE STATUS TEXT...]
//                             STATE: pending (default), deferred (pending with that
//                             last reply), delivered, bounced; STATUS "-" for none
//   attempts N / next_attempt EPOCH
#include "tools/queue_listing.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <utime.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/address.hpp"
#include "queue/writer.hpp"

namespace fs = std::filesystem;
using namespace mp;
using namespace mp::listing;
using queue::RcptState;
using queue::SubQueue;

namespace {

const fs::path kCases = fs::path(MP_TEST_DATA) / "golden" / "mpqueue";
const Options kUtc{true};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Address address(const std::string& text) {
  PathOptions opts;
  opts.allow_null = true;
  opts.allow_utf8 = true;
  opts.allow_postmaster = true;
  std::string error;
  auto a = parse_address(text, opts, error);
  if (!a) throw std::runtime_error("bad address '" + text + "': " + error);
  return *a;
}

std::vector<Entry> parse_queue_description(const std::string& text) {
  std::vector<Entry> out;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string key;
    words >> key;
    auto fail = [&](const std::string& why) {
      throw std::runtime_error("line " + std::to_string(lineno) + ": " + why + ": " + line);
    };
    if (key == "message") {
      std::string q, id;
      words >> q >> id;
      auto sq = queue::parse_sub_queue(q);
      if (!sq || id.empty()) fail("bad message line");
      Entry e;
      e.queue = *sq;
      e.file.id = id;
      out.push_back(std::move(e));
      continue;
    }
    if (out.empty()) fail("no message line before");
    Entry& e = out.back();
    if (key == "arrival") {
      words >> e.file.envelope.arrival;
    } else if (key == "size") {
      words >> e.file.content_size;
    } else if (key == "mtime") {
      words >> e.mtime;
    } else if (key == "attempts") {
      words >> e.file.attempts;
    } else if (key == "next_attempt") {
      words >> e.file.next_attempt;
    } else if (key == "sender") {
      std::string a;
      words >> a;
      e.file.envelope.sender = address(a);
    } else if (key == "rcpt") {
      std::string a, state;
      words >> a >> state;
      e.file.envelope.recipients.push_back(address(a));
      queue::RecipientStatus s;
      if (!state.empty() && state != "pending") {
        if (state == "delivered") {
          s.state = RcptState::delivered;
        } else if (state == "bounced") {
          s.state = RcptState::bounced;
        } else if (state != "deferred") {
          fail("bad state");
        }
        std::string status, rest;
        words >> s.last_reply.code >> status;
        s.last_reply.status = status == "-" ? "" : status;
        std::getline(words >> std::ws, rest);
        s.last_reply.text = rest;
        s.last_time = e.file.envelope.arrival + 60;
      }
      e.file.recipients.push_back(s);
    } else {
      fail("unknown key");
    }
  }
  return out;
}

std::vector<std::string> list_cases() {
  std::vector<std::string> names;
  if (!fs::is_directory(kCases)) return names;
  for (const auto& f : fs::directory_iterator(kCases))
    if (f.path().extension() == ".queue") names.push_back(f.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class ListingGolden : public ::testing::TestWithParam<std::string> {};

void compare_or_update(const fs::path& ref, const std::string& actual) {
  if (std::getenv("MP_GOLDEN_UPDATE")) {
    std::ofstream(ref, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(ref)) << ref << " is missing (MP_GOLDEN_UPDATE=1 writes it)";
  EXPECT_EQ(actual, slurp(ref)) << "output differs from " << ref;
}

TEST_P(ListingGolden, MatchesRef) {
  const std::string name = GetParam();
  std::vector<Entry> entries = parse_queue_description(slurp(kCases / (name + ".queue")));
  compare_or_update(kCases / (name + ".p.ref"), format_postqueue(entries, kUtc));
  compare_or_update(kCases / (name + ".j.ref"), format_json(entries));
}

INSTANTIATE_TEST_SUITE_P(Mpqueue, ListingGolden, ::testing::ValuesIn(list_cases()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(ListingGoldenCases, ArePresent) {
  EXPECT_GE(list_cases().size(), 4u);
}

Entry make(SubQueue q, const std::string& id, const std::string& sender,
           std::vector<std::string> rcpts, std::size_t size = 100) {
  Entry e;
  e.queue = q;
  e.file.id = id;
  e.file.content_size = size;
  e.file.envelope.arrival = 1732280000;  // Fri Nov 22 12:53:20 2024 UTC
  e.file.envelope.sender = address(sender);
  for (const std::string& r : rcpts) {
    e.file.envelope.recipients.push_back(address(r));
    e.file.recipients.emplace_back();
  }
  return e;
}

void defer(Entry& e, std::size_t i, Reply reply) {
  e.file.recipients[i].last_reply = std::move(reply);
  e.file.recipients[i].last_time = e.file.envelope.arrival + 60;
}

}  // namespace

TEST(Postqueue, EmptyQueue) {
  EXPECT_EQ(format_postqueue({}), "Mail queue is empty\n");
}

TEST(Postqueue, ColumnsOfPostfixLongQueueIds) {
  Entry e =
      make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "john@example.org", {"alice@example.net"}, 2048);
  std::string out = format_postqueue({e}, kUtc);
  std::istringstream lines(out);
  std::string header, msg, rcpt, blank, summary;
  std::getline(lines, header);
  std::getline(lines, msg);
  std::getline(lines, rcpt);
  std::getline(lines, blank);
  std::getline(lines, summary);
  // %-17s %8s %-19s %s
  EXPECT_EQ(header, "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------");
  EXPECT_EQ(msg, "1NBH0E5OQ3B2K7VQ      2048 Fri Nov 22 12:53:20 john@example.org");
  EXPECT_EQ(msg.find("john"), 47u);
  // The header's dashes line up with the columns (issue 9, item 3).
  EXPECT_EQ(header.find("--Sender/Recipient"), msg.find("john"));
  EXPECT_EQ(header.find("--Size--") + 8, msg.find(" Fri"));
  EXPECT_EQ(header.find("---Arrival Time----"), msg.find("Fri"));
  EXPECT_EQ(rcpt, std::string(47, ' ') + "alice@example.net");
  EXPECT_EQ(blank, "");
  EXPECT_EQ(summary, "-- 2 Kbytes in 1 Request.");
}

TEST(Postqueue, ActiveAndHoldMarks) {
  std::string out =
      format_postqueue({make(SubQueue::active, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org"}),
                        make(SubQueue::hold, "1NBH0E5OQ3B2K7VR", "a@x.org", {"b@y.org"}),
                        make(SubQueue::incoming, "1NBH0E5OQ3B2K7VS", "a@x.org", {"b@y.org"})},
                       kUtc);
  EXPECT_NE(out.find("\n1NBH0E5OQ3B2K7VQ*      100 "), std::string::npos) << out;
  EXPECT_NE(out.find("\n1NBH0E5OQ3B2K7VR!      100 "), std::string::npos) << out;
  EXPECT_NE(out.find("\n1NBH0E5OQ3B2K7VS       100 "), std::string::npos) << out;
  EXPECT_NE(out.find("\n-- 0 Kbytes in 3 Requests.\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("(reason"), std::string::npos) << out;
}

TEST(Postqueue, NullSenderIsMailerDaemon) {
  std::string out =
      format_postqueue({make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "<>", {"b@y.org"})}, kUtc);
  EXPECT_NE(out.find("12:53:20 MAILER-DAEMON\n"), std::string::npos) << out;
  std::string json =
      format_json_line(make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "<>", {"b@y.org"}));
  EXPECT_NE(json.find("\"sender\": \"MAILER-DAEMON\""), std::string::npos) << json;
}

TEST(Postqueue, ReasonRightAlignedAndShownWhenItChanges) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org",
                 {"r1@y.org", "r2@y.org", "r3@y.org", "r4@y.org", "r5@y.org"});
  Reply refused{451, "4.4.1", "connect to mx.y.org[192.0.2.1]:25: Connection refused"};
  defer(e, 0, refused);
  defer(e, 2, refused);
  defer(e, 3, Reply{450, "4.2.0", "mailbox busy"});
  e.file.recipients[4].state = RcptState::delivered;  // not listed
  std::string out = format_postqueue({e}, kUtc);
  std::string r1 = "(451 4.4.1 connect to mx.y.org[192.0.2.1]:25: Connection refused)";
  std::string r2 = "(450 4.2.0 mailbox busy)";
  std::string pad = std::string(47, ' ');
  std::string expected_body = std::string(78 - r1.size(), ' ') + r1 + "\n" + pad + "r1@y.org\n" +
                              pad + "r3@y.org\n" + std::string(78 - r2.size(), ' ') + r2 + "\n" +
                              pad + "r4@y.org\n" + std::string(78 - 20, ' ') +
                              "(reason unavailable)\n" + pad + "r2@y.org\n";
  EXPECT_NE(out.find(expected_body), std::string::npos) << out;
  EXPECT_EQ(out.find("r5@y.org"), std::string::npos) << out;
}

TEST(Postqueue, LongReasonStartsAtColumnZero) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"r1@y.org"});
  std::string text(100, 'x');
  defer(e, 0, Reply{451, "4.3.0", text});
  std::string out = format_postqueue({e}, kUtc);
  EXPECT_NE(out.find("\n(451 4.3.0 " + text + ")\n"), std::string::npos) << out;
}

TEST(Postqueue, ReasonWithoutReplyCodeIsItsText) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"r1@y.org"});
  defer(e, 0, Reply{0, "4.4.1", "connection timed out"});
  EXPECT_EQ(delay_reason(e, 0), "connection timed out");
  defer(e, 0, Reply{0, "4.4.1", ""});
  EXPECT_EQ(delay_reason(e, 0), "4.4.1");
}

TEST(Postqueue, NoReasonsForActiveMail) {
  // As Postfix: an active message's last deferral is not shown while it is tried again.
  Entry e = make(SubQueue::active, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"r1@y.org"});
  defer(e, 0, Reply{451, "4.4.1", "refused"});
  EXPECT_EQ(delay_reason(e, 0), "");
  e.queue = SubQueue::hold;
  EXPECT_EQ(delay_reason(e, 0), "451 4.4.1 refused");
}

TEST(Postqueue, SummaryIsKbytesRoundedDown) {
  std::vector<Entry> v{make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org"}, 1023),
                       make(SubQueue::deferred, "1NBH0E5OQ3B2K7VR", "a@x.org", {"b@y.org"}, 1000)};
  std::string out = format_postqueue(v, kUtc);
  EXPECT_NE(out.find("\n\n-- 1 Kbytes in 2 Requests.\n"), std::string::npos) << out;
}

TEST(Postqueue, ControlCharactersAndBadUtf8BecomeQuestionMarks) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org"});
  e.file.envelope.recipients[0].local = "j\xc3\xb6rg";  // valid UTF-8 stays
  defer(e, 0, Reply{451, "4.3.0", std::string("bad\x01text \xff end")});
  std::string out = format_postqueue({e}, kUtc);
  EXPECT_NE(out.find("(451 4.3.0 bad?text ? end)"), std::string::npos) << out;
  EXPECT_NE(out.find("j\xc3\xb6rg@y.org"), std::string::npos) << out;
}

TEST(PostqueueJson, FieldsInPostfixOrderPlusOurs) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org", "c@y.org"}, 1234);
  defer(e, 1, Reply{451, "4.4.1", "say \"hi\"\\ \t now"});
  e.mtime = 1732283600;
  e.file.attempts = 3;
  EXPECT_EQ(
      format_json_line(e),
      "{\"queue_name\": \"deferred\", \"queue_id\": \"1NBH0E5OQ3B2K7VQ\", \"arrival_time\": "
      "1732280000, \"message_size\": 1234, \"forced_expire\": false, \"sender\": \"a@x.org\", "
      "\"recipients\": [{\"address\": \"c@y.org\", \"delay_reason\": \"451 4.4.1 say "
      "\\\"hi\\\"\\\\ \\t now\"}, {\"address\": \"b@y.org\"}], \"next_attempt\": 1732283600, "
      "\"attempts\": 3}\n");
}

TEST(PostqueueJson, NextAttempt) {
  Entry e = make(SubQueue::hold, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org"});
  e.mtime = 5;
  e.file.next_attempt = 7;
  EXPECT_NE(format_json_line(e).find("\"next_attempt\": 0,"), std::string::npos);  // not scheduled
  e.queue = SubQueue::deferred;
  EXPECT_NE(format_json_line(e).find("\"next_attempt\": 5,"), std::string::npos);  // the mtime
  e.queue = SubQueue::active;
  EXPECT_NE(format_json_line(e).find("\"next_attempt\": 7,"), std::string::npos);  // the record
}

TEST(PostqueueJson, ControlCharactersEscapedAndUtf8Kept) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org"});
  defer(e, 0,
        Reply{451, "4.3.0",
              std::string("a\x01"
                          "b\x7f"
                          "c\xc3\xa9\xff")});
  std::string line = format_json_line(e);
  EXPECT_NE(line.find("\"delay_reason\": \"451 4.3.0 a\\u0001b\\u007Fc\xc3\xa9?\""),
            std::string::npos)
      << line;
}

TEST(MpqueueShow, EnvelopeThenContent) {
  Entry e = make(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ", "a@x.org", {"b@y.org", "c@y.org"}, 25);
  e.file.envelope.client_addr = "192.0.2.7";
  e.file.envelope.client_name = "client.example";
  e.file.envelope.helo = "client.example";
  e.file.envelope.protocol = "ESMTP";
  e.file.recipients[1].state = RcptState::delivered;
  e.file.recipients[1].last_reply = Reply{250, "2.0.0", "Ok: queued as X"};
  e.file.recipients[1].last_time = 1732280060;
  defer(e, 0, Reply{451, "4.4.1", "refused"});
  e.file.attempts = 1;
  e.mtime = 1732280360;
  std::string out = format_show(e, "Subject: hi\r\n\r\nhello\r\nend", kUtc);
  EXPECT_EQ(out,
            "*** ENVELOPE RECORDS deferred/1NBH0E5OQ3B2K7VQ ***\n"
            "queue_id: 1NBH0E5OQ3B2K7VQ\n"
            "queue_name: deferred\n"
            "message_size: 25\n"
            "message_arrival_time: Fri Nov 22 12:53:20 2024\n"
            "sender: a@x.org\n"
            "client: client.example[192.0.2.7]\n"
            "helo: client.example\n"
            "protocol: ESMTP\n"
            "body: 7BIT\n"
            "recipient: b@y.org\n"
            "  state: pending (Fri Nov 22 12:54:20 2024: 451 4.4.1 refused)\n"
            "recipient: c@y.org\n"
            "  state: delivered (Fri Nov 22 12:54:20 2024: 250 2.0.0 Ok: queued as X)\n"
            "attempts: 1\n"
            "next_attempt: Fri Nov 22 12:59:20 2024\n"
            "*** MESSAGE CONTENTS deferred/1NBH0E5OQ3B2K7VQ ***\n"
            "Subject: hi\n\nhello\nend\n"
            "*** MESSAGE FILE END deferred/1NBH0E5OQ3B2K7VQ ***\n");
}

// ---- the spool scan, on a real spool written by queue::Writer

namespace {

class ListingSpool : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-listing-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    layout_ = std::make_unique<queue::Layout>(root_ / "spool");
    layout_->create();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string write(const std::string& rcpt, const std::string& body) {
    queue::Writer writer(*layout_);
    Envelope env;
    env.sender = address("a@x.org");
    env.recipients.push_back(address(rcpt));
    env.arrival = 1732280000;
    env.protocol = "ESMTP";
    auto draft = writer.begin(env);
    draft->append(body);
    return writer.commit(std::move(draft));
  }
  void move(const std::string& id, SubQueue from, SubQueue to) {
    fs::rename(layout_->file(from, id), layout_->file(to, id));
  }
  fs::path root_;
  std::unique_ptr<queue::Layout> layout_;
};

}  // namespace

TEST_F(ListingSpool, ScanListsQueueByQueueInIdOrder) {
  std::string a = write("a@y.org", "one\r\n");
  std::string b = write("b@y.org", "two\r\n");
  std::string c = write("c@y.org", "three\r\n");
  std::string d = write("d@y.org", "four\r\n");
  move(a, SubQueue::incoming, SubQueue::hold);
  move(b, SubQueue::incoming, SubQueue::deferred);
  move(c, SubQueue::incoming, SubQueue::active);
  // A deferred file's mtime is its next attempt.
  struct utimbuf times {
    1732283600, 1732283600
  };
  ASSERT_EQ(::utime(layout_->file(SubQueue::deferred, b).c_str(), &times), 0);
  // Not queue files: skipped.
  std::ofstream(layout_->dir(SubQueue::incoming) / "README") << "x";
  std::ofstream(layout_->file(SubQueue::archive, "1NBH0E5OQ3B2K7VQ")) << "x";

  Scan scan = scan_queue(*layout_);
  EXPECT_TRUE(scan.warnings.empty());
  ASSERT_EQ(scan.entries.size(), 4u);
  EXPECT_EQ(scan.entries[0].file.id, c);
  EXPECT_EQ(scan.entries[0].queue, SubQueue::active);
  EXPECT_EQ(scan.entries[1].file.id, d);
  EXPECT_EQ(scan.entries[1].queue, SubQueue::incoming);
  EXPECT_EQ(scan.entries[2].file.id, b);
  EXPECT_EQ(scan.entries[2].queue, SubQueue::deferred);
  EXPECT_EQ(scan.entries[2].mtime, 1732283600);
  EXPECT_EQ(scan.entries[3].file.id, a);
  EXPECT_EQ(scan.entries[3].queue, SubQueue::hold);
  EXPECT_EQ(scan.entries[0].file.content_size, 7u);  // "three\r\n"

  EXPECT_EQ(locate(*layout_, a), SubQueue::hold);
  EXPECT_EQ(locate(*layout_, "1NBH0E5OQ3B2K7VQ"), SubQueue::archive);
  EXPECT_EQ(locate(*layout_, "1NBH0E5OQ3B2K7VR"), std::nullopt);
  EXPECT_EQ(locate(*layout_, "../spool"), std::nullopt);
}

TEST_F(ListingSpool, BrokenFileIsAWarningNotAFailure) {
  std::string a = write("a@y.org", "one\r\n");
  std::ofstream(layout_->file(SubQueue::deferred, "1NBH0E5OQ3B2K7VQ")) << "not a queue file\n";
  Scan scan = scan_queue(*layout_);
  ASSERT_EQ(scan.entries.size(), 1u);
  EXPECT_EQ(scan.entries[0].file.id, a);
  ASSERT_EQ(scan.warnings.size(), 1u);
  EXPECT_NE(scan.warnings[0].find("1NBH0E5OQ3B2K7VQ"), std::string::npos) << scan.warnings[0];
}

TEST_F(ListingSpool, MissingSpoolThrows) {
  queue::Layout nowhere(root_ / "nope");
  EXPECT_THROW(scan_queue(nowhere), std::system_error);
  fs::remove_all(layout_->dir(SubQueue::hold));  // a missing sub-queue is just empty
  EXPECT_TRUE(scan_queue(*layout_).entries.empty());
}
