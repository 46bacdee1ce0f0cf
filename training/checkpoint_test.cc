#include "training/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "common/files.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

namespace fs = std::filesystem;
using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("checkpoint_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

v1::TrainerCheckpoint Example() {
  v1::TrainerCheckpoint c;
  c.set_iteration(2);
  c.set_stall(1);
  c.set_best_objective(-0.0257);
  for (v1::PriceBeliefState* b : {c.mutable_rollout_belief(), c.mutable_eval_belief()}) {
    b->set_days(1);
    b->set_buses(2);
    for (int i = 0; i < 48; ++i) b->add_lmp_per_mwh(20.0 + i * 0.125);
  }
  for (int k = 1; k <= 2; ++k) {
    v1::IterationRecord* r = c.add_history();
    r->set_iteration(k);
    r->mutable_evaluated()->set_objective(-0.03 + 0.001 * k);
    r->set_belief_change_per_mwh(k == 1 ? std::numeric_limits<double>::infinity() : 0.5);
  }
  c.set_leader_state(std::string("torch\0bytes", 11));
  c.set_owner("exp-000001/abc");
  return c;
}

std::string FilePath(const std::string& dir) { return dir + "/checkpoint.pb"; }

TEST(CheckpointTest, WriteThenReadGivesTheSameCheckpoint) {
  const std::string dir = FreshDir("roundtrip");
  EXPECT_FALSE(HasCheckpoint(dir));
  ASSERT_THAT(WriteCheckpoint(dir, Example()), IsOk());
  EXPECT_TRUE(HasCheckpoint(dir));
  const absl::StatusOr<v1::TrainerCheckpoint> read = ReadCheckpoint(dir);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read, Example()));
}

TEST(CheckpointTest, NoneIsNotFoundAndTheOldFormatIsRefusedClearly) {
  const std::string dir = FreshDir("none");
  EXPECT_THAT(ReadCheckpoint(dir), StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir)));
  std::ofstream(dir + "/loop.state") << "smfg-loop-state-v2\niteration 3\n";
  EXPECT_TRUE(HasCheckpoint(dir));
  EXPECT_THAT(ReadCheckpoint(dir),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("older smfg")));
}

TEST(CheckpointTest, EveryTruncationAndEveryFlippedByteIsDataLoss) {
  const std::string dir = FreshDir("damaged");
  ASSERT_THAT(WriteCheckpoint(dir, Example()), IsOk());
  const std::string bytes = *ReadFile(FilePath(dir), 1 << 20);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::ofstream(FilePath(dir), std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
    EXPECT_THAT(ReadCheckpoint(dir), StatusIs(absl::StatusCode::kDataLoss)) << "cut at " << cut;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x20);
    std::ofstream(FilePath(dir), std::ios::binary | std::ios::trunc) << flipped;
    EXPECT_THAT(ReadCheckpoint(dir), StatusIs(absl::StatusCode::kDataLoss)) << "byte " << i;
  }
}

TEST(CheckpointTest, InconsistentContentIsDataLossNamingTheProblem) {
  const std::string dir = FreshDir("inconsistent");
  const auto expect_loss = [&](const v1::TrainerCheckpoint& c, const char* what) {
    ASSERT_THAT(WriteCheckpoint(dir, c), IsOk());
    EXPECT_THAT(ReadCheckpoint(dir), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(what)));
  };
  v1::TrainerCheckpoint c = Example();
  c.set_iteration(3);
  expect_loss(c, "history has 2 records for iteration 3");
  c = Example();
  c.mutable_history(1)->set_iteration(5);
  expect_loss(c, "history[1] is iteration 5");
  c = Example();
  c.mutable_eval_belief()->mutable_lmp_per_mwh()->RemoveLast();
  expect_loss(c, "eval_belief: 47 prices");
  c = Example();
  c.mutable_rollout_belief()->set_lmp_per_mwh(3, std::numeric_limits<double>::quiet_NaN());
  expect_loss(c, "rollout_belief: non-finite price");
  c = Example();
  c.set_best_objective(std::numeric_limits<double>::infinity());
  expect_loss(c, "best_objective");
  c = Example();
  c.clear_leader_state();
  expect_loss(c, "no leader state");
}

TEST(CheckpointTest, BeliefRoundTripsExactly) {
  env::PriceBelief b;
  b.days = 1;
  b.buses = 1;
  for (int h = 0; h < 24; ++h) b.lmp_per_mwh.push_back(h == 3 ? -0.0 : 1.0 / (h + 3));
  const env::PriceBelief back = BeliefFromState(BeliefToState(b));
  EXPECT_EQ(back.days, 1);
  EXPECT_EQ(back.buses, 1);
  ASSERT_EQ(back.lmp_per_mwh.size(), 24u);
  for (int h = 0; h < 24; ++h) {
    EXPECT_EQ(std::signbit(back.lmp_per_mwh[h]), std::signbit(b.lmp_per_mwh[h]));
    EXPECT_EQ(back.lmp_per_mwh[h], b.lmp_per_mwh[h]);
  }
}

}  // namespace
}  // namespace smfg::training
