// The default experiment's market at full scale (issue 12): configs/three_bus.textproto,
// 24,000 households, 100 days. Every day-hour is cleared at the followers'
// loads under the flat and TOU baseline tariffs (each to its mean-field
// equilibrium, so every inner iteration's clearing counts) and under random
// per-day tariffs with random price beliefs, as a leader's rollouts produce.
// No hour may fail; fallbacks and clamped answers are printed.
//
// Labelled `long` (minutes on 2 cores; excluded from scripts/test unless
// SMFG_LONG_TESTS=1): ctest -L long --output-on-failure
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/rng.h"
#include "config/spec_loader.h"
#include "environment/baselines.h"
#include "environment/equilibrium.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST(MarketLongTest, DefaultExperimentClearsEveryDayHourAtFullScale) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<config::LoadedSpec> loaded =
      config::LoadExperimentFile(SMFG_SOURCE_DIR "/configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const env::Scenario& sc = loaded->scenario;
  ASSERT_EQ(sc.days, 100);
  env::LocalPopulationEvaluator evaluator(sc, /*threads=*/0);
  auto market =
      env::MarketClearing::Create(sc, evaluator.kernel().shapes(), evaluator.kernel().days());
  ASSERT_TRUE(market.ok()) << market.status();

  env::Tariff base;
  base.fixed_charge_per_day.assign(sc.income_groups.size(), 0.0);
  double seconds_clearing = 0.0;
  for (const auto& [label, shape] :
       {std::pair<std::string, env::RateShape>{"flat 0.15", env::FlatShape()},
        {"tou 0.15", env::TouShape({})}}) {
    const auto t0 = std::chrono::steady_clock::now();
    const absl::StatusOr<env::InnerResult> eq = env::SolveMeanField(
        evaluator, **market, env::ShapedTariff(base, shape, 0.15), sc.inner, nullptr);
    ASSERT_TRUE(eq.ok()) << label << ": " << eq.status();
    seconds_clearing += eq->seconds_clearing;
    std::printf("%s: %d inner iterations, residual %.3g $/MWh, %.1f s (clearing %.1f s)\n",
                label.c_str(), eq->iterations, eq->residual, Seconds(t0), eq->seconds_clearing);
    EXPECT_TRUE(eq->converged) << label;
  }
  // Random per-day tariffs (0.02-0.45 $/kWh by hour) and random beliefs.
  for (int t = 0; t < 3; ++t) {
    CounterRng rng(t, RngPurpose::kTest, 1200);
    env::Tariff tariff = base;
    tariff.daily_import_rate_per_kwh.assign(sc.days, std::vector<double>(env::kHoursPerDay));
    for (auto& day : tariff.daily_import_rate_per_kwh) {
      for (double& rate : day) rate = rng.Uniform(0.02, 0.45);
    }
    tariff.daily_fixed_charge_per_day.assign(sc.days, base.fixed_charge_per_day);
    env::PriceBelief belief =
        env::PriceBelief::Constant(sc.days, static_cast<int>(sc.network.buses.size()), 0.0);
    for (double& lmp : belief.lmp_per_mwh) lmp = rng.Uniform(-10.0, 120.0);
    absl::StatusOr<env::PopulationStats> stats = evaluator.Evaluate(tariff, belief);
    ASSERT_TRUE(stats.ok()) << stats.status();
    const auto t0 = std::chrono::steady_clock::now();
    const absl::StatusOr<env::ClearingResult> r = (*market)->Clear(*stats);
    ASSERT_TRUE(r.ok()) << "random tariff " << t << ": " << r.status();
    seconds_clearing += Seconds(t0);
  }
  std::printf("%s; clearing %.1f s, %.0f day-hours per s\n", (*market)->CountersSummary().c_str(),
              seconds_clearing, (*market)->counters().hours_cleared / seconds_clearing);
  std::printf("total %.1f s\n", Seconds(start));
  const env::MarketCounters& c = (*market)->counters();
  EXPECT_GE(c.hours_cleared, 5 * 100 * 24);
  RecordProperty("hours_cleared", static_cast<int>(c.hours_cleared));
  RecordProperty("fallback_hours", static_cast<int>(c.opf_fallback_hours));
  RecordProperty("clamped_hours", static_cast<int>(c.opf_clamped_hours));
}

}  // namespace
}  // namespace smfg
