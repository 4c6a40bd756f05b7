// The BDAT content reader: bare CR/LF found across any chunk split.
#include "smtpd/bdat_reader.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mp::smtpd {
namespace {

struct Result {
  std::string out;
  bool rejected;
};

Result read(BareNewline mode, const std::vector<std::string_view>& chunks) {
  BdatReader r(mode);
  std::string out;
  for (std::string_view c : chunks) r.feed(c, out);
  r.finish(out);
  return {out, r.rejected()};
}

TEST(BdatReaderTest, CrLfIsKept) {
  Result r = read(BareNewline::reject, {"a\r\nb\r\n"});
  EXPECT_EQ(r.out, "a\r\nb\r\n");
  EXPECT_FALSE(r.rejected);
}

TEST(BdatReaderTest, CrLfSplitAcrossChunksIsNotBare) {
  Result r = read(BareNewline::reject, {"a\r", "\nb\r", "", "\n"});
  EXPECT_EQ(r.out, "a\r\nb\r\n");
  EXPECT_FALSE(r.rejected);
}

TEST(BdatReaderTest, BareCrAndLfAreFound) {
  EXPECT_TRUE(read(BareNewline::reject, {"A\r.\r\nMAIL FROM:<x@evil>\r\n"}).rejected);
  EXPECT_TRUE(read(BareNewline::reject, {"a\nb\r\n"}).rejected);
  EXPECT_TRUE(read(BareNewline::reject, {"a\r", "b\r\n"}).rejected);
  EXPECT_TRUE(read(BareNewline::reject, {"a\r"}).rejected);  // CR ending the last chunk
  EXPECT_TRUE(read(BareNewline::reject, {"a\r", ""}).rejected);
  EXPECT_TRUE(read(BareNewline::reject, {"\r\r\n"}).rejected);
}

TEST(BdatReaderTest, RejectStopsWritingAtTheFirstBareOne) {
  EXPECT_EQ(read(BareNewline::reject, {"ok\r\nbad\nmore\r\n"}).out, "ok\r\nbad");
}

TEST(BdatReaderTest, NormalizeWritesCrLf) {
  Result r = read(BareNewline::normalize, {"A\r.\r", "\nB\nC\r", "D\r"});
  EXPECT_EQ(r.out, "A\r\n.\r\nB\r\nC\r\nD\r\n");
}

TEST(BdatReaderTest, AnySplitGivesTheSameResult) {
  const std::string in = "x\r\ny\rz\n\r\r\n.\r\n\rq";
  for (BareNewline mode : {BareNewline::reject, BareNewline::normalize}) {
    Result whole = read(mode, {in});
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
      std::string_view v(in);
      Result split = read(mode, {v.substr(0, cut), v.substr(cut)});
      EXPECT_EQ(split.out, whole.out) << cut;
      EXPECT_EQ(split.rejected, whole.rejected) << cut;
    }
  }
}

}  // namespace
}  // namespace mp::smtpd
