// DotReader: end detection, dot-unstuffing, bare CR/LF handling (SMTP smuggling),
// pipelining, long lines and split independence, checked against explicit
// expectations and against the reference model in tests/fuzz/dot_reader_oracle.hpp.
#include "smtpd/dot_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/dot_reader_oracle.hpp"

namespace mp::smtpd {
namespace {

struct Outcome {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool rejected = false;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// Feeds `in` cut at the given positions (ascending, inside (0, size)); stops feeding once done.
Outcome feed_split(BareNewline mode, std::string_view in, const std::vector<std::size_t>& cuts) {
  DotReader r(mode);
  Outcome run;
  std::size_t start = 0;
  auto feed_to = [&](std::size_t end) {
    if (r.done()) return;
    const std::string_view chunk = in.substr(start, end - start);
    const std::size_t n = r.feed(chunk, run.out);
    EXPECT_LE(n, chunk.size());
    run.consumed += n;
    if (!r.done()) {
      EXPECT_EQ(n, chunk.size()) << "stopped early without being done";
    }
    start = end;
  };
  for (std::size_t c : cuts) feed_to(c);
  feed_to(in.size());
  run.done = r.done();
  run.rejected = r.rejected();
  if (r.done()) {
    // Nothing more is consumed or stored once done.
    const std::string before = run.out;
    EXPECT_EQ(r.feed("MAIL FROM:<a@b>\r\n", run.out), 0u);
    EXPECT_EQ(run.out, before);
  }
  return run;
}

Outcome feed_once(BareNewline mode, std::string_view in) {
  return feed_split(mode, in, {});
}

Outcome feed_bytewise(BareNewline mode, std::string_view in) {
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < in.size(); ++k) cuts.push_back(k);
  return feed_split(mode, in, cuts);
}

constexpr BareNewline kModes[] = {BareNewline::reject, BareNewline::normalize};

TEST(DotReader, SimpleMessage) {
  for (BareNewline mode : kModes) {
    const std::string in = "Subject: hi\r\n\r\nbody line\r\n.\r\n";
    const Outcome r = feed_once(mode, in);
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.rejected);
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_EQ(r.out, "Subject: hi\r\n\r\nbody line\r\n");
  }
}

TEST(DotReader, EmptyMessage) {
  for (BareNewline mode : kModes) {
    const Outcome r = feed_once(mode, ".\r\nQUIT\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.rejected);
    EXPECT_EQ(r.consumed, 3u);
    EXPECT_EQ(r.out, "");
  }
}

TEST(DotReader, EmptyLineThenEnd) {
  const Outcome r = feed_once(BareNewline::reject, "\r\n.\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "\r\n");
}

TEST(DotReader, StopsRightAfterTerminatorLeavingPipelinedCommands) {
  for (BareNewline mode : kModes) {
    const std::string msg = "a\r\n.\r\n";
    const std::string in = msg + "MAIL FROM:<x@y>\r\nRCPT TO:<z@y>\r\n";
    DotReader r(mode);
    std::string out;
    EXPECT_EQ(r.feed(in, out), msg.size());
    EXPECT_TRUE(r.done());
    EXPECT_EQ(out, "a\r\n");
    EXPECT_EQ(r.feed(in.substr(msg.size()), out), 0u);
    EXPECT_EQ(out, "a\r\n");
  }
}

TEST(DotReader, DotUnstuffing) {
  for (BareNewline mode : kModes) {
    const Outcome r = feed_once(mode, "..foo\r\n..\r\n.x\r\n...\r\nmid.dle\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.rejected);
    EXPECT_EQ(r.out, ".foo\r\n.\r\nx\r\n..\r\nmid.dle\r\n");
  }
  // First line of the content is a line start too.
  EXPECT_EQ(feed_once(BareNewline::reject, "..\r\n.\r\n").out, ".\r\n");
}

TEST(DotReader, NotDoneWithoutTerminator) {
  for (BareNewline mode : kModes) {
    const Outcome r = feed_once(mode, "abc\r\n.");
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.consumed, 6u);
    EXPECT_EQ(r.out, "abc\r\n");  // the dot is pending
  }
}

// Each classic smuggling end-of-data variant, followed by a smuggled transaction
// and only then the real end. The reader must not stop at the fake end.
struct Smuggle {
  const char* fake_end;
  const char* normalized;  // what the fake end becomes in normalize mode
};
const Smuggle kSmuggles[] = {
    {"\n.\n", "\r\n.\r\n"},    // bare LF, dot not at a real line start: kept
    {"\n.\r\n", "\r\n.\r\n"},  //
    {"\r.\r\n", "\r\n.\r\n"},  // bare CR
    {"\r\n.\r", "\r\n\r\n"},   // real line start: the dot is unstuffed, the bare CR normalized
    {"\r\n.\n", "\r\n\r\n"},   //
    {"\r\n.\r\r\n", "\r\n\r\n\r\n"},  // ".\r" + CR: not an end; the next CR LF is real
};

const std::string kSmuggled =
    "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
    "From: ceo@example.org\r\n\r\nsmuggled\r\n";

TEST(DotReader, SmugglingVariantsNeverEndEarly) {
  for (const Smuggle& s : kSmuggles) {
    const std::string fake = s.fake_end;
    const std::string in = "Subject: x\r\n\r\nhello" + fake + kSmuggled + ".\r\nQUIT\r\n";
    const std::size_t real_end = in.size() - 6;  // "QUIT\r\n" stays unconsumed
    SCOPED_TRACE(testing::PrintToString(fake));

    const Outcome norm = feed_once(BareNewline::normalize, in);
    EXPECT_TRUE(norm.done);
    EXPECT_EQ(norm.consumed, real_end);
    EXPECT_TRUE(test::only_crlf(norm.out));
    EXPECT_EQ(norm.out, "Subject: x\r\n\r\nhello" + std::string(s.normalized) + kSmuggled);

    const Outcome rej = feed_once(BareNewline::reject, in);
    EXPECT_TRUE(rej.done);
    EXPECT_TRUE(rej.rejected);
    EXPECT_EQ(rej.consumed, real_end);

    for (BareNewline mode : kModes) {
      EXPECT_EQ(feed_bytewise(mode, in), feed_once(mode, in));
    }
  }
}

TEST(DotReader, BareCrBeforeRealEndIsStillTheEnd) {
  // "\r" "\r\n.\r\n": the first CR is bare, the rest is a real terminator.
  const Outcome rej = feed_once(BareNewline::reject, "a\r\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(rej.done);
  EXPECT_TRUE(rej.rejected);
  EXPECT_EQ(rej.consumed, 7u);
  const Outcome norm = feed_once(BareNewline::normalize, "a\r\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(norm.out, "a\r\n\r\n");
}

TEST(DotReader, BareLfFirstByteDoesNotStartALine) {
  // Right after the 354, "\n.\r\n" is not an end: the LF is bare.
  for (BareNewline mode : kModes) {
    const Outcome r = feed_once(mode, "\n.\r\n");
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.consumed, 4u);
  }
  const Outcome r = feed_once(BareNewline::normalize, "\n.\r\n.\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "\r\n.\r\n");
}

TEST(DotReader, BareCrAndBareLf) {
  for (const char* in : {"a\rb\r\n.\r\n", "a\nb\r\n.\r\n"}) {
    const Outcome norm = feed_once(BareNewline::normalize, in);
    EXPECT_TRUE(norm.done);
    EXPECT_EQ(norm.out, "a\r\nb\r\n");
    const Outcome rej = feed_once(BareNewline::reject, in);
    EXPECT_TRUE(rej.done);
    EXPECT_TRUE(rej.rejected);
  }
  // Bare line ends do not start a line: no unstuffing after them.
  EXPECT_EQ(feed_once(BareNewline::normalize, "a\n..b\r\n.\r\n").out, "a\r\n..b\r\n");
  EXPECT_EQ(feed_once(BareNewline::normalize, "a\r..b\r\n.\r\n").out, "a\r\n..b\r\n");
  EXPECT_EQ(feed_once(BareNewline::normalize, "\r\r\r\n.\r\n").out, "\r\n\r\n\r\n");
  EXPECT_EQ(feed_once(BareNewline::normalize, "\n\n\r\n.\r\n").out, "\r\n\r\n\r\n");
}

TEST(DotReader, CrAtChunkEnd) {
  for (BareNewline mode : kModes) {
    DotReader r(mode);
    std::string out;
    EXPECT_EQ(r.feed("abc\r", out), 4u);
    EXPECT_EQ(out, "abc");  // CR pending
    EXPECT_EQ(r.feed("\n.\r", out), 3u);
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.feed("\nNEXT", out), 1u);
    EXPECT_TRUE(r.done());
    EXPECT_FALSE(r.rejected());
    EXPECT_EQ(out, "abc\r\n");
  }
  DotReader r(BareNewline::normalize);
  std::string out;
  r.feed("abc\r", out);
  r.feed("x\r\n.\r\n", out);
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.saw_bare_newline());
  EXPECT_EQ(out, "abc\r\nx\r\n");
}

TEST(DotReader, RejectModeReadsToTheRealEnd) {
  DotReader r(BareNewline::reject);
  std::string out;
  std::size_t n = r.feed("a\n.\n", out);
  n += r.feed("MAIL FROM:<x@y>\r\n", out);
  EXPECT_FALSE(r.done());
  EXPECT_TRUE(r.rejected());
  n += r.feed("more\r\n.\r\nQUIT\r\n", out);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(n, 4u + 17u + 9u);
}

TEST(DotReader, LongLinesKeptIntact) {
  const std::string line(100 * 1024, 'x');
  const std::string in = "Subject: big\r\n\r\n" + line + "\r\n." + line + "\r\n.\r\n";
  const std::string want = "Subject: big\r\n\r\n" + line + "\r\n" + line + "\r\n";
  for (BareNewline mode : kModes) {
    EXPECT_EQ(feed_once(mode, in).out, want);
    // In 4 KiB chunks, as a socket would deliver it.
    std::vector<std::size_t> cuts;
    for (std::size_t k = 4096; k < in.size(); k += 4096) cuts.push_back(k);
    const Outcome chunked = feed_split(mode, in, cuts);
    EXPECT_TRUE(chunked.done);
    EXPECT_EQ(chunked.out, want);
  }
}

// Every way of splitting each input gives the same result.
TEST(DotReader, EverySplitGivesTheSameResult) {
  const std::vector<std::string> inputs = {
      "a\r\n.\r\n",
      "..\r\n.\r\nX",
      "\r\n.\r\r\n.\r\n",
      "a\r\r\n.\r\n",
      "x\n.\ny\r\n.\r\n",
      "x\r.\r\ny\r\n.\r\n",
      "x\r\n.\ry\r\n.\r\n",
      "x\r\n.\ny\r\n.\r\n",
      ".\r.\r\n.\r\n",
      "\r\r\n\n.\r\n.\r\n",
      ".\r\n",
      "..\r\r\n.\n.\r\n",
  };
  for (const std::string& in : inputs) {
    SCOPED_TRACE(testing::PrintToString(in));
    ASSERT_LE(in.size(), 16u);
    const std::size_t n = in.size();
    for (BareNewline mode : kModes) {
      const Outcome ref = feed_once(mode, in);
      for (unsigned mask = 0; mask < (1u << (n - 1)); ++mask) {
        std::vector<std::size_t> cuts;
        for (std::size_t k = 1; k < n; ++k)
          if (mask & (1u << (k - 1))) cuts.push_back(k);
        ASSERT_EQ(feed_split(mode, in, cuts), ref) << "mask " << mask;
      }
    }
  }
}

// All strings up to 7 bytes over the interesting alphabet, against the oracle,
// fed whole, byte by byte and cut at every single point.
TEST(DotReader, ExhaustiveSmallInputsMatchOracle) {
  const char alphabet[] = {'\r', '\n', '.', 'a'};
  std::string in;
  for (std::size_t len = 0; len <= 7; ++len) {
    std::size_t total = 1;
    for (std::size_t k = 0; k < len; ++k) total *= 4;
    for (std::size_t code = 0; code < total; ++code) {
      in.clear();
      for (std::size_t k = 0, c = code; k < len; ++k, c /= 4) in += alphabet[c % 4];
      const test::DotExpect want = test::dot_oracle(in);
      const Outcome norm = feed_once(BareNewline::normalize, in);
      const Outcome rej = feed_once(BareNewline::reject, in);
      ASSERT_EQ(norm.done, want.done) << testing::PrintToString(in);
      ASSERT_EQ(norm.consumed, want.consumed) << testing::PrintToString(in);
      ASSERT_EQ(rej.consumed, want.consumed) << testing::PrintToString(in);
      ASSERT_EQ(rej.rejected, want.bare) << testing::PrintToString(in);
      if (want.done) {
        ASSERT_EQ(norm.out, want.content) << testing::PrintToString(in);
        if (!want.bare) {
          ASSERT_EQ(rej.out, want.content);
        }
      }
      ASSERT_TRUE(want.content.compare(0, rej.out.size(), rej.out) == 0 || !want.done)
          << "reject-mode output is a prefix of the normalized content";
      ASSERT_TRUE(test::only_crlf(norm.out)) << testing::PrintToString(in);
      for (BareNewline mode : kModes) {
        const Outcome once = mode == BareNewline::normalize ? norm : rej;
        ASSERT_EQ(feed_bytewise(mode, in), once) << testing::PrintToString(in);
        for (std::size_t cut = 1; cut < len; ++cut)
          ASSERT_EQ(feed_split(mode, in, {cut}), once) << testing::PrintToString(in);
      }
    }
  }
}

}  // namespace
}  // namespace mp::smtpd
