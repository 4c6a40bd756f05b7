// Moves and updates of queue files (queue/store.cpp).
#include "queue/store.hpp"

#include <gtest/gtest.h>

#include "queue/envelope_file.hpp"
#include "queue/writer.hpp"
#include "temp_dir.hpp"

namespace mp::queue {
namespace {

using testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_.create();
    Writer w(layout_);
    Envelope env;
    env.sender = Address{"a", "example.com"};
    env.recipients = {Address{"b", "example.org"}, Address{"c", "example.org"}};
    auto d = w.begin(env);
    d->append("Subject: x\r\n\r\nbody\r\n");
    id_ = w.commit(std::move(d));
  }
  TempDir dir_;
  Layout layout_{dir_.path() / "spool"};
  Store store_{layout_};
  std::string id_;
};

TEST_F(StoreTest, MovesBetweenSubQueues) {
  EXPECT_EQ(store_.list(SubQueue::incoming), std::vector<std::string>{id_});
  EXPECT_TRUE(store_.move(id_, SubQueue::incoming, SubQueue::active));
  EXPECT_FALSE(store_.move(id_, SubQueue::incoming, SubQueue::active));  // already gone
  EXPECT_TRUE(store_.move_durable(id_, SubQueue::active, SubQueue::hold));
  EXPECT_EQ(store_.list(SubQueue::hold), std::vector<std::string>{id_});
  EXPECT_TRUE(store_.list(SubQueue::active).empty());
}

TEST_F(StoreTest, AppendedRecordsAreReadBack) {
  store_.append(
      SubQueue::incoming, id_,
      format_recipient_record(1, Outcome::delivered, Reply{250, "2.0.0", "ok"}, 1700000000) +
          format_attempt_record(1, 1700000300));
  QueueFile qf = read_queue_file(layout_.file(SubQueue::incoming, id_));
  EXPECT_EQ(qf.recipients[0].state, RcptState::pending);
  EXPECT_EQ(qf.recipients[1].state, RcptState::delivered);
  EXPECT_EQ(qf.attempts, 1u);
  EXPECT_EQ(qf.next_attempt, 1700000300);
  EXPECT_EQ(qf.content(), "Subject: x\r\n\r\nbody\r\n");
}

TEST_F(StoreTest, NextAttemptIsTheMtime) {
  store_.set_next_attempt(SubQueue::incoming, id_, 1800000000);
  EXPECT_EQ(store_.next_attempt(SubQueue::incoming, id_), 1800000000);
  EXPECT_EQ(store_.next_attempt(SubQueue::deferred, id_), -1);
}

TEST_F(StoreTest, RemoveAndQuarantine) {
  auto moved = store_.quarantine(SubQueue::incoming, id_);
  EXPECT_TRUE(std::filesystem::exists(moved));
  EXPECT_EQ(moved.parent_path(), layout_.dir(SubQueue::corrupt));
  EXPECT_FALSE(store_.remove(SubQueue::incoming, id_));
  EXPECT_TRUE(std::filesystem::exists(moved));  // never deleted
}

}  // namespace
}  // namespace mp::queue
