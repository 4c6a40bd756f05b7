// The helper's job protocol: round trips, and hostile input rejected without harm.
#include "transports/local_job_wire.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

Job exec_job() {
  Job j;
  j.kind = Job::Kind::exec;
  j.user = "nobody";
  j.argv = {"/usr/bin/procmail", "-d", "bob"};
  j.env = {"SENDER=a@b.example", "RECIPIENT=bob@c.example", "QUEUE_ID=Q1"};
  j.timeout = std::chrono::milliseconds(1500);
  j.data = std::string("Return-Path: <a@b.example>\n\nbody") + '\0' + "with nul\n";
  return j;
}

Job maildir_job() {
  Job j;
  j.kind = Job::Kind::maildir;
  j.user = "bob";
  j.maildir = "/srv/mail/bob/Maildir";
  j.folder = ".Junk";
  j.data = "x";
  return j;
}

void expect_same(const Job& a, const Job& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.argv, b.argv);
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.maildir, b.maildir);
  EXPECT_EQ(a.folder, b.folder);
  EXPECT_EQ(a.data, b.data);
}

TEST(JobWire, RoundTrips) {
  for (const Job& j : {exec_job(), maildir_job()}) {
    std::string why;
    auto back = decode_job(encode_job(j), why);
    ASSERT_TRUE(back) << why;
    expect_same(j, *back);
  }
  JobResult r;
  r.status = JobResult::Status::exited;
  r.code = -3;
  r.temporary = false;
  r.text = "no such user";
  std::string why;
  auto back = decode_result(encode_result(r), why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->status, r.status);
  EXPECT_EQ(back->code, -3);
  EXPECT_FALSE(back->temporary);
  EXPECT_EQ(back->text, r.text);
}

TEST(JobWire, EveryTruncationAndExtensionIsRejected) {
  std::string wire = encode_job(exec_job());
  std::string why;
  for (std::size_t n = 0; n < wire.size(); ++n)
    EXPECT_FALSE(decode_job(std::string_view(wire).substr(0, n), why)) << n;
  EXPECT_FALSE(decode_job(wire + "x", why));
  EXPECT_EQ(why, "trailing bytes");
  std::string res = encode_result(JobResult{});
  for (std::size_t n = 0; n < res.size(); ++n)
    EXPECT_FALSE(decode_result(std::string_view(res).substr(0, n), why)) << n;
}

TEST(JobWire, HugeLengthsAreRejectedBeforeAllocating) {
  std::string wire = "MPJ1";
  wire += '\x01';
  wire += std::string("\xff\xff\xff\x7f", 4);  // user length 2 GiB
  std::string why;
  EXPECT_FALSE(decode_job(wire, why));
  // argc of 4 billion
  Job j = exec_job();
  j.argv.clear();
  j.env.clear();
  std::string w = encode_job(j);
  std::size_t argc_at = 4 + 1 + 4 + j.user.size() + 8;
  w.replace(argc_at, 4, "\xff\xff\xff\xff");
  EXPECT_FALSE(decode_job(w, why));
  EXPECT_EQ(why, "bad argument count");
}

TEST(JobWire, GarbageDoesNotDecode) {
  std::string why;
  EXPECT_FALSE(decode_job("", why));
  EXPECT_FALSE(decode_job("GET / HTTP/1.0\r\n\r\n", why));
  EXPECT_FALSE(decode_result("MPJ1", why));
  std::string w = encode_job(exec_job());
  w[4] = '\x07';  // unknown kind
  EXPECT_FALSE(decode_job(w, why));
}

TEST(JobWire, ValidationRefusesDangerousJobs) {
  auto bad = [](auto change) {
    Job j = exec_job();
    change(j);
    return !validate_job(j).empty();
  };
  EXPECT_TRUE(validate_job(exec_job()).empty());
  EXPECT_TRUE(validate_job(maildir_job()).empty());
  EXPECT_TRUE(bad([](Job& j) { j.user = ""; }));
  EXPECT_TRUE(bad([](Job& j) { j.user = "-root"; }));
  EXPECT_TRUE(bad([](Job& j) { j.user = "a/b"; }));
  EXPECT_TRUE(bad([](Job& j) { j.user = "a b"; }));
  EXPECT_TRUE(bad([](Job& j) { j.argv = {}; }));
  EXPECT_TRUE(bad([](Job& j) { j.argv = {"procmail"}; }));
  EXPECT_TRUE(bad([](Job& j) { j.argv.push_back(std::string("a\0b", 3)); }));
  EXPECT_TRUE(bad([](Job& j) { j.env.push_back("NOEQUALS"); }));
  EXPECT_TRUE(bad([](Job& j) { j.env.push_back("=x"); }));
  EXPECT_TRUE(bad([](Job& j) { j.env.push_back("A-B=x"); }));
  EXPECT_TRUE(bad([](Job& j) { j.timeout = std::chrono::milliseconds(0); }));
  EXPECT_TRUE(bad([](Job& j) { j.maildir = "/x"; }));
  auto bad_md = [](auto change) {
    Job j = maildir_job();
    change(j);
    return !validate_job(j).empty();
  };
  EXPECT_TRUE(bad_md([](Job& j) { j.maildir = "relative/Maildir"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.maildir = "/srv/mail/../etc"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.maildir = "/srv/./mail"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.maildir = "/srv/a\nb"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.folder = "Junk"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.folder = ".."; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.folder = ".a/b"; }));
  EXPECT_TRUE(bad_md([](Job& j) { j.argv = {"/bin/true"}; }));
}

}  // namespace
}  // namespace mp::transports
