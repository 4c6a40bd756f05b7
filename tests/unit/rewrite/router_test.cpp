#include "rewrite/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "rewrite/route_format.hpp"

using namespace mp::rewrite;
using mp::Address;
namespace fs = std::filesystem;

namespace {

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mp-router-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    config_ = mp::default_config();
    config_.file = dir_ / "mailprocd.conf";
    config_.myhostname = "mail.example.net";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  // Routes `rcpt` and returns the formatted line without the "rcpt -> " prefix.
  std::string route(const Router& r, const std::string& rcpt) {
    std::string error;
    mp::PathOptions opts;
    opts.allow_utf8 = true;
    opts.allow_postmaster = true;
    auto a = mp::parse_address(rcpt, opts, error);
    EXPECT_TRUE(a) << rcpt << ": " << error;
    std::string line = format_route(rcpt, r.resolve(Address{"s", "x.example"}, *a));
    return line.substr(rcpt.size() + 4);
  }
  std::vector<std::string> errors() {
    try {
      Router r(config_);
    } catch (const mp::ConfigError& e) {
      std::vector<std::string> out;
      const std::string prefix = dir_.string() + "/";
      for (auto s : e.errors()) {
        for (std::size_t at; (at = s.find(prefix)) != std::string::npos;)
          s.erase(at, prefix.size());
        out.push_back(s);
      }
      return out;
    }
    return {};
  }

  fs::path dir_;
  mp::Config config_;
};

TEST_F(RouterTest, DefaultsMxThenRelayhost) {
  {
    Router r(config_);
    EXPECT_EQ(route(r, "a@b.example"),
              "rewritten=a@b.example rule=\"default: mx\" transport=mx nexthop=mx");
  }
  config_.relayhost = {{"smart.example", 0}, {"::1", 2525}};
  Router r(config_);
  Route rt = r.resolve(Address{}, Address{"a", "b.example"});
  EXPECT_EQ(rt.rule, "default: relayhost");
  EXPECT_EQ(rt.hop.kind, HopKind::relay);
  EXPECT_EQ(rt.hop.hosts.size(), 2u);
  EXPECT_EQ(rt.next_hop(), "smart.example,[::1]:2525");
  EXPECT_FALSE(rt.reject);
}

TEST_F(RouterTest, TransportBeforeRelayhostAndLocalUsers) {
  config_.relayhost = {{"smart.example", 0}};
  config_.transport = write("transport",
                            "example.org maildir:/srv/mail/%u/Maildir\n"
                            "lists.example.org |/usr/bin/list-post %l\n"
                            "spam.example.org spam:/usr/bin/maildrop\n");
  config_.users = write("users", "root daemon\nalice mail\n");
  Router r(config_);
  EXPECT_EQ(route(r, "Alice@Example.org"),
            "rewritten=Alice@Example.org rule=" + (dir_ / "transport").string() +
                ":1 transport=maildir nexthop=maildir:/srv/mail/%u/Maildir user=mail user_rule=" +
                (dir_ / "users").string() + ":2");
  Route unknown = r.resolve(Address{}, Address{"bob", "example.org"});
  ASSERT_TRUE(unknown.reject);
  EXPECT_EQ(unknown.reject->code, 550);
  EXPECT_EQ(unknown.reject->status, "5.1.1");
  EXPECT_EQ(unknown.reject->text, "<bob@example.org>: Recipient address rejected: User unknown");
  EXPECT_TRUE(unknown.unix_user.empty());
  // A pipe without a users entry runs as nobody.
  Route list = r.resolve(Address{}, Address{"dev", "lists.example.org"});
  EXPECT_FALSE(list.reject);
  EXPECT_EQ(list.unix_user, "nobody");
  EXPECT_EQ(list.user_rule, "default: nobody");
  // spam:LOCAL is local.
  Route spam = r.resolve(Address{}, Address{"alice", "spam.example.org"});
  EXPECT_EQ(spam.transport(), "spam");
  EXPECT_EQ(spam.unix_user, "mail");
  EXPECT_TRUE(r.resolve(Address{}, Address{"carol", "spam.example.org"}).reject);
  // Not matched: relayhost.
  EXPECT_EQ(r.resolve(Address{}, Address{"x", "sub.example.org"}).rule, "default: relayhost");
}

TEST_F(RouterTest, PostmasterAndRoot) {
  config_.transport = write("transport", "mail.example.net /usr/bin/maildrop\n");
  config_.users = write("users", "root daemon\n");
  Router r(config_);
  Route pm = r.resolve(Address{}, Address{"Postmaster", ""});
  EXPECT_EQ(pm.rewritten.str(), "Postmaster@mail.example.net");
  EXPECT_EQ(pm.unix_user, "daemon");
  EXPECT_FALSE(pm.reject);
  EXPECT_EQ(r.resolve(Address{}, Address{"root", "mail.example.net"}).unix_user, "daemon");
  EXPECT_EQ(r.resolve(Address{}, Address{"ROOT", "mail.example.net"}).unix_user, "daemon");
}

TEST_F(RouterTest, HostileLocalPartsOnLocalRoutes) {
  config_.transport = write("transport",
                            "local.example maildir:/srv/mail/%l/Maildir\n"
                            "* mx\n");
  config_.users = write("users", "root daemon\n/.*/ nobody\n");
  Router r(config_);
  for (Address a : {Address{"a/b", "local.example"}, Address{"\".hidden\"", "local.example"},
                    Address{"\"../x\"", "local.example"}, Address{"\"\"", "local.example"},
                    Address{"\"a\x01\"", "local.example"}}) {
    Route rt = r.resolve(Address{}, a);
    ASSERT_TRUE(rt.reject) << a.str();
    EXPECT_EQ(rt.reject->code, 550);
    EXPECT_EQ(rt.reject->status, "5.1.3");
    EXPECT_EQ(
        rt.reject->text,
        a.bracketed() + ": Recipient address rejected: Bad destination mailbox address syntax");
    EXPECT_TRUE(rt.unix_user.empty());
  }
  EXPECT_FALSE(r.resolve(Address{}, Address{"a.b", "local.example"}).reject);
  // The same local part to a non-local route is fine.
  EXPECT_FALSE(r.resolve(Address{}, Address{"a/b", "remote.example"}).reject);
}

TEST_F(RouterTest, RewriteComesFirst) {
  config_.rewrite = write("rewrite",
                          "to old.example new.example\n"
                          "from *.servers.example.org example.org\n");
  config_.transport = write("transport", "new.example 10.9.9.9\nold.example discard\n");
  config_.rewrite_headers = true;
  Router r(config_);
  Route rt = r.resolve(Address{}, Address{"u", "OLD.example"});
  EXPECT_EQ(rt.rewritten.str(), "u@new.example");
  EXPECT_EQ(rt.original.str(), "u@OLD.example");
  EXPECT_EQ(rt.rewrite_rule, (dir_ / "rewrite").string() + ":1");
  EXPECT_EQ(rt.next_hop(), "10.9.9.9");
  std::string rule;
  EXPECT_EQ(r.rewrite_sender(Address{"cron", "web.servers.example.org"}, &rule).str(),
            "cron@example.org");
  EXPECT_EQ(rule, (dir_ / "rewrite").string() + ":2");
  EXPECT_EQ(r.rewrite_sender(Address{"cron", ""}, &rule).str(), "cron@mail.example.net");
  EXPECT_EQ(rule, "");
  EXPECT_TRUE(r.rewrite_sender(Address{}).is_null());
  EXPECT_EQ(r.rewrite_headers("From: a@x.servers.example.org\nTo: b@old.example\n\n"),
            "From: a@example.org\nTo: b@new.example\n\n");
  config_.rewrite_headers = false;
  Router off(config_);
  EXPECT_EQ(off.rewrite_headers("To: b@old.example\n"), "To: b@old.example\n");
}

TEST_F(RouterTest, AllErrorsOfAllFilesInOneConfigError) {
  config_.variables = write("variables", "bad-name x\n");
  config_.rewrite = write("rewrite", "up a.example b.example\n");
  config_.transport = write("transport",
                            "a.example maildir:/m/%u\n"
                            "b.example $nope\n");
  EXPECT_EQ(errors(), (std::vector<std::string>{
                          "variables:1: bad variable name 'bad-name' (letters, digits and '_', not "
                          "starting with a digit)",
                          "rewrite:1: bad direction 'up' (expected from, to or both)",
                          "transport:2: undefined variable '$nope'",
                          "transport:1: next hop 'maildir:/m/%u' delivers locally and needs a "
                          "users file (set 'users' in mailprocd.conf)"}));
  config_.users = dir_ / "missing-users";
  auto e = errors();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[3].rfind("missing-users: cannot read: ", 0), 0u) << e[3];
}

TEST_F(RouterTest, ConcurrentResolve) {
  config_.transport = write("transport", "/user[0-9]+@example\\.org/ 10.0.0.1\n* mx\n");
  Router r(config_);
  std::atomic<int> relayed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (r.resolve(Address{}, Address{"user" + std::to_string(i), "example.org"}).hop.kind ==
            HopKind::relay)
          ++relayed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(relayed.load(), 1200);
}

TEST(RouteFormat, Quoting) {
  EXPECT_EQ(format_value("plain"), "plain");
  EXPECT_EQ(format_value(""), "\"\"");
  EXPECT_EQ(format_value("a b"), "\"a b\"");
  EXPECT_EQ(format_value("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
  EXPECT_EQ(format_sender(Address{}, Address{}, ""), "from <> -> rewritten=<>");
  EXPECT_EQ(format_sender(Address{"a", "b"}, Address{"a", "c"}, "rw:1"),
            "from a@b -> rewritten=a@c rewrite=rw:1");
}

}  // namespace

namespace mp::rewrite {
namespace {

// Local parts that could escape a path or read as an option never reach a local transport.
TEST(SafeLocalPart, RefusesWhatCouldEscapeAPathOrArgv) {
  for (const char* bad : {"", ".x", "..", "../x", "a/b", "-oQ", "-", "a\x01"})
    EXPECT_FALSE(safe_local_part(bad)) << bad;
  for (const char* good : {"alice", "a.b", "a-b", "x-", "$(touch f)", ";id", "`id`", "|id"})
    EXPECT_TRUE(safe_local_part(good)) << good;
}

}  // namespace
}  // namespace mp::rewrite
