#include "training/reference.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "common/status_matchers.h"
#include "environment/baselines.h"
#include "environment/equilibrium.h"
#include "environment/market.h"
#include "environment/objective.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/tariff_family.h"
#include "training/trainer.h"

namespace smfg::training {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

struct Problem {
  explicit Problem(int days = 3)
      : scenario(env::MakeTestScenario(4, days)), evaluator(scenario, 1) {
    market = *env::MarketClearing::Create(scenario, evaluator.kernel().shapes(),
                                          evaluator.kernel().days());
    params.scenario = scenario;
    params.base = env::FlatTestTariff(scenario, 0.0);
    params.reference.max_evaluations = 60;
    params.reference.relative_tolerance = 1e-4;
  }
  // J of the family's parameters x: the follower equilibrium from a cold
  // start, then the pool objective (no search involved).
  double Objective(const TariffFamily& family, const std::vector<double>& x) {
    const env::Tariff tariff = family.StaticTariff(x, params.base);
    absl::StatusOr<env::InnerResult> inner =
        env::SolveMeanField(evaluator, *market, tariff, scenario.inner, nullptr);
    EXPECT_THAT(inner.status(), IsOk());
    return env::PoolObjective(scenario, tariff, *inner, params.weights).objective;
  }
  env::Scenario scenario;
  env::LocalPopulationEvaluator evaluator;
  std::unique_ptr<env::MarketClearing> market;
  TrainerParams params;
};

// One flat rate (a single block, no fixed charges): the optimizer's answer
// must match a brute-force grid search over the rate, computed without it.
TEST(ReferenceTest, OneRateMatchesAGridSearch) {
  Problem p;
  p.params.tariff.kind = FamilyKind::kBlocks;
  p.params.tariff.block_start_hours = {0};
  p.params.tariff.min_rate_per_kwh = 0.05;
  p.params.tariff.max_rate_per_kwh = 0.40;
  const TariffFamily family(p.params.tariff);
  ASSERT_EQ(family.size(), 1);

  absl::StatusOr<v1::ReferenceSummary> ref =
      OptimizeReference(p.params, family, p.evaluator, *p.market, family.Flat(0.10, 0.0),
                        /*progress=*/nullptr, /*should_stop=*/{});
  ASSERT_THAT(ref.status(), IsOk());
  EXPECT_EQ(ref->algorithm(), "LN_COBYLA");  // BOBYQA needs two parameters
  ASSERT_EQ(ref->parameters_size(), 1);

  // Coarse grid, then a fine one around its best point.
  double best_x = 0, best_j = -1e300;
  for (int i = 0; i <= 35; ++i) {
    const double x = 0.05 + 0.01 * i;
    const double j = p.Objective(family, {x});
    if (j > best_j) best_j = j, best_x = x;
  }
  const double center = best_x;
  for (int i = -10; i <= 10; ++i) {
    const double x = std::clamp(center + 0.001 * i, 0.05, 0.40);
    const double j = p.Objective(family, {x});
    if (j > best_j) best_j = j, best_x = x;
  }
  EXPECT_NEAR(ref->parameters(0), best_x, 2e-3);
  // The optimizer may land between grid points, so it may beat the grid by
  // a little; it must not lose to it by more than the objective's flatness
  // over half a fine step.
  EXPECT_GE(ref->terms().objective(), best_j - 1e-3 * std::fabs(best_j));
  // Its reported terms are those of its own parameters.
  EXPECT_NEAR(ref->terms().objective(), p.Objective(family, {ref->parameters(0)}),
              1e-6 * std::fabs(best_j));
  EXPECT_GE(ref->terms().objective(), ref->start_objective());
  EXPECT_LE(ref->evaluations(), p.params.reference.max_evaluations);
}

// With several parameters BOBYQA runs; the answer is never worse than the
// start and the same inputs give the same answer (NLopt is deterministic).
TEST(ReferenceTest, SmoothFamilyImprovesOnTheStartAndIsDeterministic) {
  Problem p;
  p.params.tariff.kind = FamilyKind::kSmooth;
  p.params.tariff.harmonics = 1;
  p.params.reference.max_evaluations = 25;
  const TariffFamily family(p.params.tariff);
  const std::vector<double> start = family.Flat(0.12, 0.0);
  absl::StatusOr<v1::ReferenceSummary> a =
      OptimizeReference(p.params, family, p.evaluator, *p.market, start, nullptr, {});
  absl::StatusOr<v1::ReferenceSummary> b =
      OptimizeReference(p.params, family, p.evaluator, *p.market, start, nullptr, {});
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  EXPECT_EQ(a->algorithm(), "LN_BOBYQA");
  EXPECT_GT(a->terms().objective(), a->start_objective());
  EXPECT_EQ(a->terms().objective(), b->terms().objective());
  EXPECT_THAT(a->parameters(), ::testing::ElementsAreArray(b->parameters()));
  EXPECT_EQ(a->evaluations(), 25);
  EXPECT_EQ(a->stop_reason(), "maxeval reached");
}

TEST(ReferenceTest, ACostRecoveryConstraintIsMetByTheAnswer) {
  Problem p;
  p.params.tariff.kind = FamilyKind::kBlocks;
  p.params.tariff.block_start_hours = {0, 12};
  // The test scenario recovers its cost at a few cents per kWh.
  p.params.tariff.min_rate_per_kwh = 0.0;
  p.params.weights.recovery_constraint_tolerance = 0.01;
  const TariffFamily family(p.params.tariff);
  // Start from the cost-recovering flat rate, as a training run does.
  env::EvaluateOptions quiet;
  quiet.measure_exploitability = false;
  absl::StatusOr<env::Evaluation> flat = env::EvaluateCostRecovering(
      p.evaluator, *p.market, p.scenario, p.params.base, env::FlatShape(), "flat", quiet);
  ASSERT_THAT(flat.status(), IsOk());
  absl::StatusOr<v1::ReferenceSummary> ref =
      OptimizeReference(p.params, family, p.evaluator, *p.market,
                        family.Flat(flat->tariff.Rates(0, 0)[0], 0.0), nullptr, {});
  ASSERT_THAT(ref.status(), IsOk());
  EXPECT_EQ(ref->algorithm(), "LN_COBYLA");
  EXPECT_LE(std::fabs(ref->terms().recovery_gap()), 0.01);
}

TEST(ReferenceTest, StopRequestIsCancelledAndAWrongStartIsInvalid) {
  Problem p;
  const TariffFamily family(p.params.tariff);
  EXPECT_THAT(OptimizeReference(p.params, family, p.evaluator, *p.market, family.Flat(0.15, 0.0),
                                nullptr, [] { return true; })
                  .status(),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(
      OptimizeReference(p.params, family, p.evaluator, *p.market, {0.1}, nullptr, {}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("start has 1")));
}

}  // namespace
}  // namespace smfg::training
