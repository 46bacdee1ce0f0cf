#include "environment/objective.h"

#include <cmath>

#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "environment/test_scenario.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

struct Solved {
  Scenario scenario = MakeTestScenario(6, 3);
  Tariff tariff = FlatTestTariff(scenario, 0.12);
  InnerResult inner;
  Solved() {
    tariff.fixed_charge_per_day = {0.1, 0.2, 0.3, 0.4};
    LocalPopulationEvaluator ev(scenario, 1);
    auto market = *MarketClearing::Create(scenario, ev.kernel().shapes(), ev.kernel().days());
    inner = *SolveMeanField(ev, *market, tariff, scenario.inner, nullptr);
  }
};

// The objective's terms are computed from the stats independently of the
// report; both must agree.
TEST(ObjectiveTest, PoolTermsAgreeWithTheReport) {
  const Solved s;
  const EquilibriumReport r = MakeReport(s.scenario, s.tariff, s.inner, {}, "x");
  const ObjectiveTerms t = PoolObjective(s.scenario, s.tariff, s.inner, {});
  ASSERT_EQ(t.eei.size(), r.groups.size());
  for (size_t g = 0; g < t.eei.size(); ++g) EXPECT_NEAR(t.eei[g], r.groups[g].eei, 1e-12);
  EXPECT_NEAR(t.eei_spread, r.eei_spread, 1e-12);
  EXPECT_NEAR(t.recovery_gap, 1.0 - r.cost_recovery_ratio, 1e-12);
  // Default weights: J = -spread - max(gap, 0)^2.
  const double gap = std::max(t.recovery_gap, 0.0);
  EXPECT_DOUBLE_EQ(t.objective, -t.eei_spread - gap * gap);
}

TEST(ObjectiveTest, WeightsSelectTerms) {
  const Solved s;
  ObjectiveWeights w;
  w.equity = 0;
  w.revenue = 0;
  w.volatility = 2;
  w.cost = 0.5;
  const ObjectiveTerms t = PoolObjective(s.scenario, s.tariff, s.inner, w);
  EXPECT_GT(t.lmp_std, 0);
  EXPECT_GT(t.generation_cost_per_mwh, 0);
  EXPECT_DOUBLE_EQ(t.objective, -2 * t.lmp_std - 0.5 * t.generation_cost_per_mwh);
  w.spread_is_std_dev = true;
  w.equity = 1;
  const ObjectiveTerms std_terms = PoolObjective(s.scenario, s.tariff, s.inner, w);
  EXPECT_LT(std_terms.eei_spread, t.eei_spread);  // a std is below the range
}

// EEI is linear in spending, so the mean of the daily EEIs is the pool EEI.
TEST(ObjectiveTest, DailyEeiAveragesToThePool) {
  const Solved s;
  const ObjectiveTerms pool = PoolObjective(s.scenario, s.tariff, s.inner, {});
  const std::vector<ObjectiveTerms> days = DailyObjectives(s.scenario, s.tariff, s.inner, {});
  ASSERT_EQ(days.size(), 3u);
  for (size_t g = 0; g < pool.eei.size(); ++g) {
    double mean = 0;
    for (const ObjectiveTerms& d : days) mean += d.eei[g] / days.size();
    EXPECT_NEAR(mean, pool.eei[g], 1e-12);
  }
}

}  // namespace
}  // namespace smfg::env
