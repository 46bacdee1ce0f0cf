#include "follower_workers/worker_core.h"

#include <atomic>
#include <cmath>
#include <memory>

#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "follower_workers/wire_convert.h"
#include "followers/shard_work.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::workers {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

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

// Learning followers: policy statistics and gradients computed from an item
// are FollowerShardWork's bits; malformed policy payloads are refused naming
// the field.
TEST(WorkerCorePpoTest, PolicyItemsMatchTheLocalWorkAndBadOnesAreRefused) {
  env::Scenario sc = env::MakeTestScenario(4, 2);
  sc.follower.learner = env::FollowerParams::Learner::kPpo;
  sc.follower.ppo.hidden_sizes = {8, 8};
  sc.follower.ppo.episodes_per_household_day = 1;
  const env::Tariff tariff = env::FlatTestTariff(sc, 0.15);
  const env::PriceBelief belief =
      env::PriceBelief::Constant(sc.days, static_cast<int>(sc.network.buses.size()), 35.0);
  auto kernel = std::make_shared<const env::ShardKernel>(sc);
  auto work = followers::FollowerShardWork::Create(kernel, 1);
  ASSERT_TRUE(work.ok()) << work.status();
  std::vector<double> sampling = (*work)->InitialParameters();
  std::vector<double> current = sampling;
  for (size_t i = 0; i < current.size(); ++i) current[i] += 1e-3 * static_cast<double>(i % 7);

  const v1::Scenario wire = config::FromScenario(sc).scenario();
  v1::WorkItem item;
  item.set_work_id(3);
  item.set_scenario_fingerprint(workers::ScenarioFingerprint(wire));
  *item.mutable_scenario() = wire;
  for (int s : {0, 2, 5}) item.add_shards(s);
  item.set_kind(v1::WORK_KIND_POLICY_GRADIENT);
  v1::PolicyGradientPayload* p = item.mutable_policy_gradient();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  p->set_phase(3);
  *p->mutable_sampling() = workers::PolicyToProto(
      {.version = 8, .values = std::make_shared<const std::vector<double>>(sampling)});
  *p->mutable_current() = workers::PolicyToProto(
      {.version = 9, .values = std::make_shared<const std::vector<double>>(current)});
  WorkerCore core(2);
  auto results = core.Compute(item);
  ASSERT_TRUE(results.ok()) << results.status();
  int with_steps = 0;
  for (int i = 0; i < 3; ++i) {
    const int shard = item.shards(i);
    auto got = workers::GradientFromProto((*results)[i].gradient(), -1);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->policy_version, 9u);
    auto want = (*work)->Gradient(shard, tariff, belief, 3, sampling, current, /*rollout_key=*/1);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(got->gradient, want->gradient) << "shard " << shard;
    EXPECT_EQ(got->steps, want->steps);
    with_steps += got->steps > 0 ? 1 : 0;
  }
  EXPECT_GT(with_steps, 0);
  // Again: the episodes come from the cache, the bits do not change.
  auto again = core.Compute(item);
  ASSERT_TRUE(again.ok());
  for (int i = 0; i < 3; ++i) {
    const auto& a = (*again)[i].gradient().gradient();
    const auto& b = (*results)[i].gradient().gradient();
    EXPECT_EQ(std::vector<double>(a.begin(), a.end()), std::vector<double>(b.begin(), b.end()));
  }

  // Policy statistics.
  v1::WorkItem evaluate = item;
  evaluate.clear_policy_gradient();
  evaluate.set_kind(v1::WORK_KIND_EVALUATE);
  *evaluate.mutable_evaluate()->mutable_tariff() = workers::TariffToProto(tariff);
  *evaluate.mutable_evaluate()->mutable_belief() = workers::BeliefToProto(belief);
  *evaluate.mutable_evaluate()->mutable_policy() = item.policy_gradient().current();
  auto stats = core.Compute(evaluate);
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto want = (*work)->Evaluate(2, tariff, belief, current);
  ASSERT_TRUE(want.ok());
  auto got = workers::StatsFromProto((*stats)[1].population());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->net_load_kw, want->net_load_kw);

  // Refusals, naming the field.
  v1::WorkItem bad = evaluate;
  bad.mutable_evaluate()->clear_policy();
  EXPECT_THAT(core.Compute(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("evaluate.policy")));
  bad = item;
  bad.mutable_policy_gradient()->mutable_current()->mutable_values()->RemoveLast();
  EXPECT_THAT(core.Compute(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy_gradient.current")));
  bad = item;
  bad.mutable_policy_gradient()->mutable_sampling()->set_values(4, std::nan(""));
  EXPECT_THAT(core.Compute(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy_gradient.sampling")));
  bad = item;
  bad.clear_policy_gradient();
  EXPECT_THAT(core.Compute(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy_gradient: absent")));
}

TEST_F(WorkerCoreTest, PolicyPayloadsForExactFollowersAreRefused) {
  WorkerCore core(1);
  v1::WorkItem item = EvaluateItem({0});
  (*item.mutable_evaluate()->mutable_policy()).add_values(1.0);
  EXPECT_THAT(core.Compute(item).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("evaluate.policy")));
  item = EvaluateItem({0});
  item.clear_evaluate();
  item.set_kind(v1::WORK_KIND_POLICY_GRADIENT);
  item.mutable_policy_gradient();
  EXPECT_THAT(core.Compute(item).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not learn")));
}

TEST_F(WorkerCoreTest, CancelledBetweenShards) {
  WorkerCore core(1);
  std::atomic<int> polls{0};
  auto results = core.Compute(EvaluateItem({0, 1, 2}), [&] { return ++polls > 1; });
  EXPECT_THAT(results.status(), StatusIs(absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace smfg::workers
