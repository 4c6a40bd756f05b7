// The spam verdict reaching the mailbox: SpamStage -> LocalTransport -> maildir, with
// DeliveryRequest::junk choosing LocalOptions::maildir_junk (or the inbox when unset).
#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "local_test_util.hpp"
#include "transports/local_transport.hpp"
#include "transports/spam_stage.hpp"

namespace mp::transports {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class VerdictByBody final : public SpamScanner {
 public:
  SpamCheck scan(std::string_view, std::string_view message) override {
    bool spam = message.find("BUY NOW") != std::string_view::npos;
    return SpamCheck{true, SpamVerdict{spam, spam ? 9.0 : 0.0, 5.0, {}}, ""};
  }
  std::string describe() const override { return "fake"; }
};

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(testing::slurp(e.path()));
  return out;
}

DeliveryResult run(Transport& t, DeliveryRequest r) {
  std::promise<DeliveryResult> p;
  auto f = p.get_future();
  t.deliver(std::move(r), [&p](DeliveryResult res) { p.set_value(std::move(res)); });
  EXPECT_EQ(f.wait_for(20s), std::future_status::ready);
  return f.get();
}

void check_routes(const std::string& junk_folder) {
  testing::TempDir dir;
  fs::path mail = dir.writable("mail");
  LocalOptions opts;
  opts.maildir_junk = junk_folder;
  LocalTransport local(testing::test_spawner(), opts);
  SpamStage stage(
      SpamSettings{}, [&](std::string_view) -> Transport* { return &local; },
      std::make_shared<VerdictByBody>());
  std::string user = testing::is_root() ? "nobody" : "";
  std::string hop = "spam:maildir:" + mail.string() + "/%l/Maildir";

  auto ham = testing::request(hop, testing::addr("bob", "local.test"), user,
                              "X-Spam-Flag: YES\r\nSubject: hi\r\n\r\nlunch?\r\n");
  auto spam = testing::request(hop, testing::addr("bob", "local.test"), user,
                               "X-Spam-Flag: NO\r\nSubject: deal\r\n\r\nBUY NOW\r\n");
  ASSERT_EQ(run(stage, std::move(ham))[0].outcome, Outcome::ok);
  DeliveryResult r = run(stage, std::move(spam));
  ASSERT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.text;

  fs::path md = mail / "bob" / "Maildir";
  std::vector<std::string> inbox = files_in(md / "new");
  std::vector<std::string> junk =
      junk_folder.empty() ? std::vector<std::string>{} : files_in(md / junk_folder / "new");
  if (junk_folder.empty()) {
    ASSERT_EQ(inbox.size(), 2u);  // no junk folder: both in the inbox, marked
  } else {
    ASSERT_EQ(inbox.size(), 1u);
    ASSERT_EQ(junk.size(), 1u);
    EXPECT_TRUE(fs::exists(md / junk_folder / "maildirfolder"));
    EXPECT_NE(junk[0].find("X-Spam-Flag: YES\n"), std::string::npos) << junk[0];
    EXPECT_NE(junk[0].find("BUY NOW"), std::string::npos);
    EXPECT_EQ(junk[0].find("X-Spam-Flag: NO"), std::string::npos);
    EXPECT_NE(inbox[0].find("X-Spam-Flag: NO\n"), std::string::npos) << inbox[0];
    EXPECT_EQ(inbox[0].find("X-Spam-Flag: YES"), std::string::npos);
  }
}

TEST(SpamJunk, FlaggedMailGoesToMaildirJunk) {
  check_routes(".Junk");
}

TEST(SpamJunk, WithoutMaildirJunkFlaggedMailStaysInTheInbox) {
  check_routes("");
}

TEST(SpamJunk, JunkIsIgnoredByOtherLocalKinds) {
  testing::TempDir dir;
  fs::path out = dir.writable("out");
  LocalOptions opts;
  opts.maildir_junk = ".Junk";
  LocalTransport local(testing::test_spawner(), opts);
  std::string prog = testing::script(dir.path(), "save", "cat > " + (out / "got").string() + "\n");
  auto req = testing::request("|" + prog, testing::addr("bob", "local.test"),
                              testing::is_root() ? "nobody" : "");
  req.junk = true;
  DeliveryResult r = local.deliver_now(req);
  ASSERT_EQ(r[0].outcome, Outcome::ok) << r[0].reply.text;
  EXPECT_NE(testing::slurp(out / "got").find("body line"), std::string::npos);
}

}  // namespace
}  // namespace mp::transports
