// Placeholder expansion: values, whole-argument / whole-segment rule, hostile values.
#include "transports/placeholders.hpp"

#include <gtest/gtest.h>

namespace mp::transports {
namespace {

PlaceholderValues values(std::string local = "bob") {
  PlaceholderValues v;
  v.unix_user = "bob";
  v.recipient = local + "@example.org";
  v.sender = "alice@example.net";
  v.local = local;
  v.domain = "example.org";
  v.queue_id = "4XyZq1";
  return v;
}

std::string arg(std::string_view tmpl, const PlaceholderValues& v) {
  ExpandError e;
  auto out = expand_argument(tmpl, v, e);
  EXPECT_TRUE(out) << tmpl << ": " << e.detail;
  return out.value_or("<refused>");
}

ExpandError arg_error(std::string_view tmpl, const PlaceholderValues& v) {
  ExpandError e;
  EXPECT_FALSE(expand_argument(tmpl, v, e)) << tmpl;
  return e;
}

ExpandError path_error(std::string_view tmpl, const PlaceholderValues& v) {
  ExpandError e;
  EXPECT_FALSE(expand_path(tmpl, v, e)) << tmpl;
  return e;
}

TEST(Placeholders, EachPlaceholderAsAWholeArgument) {
  auto v = values();
  EXPECT_EQ(arg("%u", v), "bob");
  EXPECT_EQ(arg("%r", v), "bob@example.org");
  EXPECT_EQ(arg("%s", v), "alice@example.net");
  EXPECT_EQ(arg("%l", v), "bob");
  EXPECT_EQ(arg("%d", v), "example.org");
  EXPECT_EQ(arg("%i", v), "4XyZq1");
  EXPECT_EQ(arg("-d", v), "-d");
  EXPECT_EQ(arg("100%%", v), "100%");
  EXPECT_EQ(arg("%x", v), "%x");  // unknown sequences are kept
  EXPECT_EQ(arg("%", v), "%");
}

TEST(Placeholders, PathSegments) {
  auto v = values();
  ExpandError e;
  EXPECT_EQ(expand_path("/srv/mail/%d/%l/Maildir", v, e).value_or(""),
            "/srv/mail/example.org/bob/Maildir");
  EXPECT_EQ(expand_path("/home/%u", v, e).value_or(""), "/home/bob");
  EXPECT_EQ(arg("/home/%u/bin", v), "/home/bob/bin");  // a segment of an argument
  EXPECT_EQ(arg("%u/x", v), "bob/x");
}

TEST(Placeholders, HostileValuesAreRefusedAsPathSegments) {
  for (std::string bad : {"../x", "a/b", ".x", "..", ".", "", "a\x01z", "a\nb", "x\x7f"}) {
    auto e = path_error("/srv/mail/%l/Maildir", values(bad));
    EXPECT_FALSE(e.template_error) << bad;
    EXPECT_EQ(e.placeholder, 'l');
    auto r = expansion_refused(e, "maildir");
    EXPECT_EQ(r.outcome, Outcome::permfail) << bad;
    EXPECT_EQ(r.reply.status, "5.1.3") << bad;
    EXPECT_EQ(r.reply.text.find('\n'), std::string::npos);
    // also inside an argument's path
    EXPECT_FALSE(arg_error("/var/%l/x", values(bad)).template_error) << bad;
  }
}

TEST(Placeholders, ShellMetacharactersPassVerbatimAsArguments) {
  for (std::string hostile :
       {"$(touch f)", ";id", "`id`", "|id", "../x", "a/b", ".x", "a b", "'\"", "*", "&&"}) {
    auto v = values(hostile);
    EXPECT_EQ(arg("%l", v), hostile);
    EXPECT_EQ(arg("%r", v), hostile + "@example.org");
  }
}

TEST(Placeholders, ControlCharactersAndOptionsAreRefusedAsArguments) {
  for (std::string bad : {"a\x01", "x\ny", "\t", "x\x7f"}) {
    auto e = arg_error("%l", values(bad));
    EXPECT_FALSE(e.template_error);
    EXPECT_EQ(expansion_refused(e, "pipe").reply.status, "5.1.3");
  }
  auto e = arg_error("%l", values("-oQ/tmp/x"));
  EXPECT_EQ(expansion_refused(e, "pipe").outcome, Outcome::permfail);
  EXPECT_NE(e.detail.find("'-'"), std::string::npos);
}

TEST(Placeholders, BadSenderBouncesWith517) {
  auto v = values();
  v.sender = "-x@example.net";
  auto r = expansion_refused(arg_error("%s", v), "pipe");
  EXPECT_EQ(r.outcome, Outcome::permfail);
  EXPECT_EQ(r.reply.status, "5.1.7");
}

TEST(Placeholders, TemplateErrorsDefer) {
  auto v = values();
  for (std::string tmpl : {"x%u", "%u.txt", "a%%%u", "/a/%ux/b"}) {
    auto e = arg_error(tmpl, v);
    EXPECT_TRUE(e.template_error) << tmpl;
    auto r = expansion_refused(e, "pipe");
    EXPECT_EQ(r.outcome, Outcome::tempfail);
    EXPECT_EQ(r.reply.status, "4.3.5");
  }
  EXPECT_TRUE(path_error("/m/%s/Maildir", v).template_error);  // the sender never in a path
  EXPECT_TRUE(arg_error("/m/%s", v).template_error);
  EXPECT_TRUE(path_error("relative/%u", v).template_error);
  EXPECT_TRUE(path_error("/m/%u.d", v).template_error);
}

TEST(Placeholders, ProgramPathTakesNoPlaceholders) {
  auto v = values();
  ExpandError e;
  EXPECT_FALSE(expand_argv({"/home/%u/prog"}, v, e));
  EXPECT_TRUE(e.template_error);
  EXPECT_FALSE(expand_argv({"prog", "%u"}, v, e));
  EXPECT_TRUE(e.template_error);
  auto argv = expand_argv({"/usr/bin/prog%%", "-d", "%u", "%r"}, v, e);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (std::vector<std::string>{"/usr/bin/prog%", "-d", "bob", "bob@example.org"}));
}

TEST(Placeholders, ValuesFromTheRequest) {
  DeliveryRequest req;
  req.queue_id = "Q1";
  RecipientRef r;
  r.address = Address{"\"a b\"", "Example.ORG"};
  auto v = placeholder_values(req, r, "carol");
  EXPECT_EQ(v.unix_user, "carol");
  EXPECT_EQ(v.sender, "MAILER-DAEMON");  // the null sender
  EXPECT_EQ(v.local, "a b");
  EXPECT_EQ(v.recipient, "\"a b\"@Example.ORG");
  EXPECT_EQ(v.domain, "example.org");
  EXPECT_EQ(v.queue_id, "Q1");
}

}  // namespace
}  // namespace mp::transports
