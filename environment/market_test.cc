// Market clearing over every day-hour: fallbacks and clamped answers are
// counted (never silent, never an error), an hour no method solves is an error
// naming its day and hour, and random tariffs on the default network clear.
#include "environment/market.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/rng.h"
#include "environment/dcopf_testing.h"
#include "environment/equilibrium.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

using ::smfg::env::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// The test scenario with the solar farm of configs/three_bus.textproto (its
// availability table rather than test_scenario's half-sine), i.e. the default
// experiment's network.
Scenario DefaultNetworkScenario(int households_per_class_per_bus, int days) {
  Scenario s = MakeTestScenario(households_per_class_per_bus, days);
  s.network.generators[3].hourly_availability = {0,    0,    0,    0,    0,    0,    0,    0.05,
                                                 0.18, 0.35, 0.52, 0.67, 0.80, 0.90, 0.85, 0.72,
                                                 0.55, 0.36, 0.18, 0.05, 0,    0,    0,    0};
  return s;
}

struct Fixture {
  explicit Fixture(const Scenario& s) : scenario(s), evaluator(s, 1) {
    market = *MarketClearing::Create(s, evaluator.kernel().shapes(), evaluator.kernel().days());
  }
  PopulationStats Stats(const Tariff& tariff, const PriceBelief& belief) {
    return *evaluator.Evaluate(tariff, belief);
  }
  Scenario scenario;
  LocalPopulationEvaluator evaluator;
  std::unique_ptr<MarketClearing> market;
};

// Columns of the default network's DC-OPF (dcopf.h): 4 generators, then
// shedding at buses 0..2.
constexpr int kBaseload = 0;
constexpr int kShedBus0 = 4;

TEST(MarketClearingTest, CountsFallbacksAndClampedHoursAndKeepsLmps) {
  Fixture f(DefaultNetworkScenario(5, 3));
  const PopulationStats stats =
      f.Stats(FlatTestTariff(f.scenario, 0.15), PriceBelief::Constant(3, 3, 30.0));
  const ClearingResult clean = *f.market->Clear(stats);
  EXPECT_EQ(clean.opf_fallback_hours, 0);
  EXPECT_EQ(clean.hours_per_opf_method, (std::vector<int>{72, 0, 0, 0}));

  // Hour k (in clearing order) gets, in its first method's answer: k % 5 == 0,
  // a 1 MW error (beyond tolerance: the next method answers); k % 5 == 1, a
  // shedding of -1e-4 MW at bus 0 (beyond Clp's own 1e-7 * 50 MW, within ours
  // of 1e-5 * 50 MW: accepted and clamped to 0).
  int hour_index = -1;
  f.market->opf_for_testing().SetSolutionHookForTesting(
      [&](int method, absl::Span<double> columns, absl::Span<double>) {
        if (method != 0) return;
        ++hour_index;
        if (hour_index % 5 == 0) columns[kBaseload] += 1.0;
        if (hour_index % 5 == 1) columns[kShedBus0] = -1e-4;
      });
  const ClearingResult r = *f.market->Clear(stats);
  EXPECT_EQ(hour_index, 71);
  EXPECT_EQ(r.opf_fallback_hours, 15);
  EXPECT_EQ(r.hours_per_opf_method, (std::vector<int>{57, 15, 0, 0}));
  EXPECT_EQ(r.opf_clamped_hours, 15);
  EXPECT_NEAR(r.max_opf_primal_residual_mw, 1e-4, 1e-12);
  EXPECT_EQ(f.market->opf_methods()[1], "QP primal, unscaled");
  ASSERT_EQ(r.lmp.lmp_per_mwh.size(), clean.lmp.lmp_per_mwh.size());
  for (size_t k = 0; k < r.lmp.lmp_per_mwh.size(); ++k) {
    if ((k / 3) % 5 == 0) {
      // A different method: the same LMPs up to its own rounding.
      EXPECT_NEAR(r.lmp.lmp_per_mwh[k], clean.lmp.lmp_per_mwh[k], 1e-9) << k;
    } else {
      // The same method's duals: bit for bit, clamped or not.
      EXPECT_EQ(r.lmp.lmp_per_mwh[k], clean.lmp.lmp_per_mwh[k]) << k;
    }
  }
  EXPECT_EQ(r.shed_mwh, clean.shed_mwh);  // the clamped shedding reports 0
  // Counters sum over both calls.
  const MarketCounters& c = f.market->counters();
  EXPECT_EQ(c.hours_cleared, 144);
  EXPECT_EQ(c.hours_per_opf_method, (std::vector<int64_t>{129, 15, 0, 0}));
  EXPECT_EQ(c.opf_fallback_hours, 15);
  EXPECT_EQ(c.opf_clamped_hours, 15);
  EXPECT_EQ(f.market->CountersSummary(),
            "market clearing: 144 day-hours, 15 by a fallback method (QP primal: 129, QP primal, "
            "unscaled: 15, QP primal, geometric scaling: 0, QP barrier + crossover: 0), 15 "
            "clamped within tolerance");
}

TEST(MarketClearingTest, HourNoMethodSolvesIsAnErrorNamingDayHourAndMethods) {
  Fixture f(DefaultNetworkScenario(5, 3));
  const PopulationStats stats =
      f.Stats(FlatTestTariff(f.scenario, 0.15), PriceBelief::Constant(3, 3, 30.0));
  int hour_index = -1;
  f.market->opf_for_testing().SetSolutionHookForTesting(
      [&](int method, absl::Span<double> columns, absl::Span<double>) {
        if (method == 0) ++hour_index;
        if (hour_index == 24 + 5) columns[kBaseload] += 1.0;  // day 1, hour 5
      });
  const absl::StatusOr<ClearingResult> r = f.market->Clear(stats);
  EXPECT_THAT(r.status(),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("market clearing, day 1 hour 5: "),
                             HasSubstr("no method solved the DC-OPF"),
                             HasSubstr("QP primal: Clp returned a dispatch that leaves"),
                             HasSubstr("QP barrier + crossover: Clp returned a dispatch"))));
}

// Days cleared on several threads, each with its own DcOpf, reduce to the same
// bits as on one; an hour no method solves is reported as the first such hour
// in day-hour order, whichever thread met it first.
TEST(MarketClearingTest, ThreadsGiveTheSameBitsAndNameTheFirstFailingHour) {
  constexpr int kDays = 7;
  Fixture f(DefaultNetworkScenario(5, kDays));
  const PopulationStats stats =
      f.Stats(FlatTestTariff(f.scenario, 0.15), PriceBelief::Constant(kDays, 3, 30.0));
  constexpr int kThreads = 3;
  auto parallel = MarketClearing::Create(f.scenario, f.evaluator.kernel().shapes(),
                                         f.evaluator.kernel().days(), kThreads);
  ASSERT_TRUE(parallel.ok()) << parallel.status();
  ASSERT_EQ((*parallel)->threads(), kThreads);
  const ClearingResult one = *f.market->Clear(stats);
  const ClearingResult many = *(*parallel)->Clear(stats);
  EXPECT_EQ(many.lmp.lmp_per_mwh, one.lmp.lmp_per_mwh);
  EXPECT_EQ(many.bus_load_mw, one.bus_load_mw);
  EXPECT_EQ(many.generation_cost_usd, one.generation_cost_usd);
  EXPECT_EQ(many.fossil_mwh, one.fossil_mwh);
  EXPECT_EQ(many.renewable_mwh, one.renewable_mwh);
  EXPECT_EQ(many.renewable_available_mwh, one.renewable_available_mwh);
  EXPECT_EQ(many.shed_mwh, one.shed_mwh);
  EXPECT_EQ(many.congested_hours_per_line, one.congested_hours_per_line);
  EXPECT_EQ(many.peak_system_load_mw, one.peak_system_load_mw);
  EXPECT_EQ(many.peak_household_net_load_mw, one.peak_household_net_load_mw);
  EXPECT_EQ(many.hours_per_opf_method, one.hours_per_opf_method);
  EXPECT_EQ((*parallel)->counters().hours_cleared, kDays * 24);

  // Thread t clears days t, t + 3, ...: break day 1 hour 5 (thread 1) and day
  // 3 hour 2 (thread 0) for every method.
  std::vector<int> calls(kThreads, -1);
  for (int t = 0; t < kThreads; ++t) {
    (*parallel)->opf_for_testing(t).SetSolutionHookForTesting(
        [t, &calls](int method, absl::Span<double> columns, absl::Span<double>) {
          if (method == 0) ++calls[t];
          const int day = t + kThreads * (calls[t] / 24), hour = calls[t] % 24;
          if ((day == 1 && hour == 5) || (day == 3 && hour == 2)) columns[kBaseload] += 1.0;
        });
  }
  const absl::StatusOr<ClearingResult> failed = (*parallel)->Clear(stats);
  EXPECT_THAT(failed.status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("market clearing, day 1 hour 5: ")));
  EXPECT_THAT(MarketClearing::Create(f.scenario, f.evaluator.kernel().shapes(),
                                     f.evaluator.kernel().days(), /*threads=*/0)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("threads")));
}

// Random tariffs and price beliefs drive the households' net load; every
// day-hour of the default network must clear. 12 tariffs x 20 days x 24 hours.
TEST(MarketClearingTest, RandomTariffsOnDefaultNetworkNeverFail) {
  constexpr int kDays = 20;
  Fixture f(DefaultNetworkScenario(10, kDays));
  int fallbacks = 0, clamped = 0;
  for (int t = 0; t < 12; ++t) {
    SCOPED_TRACE(absl::StrCat("tariff ", t));
    CounterRng rng(t, RngPurpose::kTest, 12);
    Tariff tariff = FlatTestTariff(f.scenario, 0.0);
    for (double& rate : tariff.import_rate_per_kwh[0]) rate = rng.Uniform(0.02, 0.45);
    PriceBelief belief = PriceBelief::Constant(kDays, 3, 0.0);
    for (double& lmp : belief.lmp_per_mwh) lmp = rng.Uniform(-10.0, 120.0);
    const absl::StatusOr<ClearingResult> r = f.market->Clear(f.Stats(tariff, belief));
    ASSERT_TRUE(r.ok()) << r.status();
    for (double lmp : r->lmp.lmp_per_mwh) ASSERT_TRUE(std::isfinite(lmp));
    fallbacks += r->opf_fallback_hours;
    clamped += r->opf_clamped_hours;
  }
  // And the equilibrium under two of them, which clears every inner iteration.
  for (double rate : {0.08, 0.30}) {
    const absl::StatusOr<InnerResult> eq = SolveMeanField(
        f.evaluator, *f.market, FlatTestTariff(f.scenario, rate), f.scenario.inner, nullptr);
    ASSERT_TRUE(eq.ok()) << eq.status();
    EXPECT_TRUE(eq->converged);
  }
  EXPECT_EQ(f.market->counters().hours_cleared % (kDays * 24), 0);
  RecordProperty("fallbacks", fallbacks);
  RecordProperty("clamped", clamped);
}

}  // namespace
}  // namespace smfg::env
