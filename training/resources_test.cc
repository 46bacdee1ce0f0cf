#include "training/resources.h"

#include "common/status_matchers.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

TrainerParams Params() {
  TrainerParams p;
  p.scenario = env::MakeTestScenario(4, 10);
  p.base = env::FlatTestTariff(p.scenario, 0.0);
  return p;
}

// Hand count: 4 features -> 64 -> 64 -> 24 actions (+24 log-stds), and the
// value net 4 -> 64 -> 64 -> 1, for the HOURLY family (24 rates, no fixed
// charges).
TEST(ResourcesTest, CountsTheLeaderNetworksParameters) {
  TrainerParams params = Params();
  params.tariff.kind = FamilyKind::kHourly;
  const ResourceEstimate e = EstimateResources(params, /*population_in_process=*/false);
  const int64_t policy = (4 * 64 + 64) + (64 * 64 + 64) + (64 * 24 + 24) + 24;
  const int64_t value = (4 * 64 + 64) + (64 * 64 + 64) + (64 * 1 + 1);
  EXPECT_EQ(e.leader_parameters, policy + value);
  EXPECT_EQ(e.leader_bytes, 64 * (policy + value));
  EXPECT_EQ(e.population_bytes, 0);
  EXPECT_GT(EstimateResources(params, true).population_bytes, 0);
  // SMOOTH with 2 harmonics: 5 actions.
  const int64_t smooth = policy - (64 * 24 + 24) - 24 + (64 * 5 + 5) + 5;
  EXPECT_EQ(EstimateResources(Params(), false).leader_parameters, smooth + value);
}

TEST(ResourcesTest, AHugeNetworkIsRefusedNamingTheFieldAndTheEstimate) {
  TrainerParams p = Params();
  p.ppo.hidden_sizes.assign(100, 4096);  // ~1.7e9 parameters per network
  EXPECT_THAT(CheckResources(p, false, int64_t{8} << 30),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("learner.hidden_sizes: the run would need about"),
                             HasSubstr("GB"), HasSubstr("budget of 8.6 GB"))));
  EXPECT_THAT(CheckResources(Params(), false, int64_t{8} << 30), IsOk());
}

TEST(ResourcesTest, ManyShardsAndDaysAreNamed) {
  TrainerParams p = Params();
  p.scenario.days = 36500;
  p.scenario.shards = 65536;
  EXPECT_THAT(CheckResources(p, false, int64_t{8} << 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scenario.shards")));
  p.scenario.shards = 1;
  EXPECT_THAT(CheckResources(p, false, int64_t{1} << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scenario.days")));
}

}  // namespace
}  // namespace smfg::training
