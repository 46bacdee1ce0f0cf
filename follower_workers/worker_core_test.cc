#include "follower_workers/worker_core.h"

#include <atomic>

#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "follower_workers/wire_convert.h"
#include "gtest/gtest.h"

namespace smfg::workers {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

class WorkerCoreTest : public ::testing::Test {
 protected:
  WorkerCoreTest()
      : scenario_(env::MakeTestScenario(2, 2)),
        tariff_(env::FlatTestTariff(scenario_, 0.15)),
        belief_(env::PriceBelief::Constant(scenario_.days,
                                           static_cast<int>(scenario_.network.buses.size()), 40.0)),
        kernel_(scenario_) {
    wire_scenario_ = config::FromScenario(scenario_).scenario();
    fingerprint_ = workers::ScenarioFingerprint(wire_scenario_);
  }

  v1::WorkItem EvaluateItem(std::vector<int> shards, bool with_scenario = true) const {
    v1::WorkItem item;
    item.set_work_id(1);
    item.set_scenario_fingerprint(fingerprint_);
    if (with_scenario) *item.mutable_scenario() = wire_scenario_;
    for (int s : shards) item.add_shards(s);
    item.set_kind(v1::WORK_KIND_EVALUATE);
    *item.mutable_evaluate()->mutable_tariff() = workers::TariffToProto(tariff_);
    *item.mutable_evaluate()->mutable_belief() = workers::BeliefToProto(belief_);
    return item;
  }

  env::Scenario scenario_;
  env::Tariff tariff_;
  env::PriceBelief belief_;
  env::ShardKernel kernel_;
  v1::Scenario wire_scenario_;
  uint64_t fingerprint_ = 0;
};

TEST_F(WorkerCoreTest, EvaluateMatchesKernelBitForBit) {
  WorkerCore core(2);
  auto results = core.Compute(EvaluateItem({1, 3, 6}));
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  const int shards[] = {1, 3, 6};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*results)[i].shard(), shards[i]);
    auto got = workers::StatsFromProto((*results)[i].population());
    ASSERT_TRUE(got.ok()) << got.status();
    const env::PopulationStats want = kernel_.EvaluateShard(shards[i], tariff_, belief_);
    EXPECT_EQ(got->net_load_kw, want.net_load_kw);
    EXPECT_EQ(got->behaviour, want.behaviour);
    EXPECT_EQ(got->group_bill_by_day, want.group_bill_by_day);
    EXPECT_EQ(got->household_days, want.household_days);
  }
  EXPECT_EQ(core.KnownFingerprints(), std::vector<uint64_t>{fingerprint_});
}

TEST_F(WorkerCoreTest, CachedScenarioNeedNotBeResent) {
  WorkerCore core(1);
  EXPECT_THAT(core.Compute(EvaluateItem({0}, /*with_scenario=*/false)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(core.Compute(EvaluateItem({0})).ok());
  EXPECT_TRUE(core.Compute(EvaluateItem({2}, /*with_scenario=*/false)).ok());
}

TEST_F(WorkerCoreTest, ExploitabilityMatchesKernel) {
  WorkerCore core(1);
  v1::WorkItem item = EvaluateItem({0, 5});
  item.clear_evaluate();
  item.set_kind(v1::WORK_KIND_EXPLOITABILITY);
  const env::PriceBelief realised = env::PriceBelief::Constant(
      scenario_.days, static_cast<int>(scenario_.network.buses.size()), 55.0);
  *item.mutable_exploitability()->mutable_tariff() = workers::TariffToProto(tariff_);
  *item.mutable_exploitability()->mutable_belief() = workers::BeliefToProto(belief_);
  *item.mutable_exploitability()->mutable_realised() = workers::BeliefToProto(realised);
  auto results = core.Compute(item);
  ASSERT_TRUE(results.ok()) << results.status();
  for (int i = 0; i < 2; ++i) {
    const int shard = item.shards(i);
    const env::ExploitabilityStats want =
        kernel_.ShardExploitability(shard, tariff_, belief_, realised);
    auto got = workers::ExploitabilityFromProto((*results)[i].exploitability());
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->household_days, want.household_days);
    EXPECT_EQ(got->sum_regularised, want.sum_regularised);
    EXPECT_EQ(got->max_plain, want.max_plain);
  }
}

TEST_F(WorkerCoreTest, RejectsMalformedItems) {
  WorkerCore core(1);
  EXPECT_THAT(core.Compute(EvaluateItem({})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(core.Compute(EvaluateItem({scenario_.shards})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(core.Compute(EvaluateItem({3, 1})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem wrong_fingerprint = EvaluateItem({0});
  wrong_fingerprint.set_scenario_fingerprint(fingerprint_ + 1);
  EXPECT_THAT(core.Compute(wrong_fingerprint).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem short_belief = EvaluateItem({0});
  short_belief.mutable_evaluate()->mutable_belief()->mutable_lmp_per_mwh()->RemoveLast();
  EXPECT_THAT(core.Compute(short_belief).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem wrong_days = EvaluateItem({0});
  *wrong_days.mutable_evaluate()->mutable_belief() =
      workers::BeliefToProto(env::PriceBelief::Constant(scenario_.days + 1, 3, 40.0));
  EXPECT_THAT(core.Compute(wrong_days).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem no_payload = EvaluateItem({0});
  no_payload.clear_evaluate();
  EXPECT_THAT(core.Compute(no_payload).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem bad_kind = EvaluateItem({0});
  bad_kind.set_kind(static_cast<v1::WorkKind>(77));
  EXPECT_THAT(core.Compute(bad_kind).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem bad_tariff = EvaluateItem({0});
  bad_tariff.mutable_evaluate()->mutable_tariff()->mutable_import_rate_per_kwh(0)->clear_values();
  EXPECT_THAT(core.Compute(bad_tariff).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  v1::WorkItem bad_scenario = EvaluateItem({0});
  bad_scenario.mutable_scenario()->set_shards(0);
  bad_scenario.set_scenario_fingerprint(workers::ScenarioFingerprint(bad_scenario.scenario()));
  EXPECT_THAT(core.Compute(bad_scenario).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(WorkerCoreTest, CancelledBetweenShards) {
  WorkerCore core(1);
  std::atomic<int> polls{0};
  auto results = core.Compute(EvaluateItem({0, 1, 2}), [&] { return ++polls > 1; });
  EXPECT_THAT(results.status(), StatusIs(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace smfg::workers
