#include "rewrite/users.hpp"

#include <gtest/gtest.h>

using namespace mp::rewrite;
using mp::ConfigLine;

namespace {

std::vector<ConfigLine> lines(std::initializer_list<const char*> texts) {
  std::vector<ConfigLine> out;
  int n = 0;
  for (const char* t : texts) out.push_back({++n, t});
  return out;
}

Users users(std::initializer_list<const char*> texts) {
  std::vector<std::string> errors;
  auto u = Users::parse(lines(texts), "users", errors);
  EXPECT_TRUE(errors.empty()) << errors[0];
  return u;
}

std::string who(const Users& u, const char* local) {
  const UserEntry* e = u.find(local);
  return e ? e->unix_user + "@" + e->where : "-";
}

TEST(Users, LiteralsAreCaseInsensitive) {
  auto u = users({"root daemon", "alice mail", "john.doe nobody"});
  EXPECT_EQ(who(u, "alice"), "mail@users:2");
  EXPECT_EQ(who(u, "ALICE"), "mail@users:2");
  EXPECT_EQ(who(u, "john.doe"), "nobody@users:3");
  EXPECT_EQ(who(u, "johnxdoe"), "-");  // '.' in a literal is not a pattern
  EXPECT_EQ(who(u, "alicex"), "-");
  EXPECT_EQ(who(u, "root"), "daemon@users:1");
}

TEST(Users, RegexesAnchoredAndFileOrder) {
  auto u = users({"root daemon", ".*master mail", "/sales|info/ nobody", "webmaster nobody",
                  "dev[0-9]+ nobody"});
  EXPECT_EQ(who(u, "webmaster"), "mail@users:2");  // the regex line comes first
  EXPECT_EQ(who(u, "HOSTMASTER"), "mail@users:2");
  EXPECT_EQ(who(u, "masterx"), "-");
  EXPECT_EQ(who(u, "sales"), "nobody@users:3");
  EXPECT_EQ(who(u, "xsales"), "-");
  EXPECT_EQ(who(u, "salesinfo"), "-");
  EXPECT_EQ(who(u, "dev12"), "nobody@users:5");
  EXPECT_EQ(who(u, "dev"), "-");
}

TEST(Users, PostmasterFallsBackToRoot) {
  auto u = users({"root daemon", "abuse mail"});
  EXPECT_EQ(who(u, "Postmaster"), "daemon@users:1");
  EXPECT_EQ(who(u, "MAILER-DAEMON"), "daemon@users:1");
  auto own = users({"root daemon", "postmaster mail"});
  EXPECT_EQ(who(own, "postmaster"), "mail@users:2");
}

TEST(Users, RootEntryViaRegexCounts) {
  std::vector<std::string> errors;
  Users::parse(lines({"/.*/ nobody"}), "users", errors);
  EXPECT_TRUE(errors.empty());
}

TEST(Users, Errors) {
  std::vector<std::string> errors;
  Users::parse(lines({"alice", "bob mail extra", "carol no-such-user-mailproc", "dave root",
                      "(bad nobody", "erin@example.org nobody", "alice2 mail", "ALICE2 nobody"}),
               "users", errors);
  ASSERT_EQ(errors.size(), 8u);
  EXPECT_EQ(errors[0], "users:1: expected 'VIRTUAL-USER UNIX-USER'");
  EXPECT_EQ(errors[1], "users:2: unexpected text after the unix user: 'extra'");
  EXPECT_EQ(errors[2], "users:3: unix user 'no-such-user-mailproc' does not exist");
  EXPECT_EQ(errors[3],
            "users:4: unix user 'root' is root (uid 0): nothing is ever delivered as root");
  EXPECT_EQ(errors[4], "users:5: bad regex '(bad': missing closing parenthesis at offset 4");
  EXPECT_EQ(errors[5],
            "users:6: 'erin@example.org' is not a local part (write the user without '@domain')");
  EXPECT_EQ(errors[6], "users:8: duplicate entry for 'ALICE2' (first at line 7)");
  EXPECT_EQ(errors[7],
            "users: no entry for 'root' (mail to root must go to an unprivileged user, e.g. "
            "'root admin')");
}

TEST(Users, RejectedRootLineIsReportedOnce) {
  std::vector<std::string> errors;
  Users::parse(lines({"root root"}), "users", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "users:1: unix user 'root' is root (uid 0): nothing is ever delivered as root");
}

}  // namespace
