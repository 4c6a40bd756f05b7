#include "common/reply.hpp"

#include <gtest/gtest.h>

namespace mp {
namespace {

TEST(Reply, SingleLine) {
  Reply r{250, "2.0.0", "Ok: queued as ABC"};
  EXPECT_EQ(r.wire(), "250 2.0.0 Ok: queued as ABC\r\n");
  EXPECT_EQ(r.line(), "250 2.0.0 Ok: queued as ABC");
  EXPECT_EQ((Reply{220, "", "mx.example ESMTP"}.wire()), "220 mx.example ESMTP\r\n");
  EXPECT_EQ((Reply{220, "", "mx.example ESMTP"}.line()), "220 mx.example ESMTP");
}

TEST(Reply, MultiLineWithoutStatus) {
  Reply r{250, "", "mx.example\nPIPELINING\nSIZE 10240000"};
  EXPECT_EQ(r.wire(), "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n");
  EXPECT_EQ(r.line(), "250 mx.example PIPELINING SIZE 10240000");
}

TEST(Reply, MultiLineRepeatsTheStatusOnEveryLine) {
  Reply r{451, "4.3.0", "line one\nline two"};
  EXPECT_EQ(r.wire(), "451-4.3.0 line one\r\n451 4.3.0 line two\r\n");
  EXPECT_EQ(r.line(), "451 4.3.0 line one line two");
}

TEST(Reply, EdgeCases) {
  EXPECT_EQ((Reply{250, "", ""}.wire()), "250\r\n");
  EXPECT_EQ((Reply{250, "2.0.0", ""}.wire()), "250 2.0.0\r\n");
  EXPECT_EQ((Reply{250, "2.0.0", ""}.line()), "250 2.0.0");
  EXPECT_EQ((Reply{250, "", "a\n"}.wire()), "250 a\r\n");              // trailing newline ignored
  EXPECT_EQ((Reply{250, "", "a\r\nb"}.wire()), "250-a\r\n250 b\r\n");  // CRLF in text
  EXPECT_EQ((Reply{250, "", "a\rb"}.wire()), "250 ab\r\n");            // no bare CR on the wire
}

TEST(Reply, Classes) {
  EXPECT_TRUE((Reply{250, "", ""}.positive()));
  EXPECT_TRUE((Reply{354, "", ""}.positive()));
  EXPECT_TRUE((Reply{421, "", ""}.temporary()));
  EXPECT_FALSE((Reply{421, "", ""}.permanent()));
  EXPECT_TRUE((Reply{550, "", ""}.permanent()));
  EXPECT_FALSE((Reply{550, "", ""}.positive()));
}

}  // namespace
}  // namespace mp
