#include "rewrite/next_hop.hpp"

#include <gtest/gtest.h>

using namespace mp::rewrite;
using Argv = std::vector<std::string>;

namespace {

NextHop ok(std::string_view text) {
  std::string reason;
  auto hop = parse_next_hop(text, reason);
  EXPECT_TRUE(hop) << text << ": " << reason;
  return hop ? *hop : NextHop{};
}

std::string bad(std::string_view text) {
  std::string reason;
  auto hop = parse_next_hop(text, reason);
  EXPECT_FALSE(hop) << text << " parsed as " << (hop ? hop->text : "");
  return reason;
}

TEST(NextHop, RelayHosts) {
  NextHop h = ok("10.1.1.1");
  EXPECT_EQ(h.kind, HopKind::relay);
  ASSERT_EQ(h.hosts.size(), 1u);
  EXPECT_EQ(h.hosts[0].host, "10.1.1.1");
  EXPECT_EQ(h.hosts[0].port, 0);
  EXPECT_FALSE(h.is_local());

  h = ok("mx.foo.bar:2525");
  EXPECT_EQ(h.kind, HopKind::relay);
  EXPECT_EQ(h.hosts[0].host, "mx.foo.bar");
  EXPECT_EQ(h.hosts[0].port, 2525);

  h = ok("[::1]:2425");
  EXPECT_EQ(h.hosts[0].host, "::1");
  EXPECT_EQ(h.hosts[0].port, 2425);
  EXPECT_EQ(h.text, "[::1]:2425");

  h = ok("a.example,b.example:26, c.example");
  ASSERT_EQ(h.hosts.size(), 3u);
  EXPECT_EQ(h.hosts[1].port, 26);
  EXPECT_EQ(h.text, "a.example,b.example:26,c.example");

  h = ok("smtp:[mail.example]:587");
  EXPECT_EQ(h.kind, HopKind::relay);
  EXPECT_EQ(h.hosts[0].host, "mail.example");
  EXPECT_EQ(h.hosts[0].port, 587);

  h = ok("localhost:2525");
  EXPECT_EQ(h.kind, HopKind::relay);
}

TEST(NextHop, Mx) {
  NextHop h = ok("mx");
  EXPECT_EQ(h.kind, HopKind::mx);
  EXPECT_EQ(h.domain, "");
  EXPECT_EQ(h.text, "mx");
  h = ok("MX:Other.Domain");
  EXPECT_EQ(h.kind, HopKind::mx);
  EXPECT_EQ(h.domain, "other.domain");
  EXPECT_EQ(h.text, "mx:other.domain");
  // A host whose name starts with "mx" is a relay host.
  EXPECT_EQ(ok("mx.foo.bar").kind, HopKind::relay);
  EXPECT_NE(bad("mx:2525").find("[mx]:2525"), std::string::npos);
  EXPECT_EQ(bad("mx:"), "missing domain after 'mx:'");
  EXPECT_EQ(bad("mx:bad..domain"), "'bad..domain' is not a domain name");
}

TEST(NextHop, Lmtp) {
  NextHop h = ok("lmtp:127.0.0.1:24");
  EXPECT_EQ(h.kind, HopKind::lmtp);
  ASSERT_EQ(h.hosts.size(), 1u);
  EXPECT_EQ(h.hosts[0].port, 24);
  EXPECT_TRUE(h.socket.empty());
  h = ok("lmtp:[::1]:2424");
  EXPECT_EQ(h.hosts[0].host, "::1");
  EXPECT_EQ(h.text, "lmtp:[::1]:2424");
  h = ok("lmtp:unix:/run/dovecot/lmtp");
  EXPECT_EQ(h.socket, "/run/dovecot/lmtp");
  EXPECT_TRUE(h.hosts.empty());
  EXPECT_EQ(h.text, "lmtp:unix:/run/dovecot/lmtp");
  EXPECT_FALSE(h.is_local());
  EXPECT_EQ(bad("lmtp:unix:relative"), "the unix socket must be an absolute path");
  EXPECT_NE(bad("lmtp:host:notaport").find("is not HOST:PORT"), std::string::npos);
}

TEST(NextHop, Mda) {
  NextHop h = ok("/usr/bin/maildrop");
  EXPECT_EQ(h.kind, HopKind::mda);
  EXPECT_EQ(h.argv, (Argv{"/usr/bin/maildrop", "-d", "%u"}));
  EXPECT_EQ(h.text, "/usr/bin/maildrop -d %u");
  EXPECT_TRUE(h.is_local());
  h = ok("/usr/bin/procmail   -d %u");
  EXPECT_EQ(h.argv, (Argv{"/usr/bin/procmail", "-d", "%u"}));
  EXPECT_EQ(h.text, "/usr/bin/procmail -d %u");
  h = ok("/usr/bin/procmail -m /etc/procmailrcs/%u -a %%x %r");
  EXPECT_EQ(h.argv.size(), 6u);
}

TEST(NextHop, Pipe) {
  NextHop h = ok("|/path/prog arg %r");
  EXPECT_EQ(h.kind, HopKind::pipe);
  EXPECT_EQ(h.argv, (Argv{"/path/prog", "arg", "%r"}));
  EXPECT_EQ(h.text, "|/path/prog arg %r");
  EXPECT_TRUE(h.is_local());
  EXPECT_EQ(ok("| /bin/cat").argv, (Argv{"/bin/cat"}));
  EXPECT_EQ(bad("|"), "missing program");
  EXPECT_EQ(bad("|prog"), "the program must be an absolute path");
  EXPECT_EQ(bad("|/path/%u/prog"), "placeholder %u not allowed in the program path");
}

TEST(NextHop, Maildir) {
  NextHop h = ok("maildir:/srv/mail/%u/Maildir");
  EXPECT_EQ(h.kind, HopKind::maildir);
  EXPECT_EQ(h.path, "/srv/mail/%u/Maildir");
  EXPECT_TRUE(h.is_local());
  EXPECT_EQ(ok("maildir:/srv/%d/%l/").path, "/srv/%d/%l/");
  EXPECT_EQ(bad("maildir:Maildir"), "the maildir must be an absolute path");
  EXPECT_EQ(bad("maildir:"), "the maildir must be an absolute path");
}

TEST(NextHop, Placeholders) {
  EXPECT_EQ(bad("/usr/bin/procmail -d%u"),
            "placeholder %u in '-d%u' must be a whole argument or a whole path segment");
  EXPECT_EQ(bad("maildir:/srv/%u.mail"),
            "placeholder %u in '/srv/%u.mail' must be a whole argument or a whole path segment");
  EXPECT_EQ(bad("|/bin/prog %x"), "unknown placeholder '%x' (known: %u %r %s %l %d %i %%)");
  EXPECT_EQ(bad("|/bin/prog 100%"), "'%' at the end of '100%' (write %% for a literal '%')");
  EXPECT_NE(bad("maildir:/srv/%s/Maildir").find("%s (the sender)"), std::string::npos);
  EXPECT_NE(bad("|/bin/prog /tmp/%s").find("%s (the sender)"), std::string::npos);
  ok("|/bin/prog -f %s -- %r %l %d %i %u");
  ok("|/bin/prog 100%%");
}

TEST(NextHop, Spam) {
  NextHop h = ok("spam:maildir:/srv/mail/%u/Maildir");
  EXPECT_EQ(h.kind, HopKind::spam);
  ASSERT_TRUE(h.then);
  EXPECT_EQ(h.then->kind, HopKind::maildir);
  EXPECT_EQ(h.final_hop().kind, HopKind::maildir);
  EXPECT_TRUE(h.is_local());
  EXPECT_EQ(h.text, "spam:maildir:/srv/mail/%u/Maildir");
  h = ok("spam:10.0.0.1:25");
  EXPECT_FALSE(h.is_local());
  EXPECT_EQ(h.then->hosts[0].port, 25);
  EXPECT_EQ(ok("spam:/usr/bin/maildrop").text, "spam:/usr/bin/maildrop -d %u");
  EXPECT_EQ(bad("spam:spam:mx"), "spam: cannot be nested");
  EXPECT_EQ(bad("spam:discard"), "spam: must be followed by a delivering next hop, not discard");
  EXPECT_EQ(bad("spam:"), "spam: needs the next hop that follows the spam stage");
}

TEST(NextHop, DiscardAndError) {
  NextHop h = ok("discard");
  EXPECT_EQ(h.kind, HopKind::discard);
  EXPECT_EQ(h.text, "discard");
  EXPECT_EQ(ok("discard:spam trap").message, "spam trap");
  h = ok("error:5.1.1 no such user here");
  EXPECT_EQ(h.kind, HopKind::error);
  EXPECT_EQ(h.status, "5.1.1");
  EXPECT_EQ(h.message, "no such user here");
  EXPECT_EQ(h.text, "error:5.1.1 no such user here");
  h = ok("error:mailbox closed");
  EXPECT_EQ(h.status, "5.0.0");
  EXPECT_EQ(h.message, "mailbox closed");
  EXPECT_EQ(ok("error").text, "error:5.0.0");
  EXPECT_EQ(bad("error:4.2.2 full"), "status 4.2.2 is not permanent (error: needs 5.X.Y)");
  EXPECT_EQ(bad("error:5.1 x"), "'5.1' is not an enhanced status code like 5.1.1");
}

TEST(NextHop, BadForms) {
  EXPECT_EQ(bad(""), "empty");
  EXPECT_NE(bad("foo:bar").find("unknown transport 'foo:'"), std::string::npos);
  EXPECT_NE(bad("host:99999").find("is not a host"), std::string::npos);
  EXPECT_NE(bad("bad_host!").find("is not a host"), std::string::npos);
  EXPECT_EQ(bad("mx:a.example b.example"), "mx takes one domain: mx or mx:DOMAIN");
  EXPECT_EQ(bad("mx other.domain"),
            "'mx' is a keyword, not a host here (for a host of that name write [mx])");
  EXPECT_EQ(ok("[mx]:25").hosts[0].host, "mx");
}

TEST(NextHop, ExpandPlaceholders) {
  mp::Address rcpt{"\"John Doe\"", "Example.ORG"};
  mp::Address sender{"s", "x.example"};
  auto v = placeholder_values(rcpt, sender, "john", "ABC123");
  EXPECT_EQ(v.recipient, "\"John Doe\"@Example.ORG");
  EXPECT_EQ(v.local, "John Doe");
  EXPECT_EQ(v.domain, "example.org");
  EXPECT_EQ(expand_placeholders("/srv/%d/%u/%i/100%%", v), "/srv/example.org/john/ABC123/100%");
  EXPECT_EQ(expand_placeholders("%s", v), "s@x.example");
  EXPECT_EQ(expand_placeholders("%s", placeholder_values(rcpt, mp::Address{}, "j", "")),
            "MAILER-DAEMON");
  EXPECT_EQ(expand_placeholders("%r %l %q %", v), "\"John Doe\"@Example.ORG John Doe %q %");
}

TEST(NextHop, Defaults) {
  EXPECT_EQ(mx_hop().text, "mx");
  NextHop r = relay_hop({{"a.example", 0}, {"::1", 2525}});
  EXPECT_EQ(r.kind, HopKind::relay);
  EXPECT_EQ(r.text, "a.example,[::1]:2525");
}

}  // namespace
