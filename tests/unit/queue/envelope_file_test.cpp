#include "queue/envelope_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/atomic_file.hpp"
#include "tests/unit/queue/temp_dir.hpp"

namespace mp::queue {
namespace {

using namespace std::string_literals;
using testing::slurp;
using testing::spit;
using testing::TempDir;

const std::string kId = "1ABCDEFGHIJKLMNO";

Envelope sample_envelope() {
  Envelope e;
  e.sender = {"\"john q. doe\"", "example.org"};
  e.recipients = {
      {"alice", "example.net"},
      {"\"odd@local % part\"", "example.com"},  // quoted local part with '@' and '%'
      {"jörg", "bücher.example"},               // SMTPUTF8
      {"postmaster", ""},                       // RCPT TO:<Postmaster>
      {"root", "[IPv6:::1]"},
      {"", "only-domain.example"},
  };
  e.helo = "client.example \"with\" spaces %20 and %";
  e.client_addr = "2001:db8::1";
  e.client_name = "client.example";
  e.protocol = "ESMTPS";
  e.smtputf8 = true;
  e.eightbit = true;
  e.arrival = 1732280000;
  return e;
}

void expect_same(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.recipients, b.recipients);
  EXPECT_EQ(a.helo, b.helo);
  EXPECT_EQ(a.client_addr, b.client_addr);
  EXPECT_EQ(a.client_name, b.client_name);
  EXPECT_EQ(a.protocol, b.protocol);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.eightbit, b.eightbit);
  EXPECT_EQ(a.arrival, b.arrival);
}

std::string binary_content() {
  std::string c = "Subject: test\r\n\r\nline\rlone CR\nlone LF\r\n";
  c += std::string("NUL:\0\0 end", 10);
  c += "\n\nMAILPROC-QUEUE 1\nR 0 delivered 1 250 2.0.0 fake\n";
  for (int i = 0; i < 256; ++i) c += static_cast<char>(i);
  return c + "no final newline";
}

TEST(EnvelopeFile, RoundTripsEveryField) {
  Envelope e = sample_envelope();
  std::string content = binary_content();
  std::string data = serialize_queue_file(kId, e, content);
  QueueFile qf = parse_queue_file(data);
  EXPECT_EQ(qf.version, 1);
  EXPECT_EQ(qf.id, kId);
  expect_same(qf.envelope, e);
  EXPECT_EQ(qf.content(), content);
  EXPECT_EQ(qf.content_size, content.size());
  EXPECT_EQ(qf.content_offset + content.size(), data.size());
  ASSERT_EQ(qf.recipients.size(), e.recipients.size());
  for (auto& r : qf.recipients) {
    EXPECT_EQ(r.state, RcptState::pending);
    EXPECT_EQ(r.last_reply.code, 0);
    EXPECT_FALSE(r.ndr_sent);
  }
  EXPECT_EQ(qf.pending_count(), e.recipients.size());
  EXPECT_EQ(qf.attempts, 0u);
  EXPECT_EQ(qf.next_attempt, 0);
  EXPECT_FALSE(qf.warned);
  EXPECT_EQ(qf.valid_size, data.size());
  EXPECT_FALSE(qf.torn);
}

TEST(EnvelopeFile, NullSenderEmptyValuesAndEmptyContent) {
  Envelope e;
  e.recipients = {{"a", "b.example"}};
  std::string data = serialize_queue_file(kId, e, "");
  EXPECT_NE(data.find("\nsender: <>\n"), std::string::npos) << data;
  QueueFile qf = parse_queue_file(data);
  EXPECT_TRUE(qf.envelope.sender.is_null());
  expect_same(qf.envelope, e);
  EXPECT_EQ(qf.content(), "");
}

TEST(EnvelopeFile, HeaderIsReadableAndHasNoRawControlCharacters) {
  Envelope e = sample_envelope();
  e.helo = "evil\r\nrcpt: <injected@example>\x01\x7f";
  std::string data = serialize_queue_file(kId, e, "x");
  std::string header = data.substr(0, data.find("\n\n") + 1);
  EXPECT_EQ(header.find("injected@example>\n"), std::string::npos);
  EXPECT_NE(header.find("helo: evil%0D%0Arcpt: <injected@example>%01%7F\n"), std::string::npos)
      << header;
  EXPECT_NE(header.find("rcpt: <jörg@bücher.example>\n"), std::string::npos) << header;
  EXPECT_NE(header.find("rcpt: <\"odd@local %25 part\"@example.com>\n"), std::string::npos);
  EXPECT_NE(header.find("rcpt: <postmaster>\n"), std::string::npos);
  EXPECT_TRUE(header.starts_with("MAILPROC-QUEUE 1\nid: " + kId + "\n"));
  EXPECT_NE(header.find("\nsize: 1\n"), std::string::npos);
  expect_same(parse_queue_file(data).envelope, e);
}

TEST(EnvelopeFile, AddressesRoundTripExactly) {
  // Shapes a parser would not produce still survive the file unchanged.
  std::vector<Address> odd = {{"a@b", ""}, {"x", "y@z"}, {"", "d"}, {"<>", "e"}, {"%", "%"}};
  Envelope e;
  e.recipients = odd;
  e.sender = {"@", ""};
  QueueFile qf = parse_queue_file(serialize_queue_file(kId, e, ""));
  EXPECT_EQ(qf.envelope.recipients, odd);
  EXPECT_EQ(qf.envelope.sender, e.sender);
}

TEST(EnvelopeFile, RecordsGiveRecipientStates) {
  Envelope e = sample_envelope();
  std::string data = serialize_queue_file(kId, e, "body\n");
  Reply multi{550, "5.1.1", "user unknown\nsecond line 100%"};
  data += format_recipient_record(0, Outcome::deferred, {451, "4.3.0", "try later"}, 100);
  data += format_recipient_record(1, Outcome::deferred, {421, "", "no status"}, 100);
  data += format_attempt_record(1, 400);
  data += format_recipient_record(0, Outcome::delivered, {250, "2.0.0", "Ok: queued as X"}, 400);
  data += format_recipient_record(2, Outcome::bounced, multi, 400);
  data += format_recipient_record(4, Outcome::deferred, {0, "-", ""}, 400);
  data += format_attempt_record(2, 1300);
  data += format_warned_record();
  data += format_ndr_record({2});
  // Final states never change, whatever comes later.
  data += format_recipient_record(0, Outcome::deferred, {451, "4.0.0", "late"}, 500);
  data += format_recipient_record(2, Outcome::delivered, {250, "2.0.0", "late"}, 500);

  QueueFile qf = parse_queue_file(data);
  EXPECT_EQ(qf.recipients[0].state, RcptState::delivered);
  EXPECT_EQ(qf.recipients[0].last_reply.text, "Ok: queued as X");
  EXPECT_EQ(qf.recipients[0].last_time, 400);
  EXPECT_EQ(qf.recipients[1].state, RcptState::pending);
  EXPECT_EQ(qf.recipients[1].last_reply.code, 421);
  EXPECT_EQ(qf.recipients[1].last_reply.status, "");
  EXPECT_EQ(qf.recipients[2].state, RcptState::bounced);
  EXPECT_EQ(qf.recipients[2].last_reply.code, multi.code);
  EXPECT_EQ(qf.recipients[2].last_reply.status, multi.status);
  EXPECT_EQ(qf.recipients[2].last_reply.text, multi.text);
  EXPECT_TRUE(qf.recipients[2].ndr_sent);
  EXPECT_FALSE(qf.recipients[1].ndr_sent);
  EXPECT_EQ(qf.recipients[3].state, RcptState::pending);
  EXPECT_EQ(qf.recipients[3].last_reply.code, 0);
  EXPECT_EQ(qf.recipients[4].last_reply.status, "-");
  EXPECT_EQ(qf.pending_count(), 4u);
  EXPECT_EQ(qf.attempts, 2u);
  EXPECT_EQ(qf.next_attempt, 1300);
  EXPECT_TRUE(qf.warned);
  EXPECT_EQ(qf.content(), "body\n");
  EXPECT_FALSE(qf.torn);
  EXPECT_EQ(qf.valid_size, data.size());
}

TEST(EnvelopeFile, RecordLinesAreSingleLinesOfTheDocumentedShape) {
  EXPECT_EQ(format_recipient_record(3, Outcome::bounced, {550, "5.1.1", "no such user"}, 17),
            "R 3 bounced 17 550 5.1.1 no such user\n");
  EXPECT_EQ(format_recipient_record(0, Outcome::deferred, {451, "", "a\r\nb"}, 1),
            "R 0 deferred 1 451 - a%0D%0Ab\n");
  EXPECT_EQ(format_recipient_record(0, Outcome::delivered, {250, "2.0.0 x", ""}, 1),
            "R 0 delivered 1 250 2.0.0%20x \n");
  EXPECT_EQ(format_attempt_record(4, 1732280000), "A 4 1732280000\n");
  EXPECT_EQ(format_warned_record(), "W\n");
  EXPECT_EQ(format_ndr_record({1, 5}), "N 1 5\n");
  EXPECT_THROW(format_ndr_record({}), std::invalid_argument);
}

TEST(EnvelopeFile, ApplyRecordMatchesARead) {
  Envelope e = sample_envelope();
  std::string data = serialize_queue_file(kId, e, "x");
  QueueFile mem = parse_queue_file(data);
  std::vector<std::string> records = {
      format_recipient_record(1, Outcome::delivered, {250, "2.0.0", "ok"}, 9),
      format_recipient_record(5, Outcome::bounced, {550, "5.7.1", "no"}, 9),
      format_attempt_record(1, 99), format_ndr_record({5}), format_warned_record()};
  for (auto& r : records) {
    apply_record(mem, r);
    data += r;
  }
  QueueFile read = parse_queue_file(data);
  for (std::size_t i = 0; i < read.recipients.size(); ++i) {
    EXPECT_EQ(mem.recipients[i].state, read.recipients[i].state);
    EXPECT_EQ(mem.recipients[i].last_reply.text, read.recipients[i].last_reply.text);
    EXPECT_EQ(mem.recipients[i].ndr_sent, read.recipients[i].ndr_sent);
  }
  EXPECT_EQ(mem.attempts, read.attempts);
  EXPECT_EQ(mem.next_attempt, read.next_attempt);
  EXPECT_EQ(mem.warned, read.warned);
}

TEST(EnvelopeFile, TornLastRecordIsIgnored) {
  std::string data = serialize_queue_file(kId, sample_envelope(), "body");
  data += format_attempt_record(1, 50);
  std::size_t complete = data.size();
  for (std::string torn : {std::string("R 0 delivered 5 250 2.0.0 o"), std::string("R"),
                           std::string("A 2 9"), std::string("\0\0\0\0", 4)}) {
    QueueFile qf = parse_queue_file(data + torn);
    EXPECT_TRUE(qf.torn);
    EXPECT_EQ(qf.valid_size, complete);
    EXPECT_EQ(qf.recipients[0].state, RcptState::pending);
    EXPECT_EQ(qf.attempts, 1u);
  }
}

TEST(EnvelopeFile, DropTornTailThenAppendGivesACleanRecord) {
  TempDir t;
  auto path = t.path() / kId;
  std::string data = serialize_queue_file(kId, sample_envelope(), "body");
  spit(path, data + "R 0 deliv");  // a crash mid-append
  QueueFile qf = read_queue_file(path);
  ASSERT_TRUE(qf.torn);
  drop_torn_tail(path, qf);
  append_synced(path, format_recipient_record(0, Outcome::delivered, {250, "2.0.0", "ok"}, 7));
  QueueFile again = read_queue_file(path);
  EXPECT_FALSE(again.torn);
  EXPECT_EQ(again.recipients[0].state, RcptState::delivered);
  EXPECT_EQ(slurp(path), data + "R 0 delivered 7 250 2.0.0 ok\n");
  drop_torn_tail(path, again);  // not torn: no change
  EXPECT_EQ(slurp(path).size(), again.valid_size);
}

TEST(EnvelopeFile, ReadFullAndEnvelopeOnly) {
  TempDir t;
  auto path = t.path() / kId;
  Envelope e = sample_envelope();
  for (int i = 0; i < 300; ++i)  // a header well over one read chunk
    e.recipients.push_back({"user" + std::to_string(i), "many.example"});
  std::string content(1 << 20, 'x');
  content[12345] = '\0';
  std::string data = serialize_queue_file(kId, e, content);
  data += format_recipient_record(301, Outcome::bounced, {550, "5.1.1", "gone"}, 3);
  data += format_attempt_record(1, 60);
  spit(path, data + "R 1 del");

  QueueFile full = read_queue_file(path);
  EXPECT_TRUE(full.has_content);
  EXPECT_EQ(full.content(), content);
  QueueFile head = read_queue_file(path, ReadMode::envelope_only);
  EXPECT_FALSE(head.has_content);
  EXPECT_EQ(head.content(), "");
  EXPECT_LT(head.data.size(), 100000u);
  for (const QueueFile* qf : {&full, &head}) {
    expect_same(qf->envelope, e);
    EXPECT_EQ(qf->content_size, content.size());
    EXPECT_EQ(qf->recipients[301].state, RcptState::bounced);
    EXPECT_EQ(qf->attempts, 1u);
    EXPECT_TRUE(qf->torn);
    EXPECT_EQ(qf->valid_size, data.size());
  }
}

TEST(EnvelopeFile, ReadErrorsAreNotCorruption) {
  TempDir t;
  try {
    read_queue_file(t.path() / "missing");
    FAIL();
  } catch (const QueueFileError&) {
    FAIL() << "a missing file is not a corrupt one";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
  }
}

TEST(EnvelopeFile, SerializeRefusesWhatCouldNotBeRead) {
  Envelope e;
  EXPECT_THROW(serialize_queue_file(kId, e, ""), std::invalid_argument);  // no recipient
  e.recipients = {{"a", "b"}};
  EXPECT_THROW(serialize_queue_file("", e, ""), std::invalid_argument);
  EXPECT_THROW(serialize_queue_file("../x", e, ""), std::invalid_argument);
  EXPECT_THROW(serialize_queue_file("abc", e, ""), std::invalid_argument);
}

// --- corruption: every case is a QueueFileError naming the problem ---

std::string good_file() {
  Envelope e;
  e.sender = {"s", "example.org"};
  e.recipients = {{"r", "example.net"}, {"q", "example.net"}};
  e.helo = "h";
  e.protocol = "SMTP";
  return serialize_queue_file(kId, e, "content\n");
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

void expect_corrupt(const std::string& data, const std::string& why) {
  try {
    parse_queue_file(data);
    ADD_FAILURE() << "parsed without error; expected: " << why << "\n" << data;
  } catch (const QueueFileError& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos)
        << "error '" << e.what() << "' lacks '" << why << "'";
  }
}

TEST(EnvelopeFileCorrupt, MagicAndVersion) {
  std::string g = good_file();
  expect_corrupt("", "empty file");
  expect_corrupt("MAILPROC", "truncated header");
  expect_corrupt("MAILPROC-QUEUE 1", "truncated header");
  expect_corrupt("From: someone\n\nbody", "not a mailproc queue file");
  expect_corrupt(replace(g, "MAILPROC-QUEUE 1\n", "MAILPROC-QUEUE 2\n"),
                 "unsupported queue file version 2");
  expect_corrupt(replace(g, "MAILPROC-QUEUE 1\n", "MAILPROC-QUEUE one\n"), "version");
}

TEST(EnvelopeFileCorrupt, EveryRequiredKeyMissing) {
  std::string g = good_file();
  for (std::string key : {"id", "arrival", "sender", "rcpt", "helo", "client_addr", "client_name",
                          "protocol", "smtputf8", "eightbit", "size"}) {
    std::string s = g;
    std::size_t pos;
    while ((pos = s.find("\n" + key + ":")) != std::string::npos)
      s.erase(pos + 1, s.find('\n', pos + 1) - pos);
    expect_corrupt(s, "missing header key '" + key + "'");
  }
}

TEST(EnvelopeFileCorrupt, BadHeaderLines) {
  std::string g = good_file();
  expect_corrupt(replace(g, "helo: h\n", "helo: h\nhelo: h\n"), "duplicate header key 'helo'");
  expect_corrupt(replace(g, "helo: h\n", "helo: h\nfoo: bar\n"), "unknown header key 'foo'");
  expect_corrupt(replace(g, "helo: h\n", "helo h\n"), "no ':'");
  expect_corrupt(replace(g, "arrival: 0\n", "arrival: soon\n"), "arrival: not a number");
  expect_corrupt(replace(g, "size: 8\n", "size: -1\n"), "size: not a number");
  expect_corrupt(replace(g, "size: 8\n", "size: 99999999999999999999999\n"), "size");
  expect_corrupt(replace(g, "smtputf8: no\n", "smtputf8: maybe\n"), "expected yes or no");
  expect_corrupt(replace(g, "helo: h\n", "helo: %G1\n"), "bad %-escape");
  expect_corrupt(replace(g, "helo: h\n", "helo: h%4\n"), "bad %-escape");
  expect_corrupt(replace(g, "helo: h\n", "helo: h%\n"), "bad %-escape");
  expect_corrupt(replace(g, "helo: h\n", "helo: a\rb\n"), "raw control character");
  expect_corrupt(replace(g, "sender: <s@example.org>\n", "sender: s@example.org\n"),
                 "address not in <>");
  expect_corrupt(replace(g, "id: " + kId + "\n", "id: ../etc\n"), "not a queue ID");
}

TEST(EnvelopeFileCorrupt, TruncatedHeaderOrContent) {
  std::string g = good_file();
  std::size_t blank = g.find("\n\n");
  expect_corrupt(g.substr(0, blank + 1), "truncated header");
  expect_corrupt(g.substr(0, blank / 2), "truncated header");
  expect_corrupt(g.substr(0, g.size() - 1), "truncated content (7 of 8 bytes)");
  expect_corrupt(g.substr(0, blank + 2), "truncated content (0 of 8 bytes)");
  // The same through a file read, both modes, with the path in the message.
  TempDir t;
  auto path = t.path() / kId;
  spit(path, g.substr(0, g.size() - 3));
  for (ReadMode mode : {ReadMode::full, ReadMode::envelope_only}) {
    try {
      read_queue_file(path, mode);
      ADD_FAILURE() << "no error";
    } catch (const QueueFileError& e) {
      EXPECT_TRUE(std::string(e.what()).starts_with(path.string() + ": truncated content"))
          << e.what();
    }
  }
}

TEST(EnvelopeFileCorrupt, MalformedCompleteRecords) {
  std::string g = good_file() + format_attempt_record(1, 2);
  const std::pair<std::string, std::string> cases[] = {
      {"X 1\n", "unknown record type 'X'"},
      {"\n", "unknown record type ''"},
      {"R 2 delivered 1 250 2.0.0 ok\n", "recipient index 2 out of range"},
      {"R -1 delivered 1 250 2.0.0 ok\n", "recipient index: not a number"},
      {"R 0 exploded 1 250 2.0.0 ok\n", "unknown outcome 'exploded'"},
      {"R 0 delivered\n", "time: not a number"},
      {"R 0 delivered 1 250\n", "missing status"},
      {"R 0 delivered x 250 2.0.0 ok\n", "time: not a number"},
      {"R 0 delivered 1 2x0 2.0.0 ok\n", "reply code: not a number"},
      {"R 0 delivered 1 250 2.0.0 bad %ZZ\n", "bad %-escape"},
      {"R 0 delivered 1 250 2.0.0 a\0b\n"s, "raw control character"},
      {"A x 5\n", "attempts: not a number"},
      {"A 1\n", "missing next attempt"},
      {"A 1 2 3\n", "next attempt: not a number"},
      {"W 1\n", "W record"},
      {"N\n", "N record"},
      {"N 0 7\n", "recipient index 7 out of range"},
  };
  for (auto& [record, why] : cases) {
    expect_corrupt(g + record, why);
    expect_corrupt(g + record + format_warned_record(), why);  // not only as the last line
    expect_corrupt(g + record, "record at offset " + std::to_string(g.size()));
  }
}

}  // namespace
}  // namespace mp::queue
