// Population, market clearing and the inner mean-field fixed point on a small
// three-bus scenario.
#include "environment/equilibrium.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "common/status_matchers.h"
#include "environment/baselines.h"
#include "environment/household_solver.h"
#include "environment/market.h"
#include "environment/objective.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

struct Fixture {
  explicit Fixture(const Scenario& s, int threads = 1) : scenario(s), evaluator(s, threads) {
    market = *MarketClearing::Create(s, evaluator.kernel().shapes(), evaluator.kernel().days());
  }
  Scenario scenario;
  LocalPopulationEvaluator evaluator;
  std::unique_ptr<MarketClearing> market;
};

TEST(PopulationTest, DeterministicAndSeedDependent) {
  const Scenario s = MakeTestScenario(30, 2);
  const Population a = BuildPopulation(s), b = BuildPopulation(s);
  EXPECT_EQ(a.annual_income_usd, b.annual_income_usd);
  EXPECT_EQ(a.der_type, b.der_type);
  Scenario other = s;
  other.seed = s.seed + 1;
  EXPECT_NE(BuildPopulation(other).annual_income_usd, a.annual_income_usd);
}

TEST(PopulationTest, ParametersFollowClassDistributions) {
  const Scenario s = MakeTestScenario(2000, 1);
  const Population p = BuildPopulation(s);
  ASSERT_EQ(p.size(), 4 * 3 * 2000);
  int high = 0, high_battery = 0, very_low_with_der = 0;
  double high_income = 0;
  for (int i = 0; i < p.size(); ++i) {
    if (p.class_index[i] == 0 && p.der_type[i] != 0) ++very_low_with_der;
    if (p.class_index[i] != 3) continue;
    ++high;
    high_income += p.annual_income_usd[i];
    if (p.der_type[i] == static_cast<uint8_t>(DerType::kSolarBattery)) {
      ++high_battery;
      EXPECT_GE(p.battery_kwh[i], 9.3);
      EXPECT_LT(p.battery_kwh[i], 13.5);
    } else {
      EXPECT_EQ(p.battery_kwh[i], 0.0);
    }
  }
  EXPECT_EQ(very_low_with_der, 0);
  EXPECT_NEAR(high_battery / static_cast<double>(high), 0.20, 0.02);
  EXPECT_NEAR(high_income / high, 150000, 150000 * 0.03);
}

TEST(PopulationTest, ShardsPartitionHouseholds) {
  std::vector<int> seen(103, 0);
  for (int s = 0; s < 8; ++s) {
    for (int i : ShardMembers(103, 8, s)) ++seen[i];
  }
  for (int c : seen) EXPECT_EQ(c, 1);
}

TEST(MarketTest, HouseholdLoadIsScaledIntoBusLoad) {
  Fixture f(MakeTestScenario(10, 1));
  PopulationStats st = PopulationStats::Zero(1, 3, 4, 4);
  st.NetLoad(0, 12, 2) = 1000.0;  // 1 MW of simulated household load at bus 3
  const ClearingResult r = *f.market->Clear(st);
  const double expected = ExogenousLoadMw(f.scenario, f.evaluator.kernel().shapes(),
                                          f.evaluator.kernel().days()[0], 2, 12) +
                          f.scenario.households_represented * 1.0;
  EXPECT_DOUBLE_EQ(r.bus_load_mw[(0 * 24 + 12) * 3 + 2], expected);
}

TEST(EquilibriumTest, InnerFixedPointConvergesAndIsUnexploitable) {
  Fixture f(MakeTestScenario(12, 3));
  const Tariff t = FlatTestTariff(f.scenario, 0.15);
  const InnerResult r = *SolveMeanField(f.evaluator, *f.market, t, f.scenario.inner, nullptr);
  EXPECT_TRUE(r.converged);
  EXPECT_LT(r.residual, 1e-6);
  // Beliefs and realised prices agree to the tolerance.
  for (size_t i = 0; i < r.belief.lmp_per_mwh.size(); ++i) {
    ASSERT_NEAR(r.belief.lmp_per_mwh[i], r.clearing.lmp.lmp_per_mwh[i], 1e-6);
  }
  const ExploitabilityStats e = *f.evaluator.Exploitability(t, r.belief, r.clearing.lmp);
  EXPECT_GT(e.household_days, 0);
  EXPECT_LT(e.max_regularised, 1e-6);
  // Without the entropy term the softmax policy leaves something on the table,
  // bounded by tau log|A| (1 - gamma^24) / (1 - gamma) per day.
  const FollowerParams& fp = f.scenario.follower;
  const double bound = fp.temperature_usd * std::log(2 * fp.max_soc_steps_per_hour + 1) *
                       (1 - std::pow(fp.discount_per_hour, 24)) / (1 - fp.discount_per_hour);
  EXPECT_GT(e.max_plain, 0.0);
  EXPECT_LE(e.max_plain, bound);
}

TEST(EquilibriumTest, ResultsDoNotDependOnThreads) {
  const Scenario s = MakeTestScenario(8, 2);
  const Tariff t = FlatTestTariff(s, 0.15);
  Fixture one(s, 1), two(s, 2);
  const InnerResult a = *SolveMeanField(one.evaluator, *one.market, t, s.inner, nullptr);
  const InnerResult b = *SolveMeanField(two.evaluator, *two.market, t, s.inner, nullptr);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.stats.net_load_kw, b.stats.net_load_kw);  // bit-identical
  EXPECT_EQ(a.clearing.lmp.lmp_per_mwh, b.clearing.lmp.lmp_per_mwh);
  EXPECT_EQ(FormatReportJson(MakeReport(s, t, a, {}, "x")),
            FormatReportJson(MakeReport(s, t, b, {}, "x")));
}

TEST(EquilibriumTest, ExploitabilityIsDeterministic) {
  const Scenario s = MakeTestScenario(8, 2);
  const Tariff t = FlatTestTariff(s, 0.15);
  Fixture one(s, 1), two(s, 2);
  const InnerResult r = *SolveMeanField(one.evaluator, *one.market, t, s.inner, nullptr);
  // `one` just evaluated r.belief: its shards replay the cached belief
  // policies. `two` never evaluated anything: it solves them. Same bits.
  // (Shards without battery households have no belief problem to replay.)
  const ExploitabilityStats a = *one.evaluator.Exploitability(t, r.belief, r.clearing.lmp);
  const int64_t hits = one.evaluator.kernel().policy_cache_hits();
  EXPECT_GT(hits, 0);
  const ExploitabilityStats b = *two.evaluator.Exploitability(t, r.belief, r.clearing.lmp);
  EXPECT_EQ(two.evaluator.kernel().policy_cache_hits(), 0);
  const ExploitabilityStats c = *one.evaluator.Exploitability(t, r.belief, r.clearing.lmp);
  // A belief other than the last evaluation's, one bit apart, misses.
  PriceBelief other = r.belief;
  other.lmp_per_mwh[0] = std::nextafter(other.lmp_per_mwh[0], 1e9);
  const ExploitabilityStats d = *one.evaluator.Exploitability(t, other, r.clearing.lmp);
  EXPECT_EQ(one.evaluator.kernel().policy_cache_hits(), 2 * hits);
  const ExploitabilityStats e = *two.evaluator.Exploitability(t, other, r.clearing.lmp);
  EXPECT_GT(a.household_days, 0);
  for (const auto& [x, y] : {std::pair{&a, &b}, {&a, &c}, {&d, &e}}) {
    EXPECT_EQ(x->household_days, y->household_days);
    EXPECT_EQ(x->sum_regularised, y->sum_regularised);
    EXPECT_EQ(x->max_regularised, y->max_regularised);
    EXPECT_EQ(x->sum_plain, y->sum_plain);
    EXPECT_EQ(x->max_plain, y->max_plain);
  }
}

TEST(EquilibriumTest, WarmStartFromEquilibriumStopsAtOnce) {
  Fixture f(MakeTestScenario(6, 2));
  const Tariff t = FlatTestTariff(f.scenario, 0.15);
  const InnerResult r = *SolveMeanField(f.evaluator, *f.market, t, f.scenario.inner, nullptr);
  const InnerResult again = *SolveMeanField(f.evaluator, *f.market, t, f.scenario.inner, &r.belief);
  EXPECT_EQ(again.iterations, 1);
}

// One step of the map: the clearing of the response to m and max |C - m|,
// the same bits as the first iteration of the loop from m.
TEST(EquilibriumTest, RespondAndClearIsOneIterationOfTheLoop) {
  Fixture f(MakeTestScenario(6, 2));
  const Tariff t = FlatTestTariff(f.scenario, 0.15);
  const PriceBelief m = PriceBelief::Constant(f.scenario.days, 3, 30.0);
  const absl::StatusOr<MeanFieldResponse> step = RespondAndClear(f.evaluator, *f.market, t, m);
  ASSERT_THAT(step.status(), IsOk());
  double residual = 0;
  const std::vector<double>& c = step->clearing.lmp.lmp_per_mwh;
  ASSERT_EQ(c.size(), m.lmp_per_mwh.size());
  for (size_t i = 0; i < c.size(); ++i) {
    residual = std::max(residual, std::fabs(c[i] - 30.0));
  }
  EXPECT_EQ(step->residual, residual);
  EXPECT_GT(step->residual, 0.0);
  InnerLoopParams one = f.scenario.inner;
  one.max_iterations = 1;
  const InnerResult loop = *SolveMeanField(f.evaluator, *f.market, t, one, &m);
  EXPECT_EQ(loop.residual, step->residual);
  EXPECT_EQ(loop.clearing.lmp.lmp_per_mwh, c);
  EXPECT_EQ(loop.stats.household_days, step->stats.household_days);
}

// A population whose net load falls steeply as believed prices rise: the
// undamped price map overshoots (slope well below -1), so the loop must halve
// its damping to converge.
class SteepFakeEvaluator final : public PopulationEvaluator {
 public:
  // kW of net load per $/MWh of believed price, per bus, and the price at which
  // it falls to zero.
  // Capped so the system never runs out of capacity (a VOLL price jump).
  static constexpr double kGain = 13000.0, kKnee = 28.0, kCap = 20000.0;
  explicit SteepFakeEvaluator(const Scenario& s) : s_(s) {}
  absl::StatusOr<PopulationStats> Evaluate(const Tariff&, const PriceBelief& belief) override {
    ++calls;
    PopulationStats st = PopulationStats::Zero(s_.days, 3, 4, 4);
    for (int d = 0; d < s_.days; ++d) {
      for (int h = 0; h < 24; ++h) {
        for (int b = 0; b < 3; ++b) {
          st.NetLoad(d, h, b) = std::clamp(kGain * (kKnee - belief.At(d, h, b)), 0.0, kCap);
        }
      }
    }
    return st;
  }
  absl::StatusOr<ExploitabilityStats> Exploitability(const Tariff&, const PriceBelief&,
                                                     const PriceBelief&) override {
    return ExploitabilityStats{};
  }
  int calls = 0;

 private:
  Scenario s_;
};

TEST(EquilibriumTest, OscillatingMapIsTamedByDampingReductions) {
  Scenario s = MakeTestScenario(10, 1);
  s.households_represented = 1.0;
  Fixture f(s);
  SteepFakeEvaluator fake(s);
  InnerLoopParams p = s.inner;
  p.damping = 1.0;
  const absl::StatusOr<InnerResult> solved =
      SolveMeanField(fake, *f.market, FlatTestTariff(s, 0.1), p, nullptr);
  ASSERT_TRUE(solved.ok()) << solved.status();
  const InnerResult& r = *solved;
  EXPECT_TRUE(r.converged) << r.residual;
  EXPECT_GT(r.damping_reductions, 0);
  EXPECT_LT(r.final_damping, 1.0);
  EXPECT_EQ(fake.calls, r.iterations);
}

// A population that answers every belief with one of two loads in turn: the
// cleared prices cycle, as at an LMP jump, and no damping can settle them.
class CyclingFakeEvaluator final : public PopulationEvaluator {
 public:
  explicit CyclingFakeEvaluator(const Scenario& s) : s_(s) {}
  absl::StatusOr<PopulationStats> Evaluate(const Tariff&, const PriceBelief&) override {
    PopulationStats st = PopulationStats::Zero(s_.days, 3, 4, 4);
    const double kw = calls++ % 2 == 0 ? 1000.0 : 20000.0;
    for (int d = 0; d < s_.days; ++d) {
      for (int h = 0; h < 24; ++h) {
        for (int b = 0; b < 3; ++b) st.NetLoad(d, h, b) = kw;
      }
    }
    return st;
  }
  absl::StatusOr<ExploitabilityStats> Exploitability(const Tariff&, const PriceBelief&,
                                                     const PriceBelief&) override {
    return ExploitabilityStats{};
  }
  int calls = 0;

 private:
  Scenario s_;
};

TEST(EquilibriumTest, ACycleStopsAsStalledAfterStallIterations) {
  Scenario s = MakeTestScenario(10, 1);
  s.households_represented = 1.0;
  Fixture f(s);
  InnerLoopParams p = s.inner;
  p.stall_iterations = 10;
  CyclingFakeEvaluator fake(s);
  const absl::StatusOr<InnerResult> r =
      SolveMeanField(fake, *f.market, FlatTestTariff(s, 0.1), p, nullptr);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_FALSE(r->converged);
  EXPECT_TRUE(r->stalled);
  EXPECT_LT(r->iterations, p.max_iterations);
  ASSERT_GT(r->iterations, p.stall_iterations);
  // The rule: the last 10 residuals never reached half the best before them.
  const std::vector<double>& h = r->residual_history;
  const double before = *std::min_element(h.begin(), h.end() - 10);
  EXPECT_GE(*std::min_element(h.end() - 10, h.end()), 0.5 * before);
  // ... and one iteration earlier it had not yet held (the first stop).
  if (h.size() > 11) {
    const double before_prev = *std::min_element(h.begin(), h.end() - 11);
    EXPECT_LT(*std::min_element(h.end() - 11, h.end() - 1), 0.5 * before_prev);
  }
  EXPECT_THAT(FormatReportText(MakeReport(s, FlatTestTariff(s, 0.1), *r, {}, "cycle")),
              HasSubstr("NOT converged: stalled"));

  // 0 turns the rule off: the loop runs to its cap.
  p.stall_iterations = 0;
  p.max_iterations = 60;
  CyclingFakeEvaluator again(s);
  const absl::StatusOr<InnerResult> capped =
      SolveMeanField(again, *f.market, FlatTestTariff(s, 0.1), p, nullptr);
  ASSERT_THAT(capped.status(), IsOk());
  EXPECT_FALSE(capped->stalled);
  EXPECT_EQ(capped->iterations, 60);

  // A converging run never stalls.
  InnerLoopParams normal = s.inner;
  normal.stall_iterations = 3;
  const absl::StatusOr<InnerResult> ok =
      SolveMeanField(f.evaluator, *f.market, FlatTestTariff(s, 0.15), normal, nullptr);
  ASSERT_THAT(ok.status(), IsOk());
  EXPECT_TRUE(ok->converged);
  EXPECT_FALSE(ok->stalled);
}

TEST(TariffTest, DailyRatesAndChargesOverrideTheStaticOnes) {
  const Scenario s = MakeTestScenario(4, 2);
  Tariff t = FlatTestTariff(s, 0.10);
  t.daily_import_rate_per_kwh = {std::vector<double>(24, 0.20), std::vector<double>(24, 0.30)};
  t.daily_fixed_charge_per_day = {{1, 2, 3, 4}, {3, 4, 5, 6}};
  ASSERT_TRUE(ValidateTariff(t, s).ok());
  double rate[24], credit[24];
  HouseholdPrices(t, PriceBelief::Constant(2, 3, 40.0), 2, 1, rate, credit);
  EXPECT_EQ(rate[5], 0.30);
  EXPECT_DOUBLE_EQ(credit[5], 0.04);
  EXPECT_EQ(t.FixedCharge(1, 1), 4);
  EXPECT_EQ(t.MeanFixedCharge(3, 2), 5);
  // Very-low-income consumers pay rate x demand: day 1's bills at 0.30 $/kWh
  // equal 1.5x what the same demand would cost at 0.20.
  Fixture f(s);
  const PopulationStats st = *f.evaluator.Evaluate(t, PriceBelief::Constant(2, 3, 40.0));
  Tariff day0_rates_on_both = t;
  day0_rates_on_both.daily_import_rate_per_kwh[1] = t.daily_import_rate_per_kwh[0];
  const PopulationStats base =
      *f.evaluator.Evaluate(day0_rates_on_both, PriceBelief::Constant(2, 3, 40.0));
  EXPECT_NEAR(st.group_bill_by_day[1 * 4 + 0], 1.5 * base.group_bill_by_day[1 * 4 + 0], 1e-9);
  EXPECT_EQ(st.group_bill_by_day[0], base.group_bill_by_day[0]);

  t.daily_import_rate_per_kwh.pop_back();
  const absl::Status bad = ValidateTariff(t, s);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("daily_import_rate_per_kwh: has 1 rows, expected 2")));

  // Nodal daily rates: one row per bus and day, day-major.
  Tariff nodal = FlatTestTariff(s, 0.10);
  nodal.daily_rate_rows = 3;
  for (int d = 0; d < 2; ++d) {
    for (int b = 0; b < 3; ++b) {
      nodal.daily_import_rate_per_kwh.push_back(std::vector<double>(24, 0.1 * (d + 1) + 0.01 * b));
    }
  }
  ASSERT_THAT(ValidateTariff(nodal, s), IsOk());
  EXPECT_EQ(nodal.Rates(2, 1)[7], 0.22);
  EXPECT_EQ(nodal.Rates(0, 0)[7], 0.1);
  nodal.daily_rate_rows = 2;
  EXPECT_THAT(ValidateTariff(nodal, s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("daily_rate_rows")));
}

TEST(BaselinesTest, TouShapeBlocks) {
  const RateShape s = TouShape({});
  EXPECT_EQ(s[3], 0.7);
  EXPECT_EQ(s[10], 1.0);
  EXPECT_EQ(s[18], 1.6);
  EXPECT_EQ(s[22], 0.7);
}

TEST(BaselinesTest, FlatTariffRecoversCost) {
  Fixture f(MakeTestScenario(6, 2));
  EvaluateOptions o;
  o.measure_exploitability = false;
  const Evaluation e =
      *EvaluateCostRecovering(f.evaluator, *f.market, f.scenario, FlatTestTariff(f.scenario, 0.1),
                              FlatShape(), "flat", o, 6);
  EXPECT_NEAR(e.report.cost_recovery_ratio, 1.0, 1e-4);
  const double rate = e.tariff.import_rate_per_kwh[0][0];
  for (double r : e.tariff.import_rate_per_kwh[0]) EXPECT_EQ(r, rate);
}

TEST(BaselinesTest, TouGridSearchPicksTheBestCandidate) {
  Fixture f(MakeTestScenario(5, 2));
  EvaluateOptions o;
  o.measure_exploitability = false;
  const TouSearchResult r =
      *SearchTouGrid(f.evaluator, *f.market, f.scenario, FlatTestTariff(f.scenario, 0.1),
                     ObjectiveWeights{}, {0.5, 0.9}, {1.2, 2.0}, o);
  ASSERT_EQ(r.candidates.size(), 4u);
  const double best = PoolObjective(f.scenario, r.best.tariff, r.best.inner, {}).objective;
  for (const TouCandidate& c : r.candidates) EXPECT_LE(c.terms.objective, best + 1e-12);
  EXPECT_NEAR(r.best.report.cost_recovery_ratio, 1.0, 1e-4);
  const RateShape shape = TouShape(r.best_blocks);
  EXPECT_NEAR(r.best.tariff.import_rate_per_kwh[0][18] / r.best.tariff.import_rate_per_kwh[0][3],
              shape[18] / shape[3], 1e-12);
}

TEST(BaselinesTest, StorageShiftsLoadUnderTou) {
  Scenario s = MakeTestScenario(10, 2);
  Fixture smart(s);
  s.follower.myopic = true;
  Fixture myopic(s);
  const Tariff t = ShapedTariff(FlatTestTariff(s, 0), TouShape({}), 0.15);
  const InnerResult a = *SolveMeanField(smart.evaluator, *smart.market, t, s.inner, nullptr);
  const InnerResult b = *SolveMeanField(myopic.evaluator, *myopic.market, t, s.inner, nullptr);
  const EquilibriumReport ra = MakeReport(s, t, a, {}, "smart");
  const EquilibriumReport rb = MakeReport(s, t, b, {}, "myopic");
  // Storage owners charge off-peak/midday and discharge at the 16-22 peak, so
  // their bills fall and the household peak-hour load drops.
  double bill_smart = 0, bill_myopic = 0;
  for (int g = 0; g < 4; ++g) bill_smart += a.stats.GroupBill(g);
  for (int g = 0; g < 4; ++g) bill_myopic += b.stats.GroupBill(g);
  EXPECT_LT(bill_smart, bill_myopic);
  EXPECT_LT(ra.household_net_load_mw_by_hour[19], rb.household_net_load_mw_by_hour[19]);
  for (const BehaviourReport& r : rb.behaviour) {
    for (int h = 0; h < 24; ++h) EXPECT_EQ(r.charge_kw[h], 0.0);
  }
}

// A PolicyTableWriter that writes each day's exact softmax best response, as
// a one-lane block solves it from cold.
class BestResponseWriter final : public PolicyTableWriter {
 public:
  explicit BestResponseWriter(const FollowerParams& params) : params_(params) {}
  absl::Status WriteTables(const FollowerDay* days, int n, double* tables) const override {
    BatteryBlockSolver solver(params_, 1);
    for (int i = 0; i < n; ++i) {
      solver.SetBatteries(&days[i].battery, 1);
      const HouseholdDayInput in = days[i].Input();
      HouseholdDayOutcome out;
      solver.Solve(&in, &out, /*warm_start=*/false);
      solver.CopyPolicy(0, tables + i * solver.policy_table_size());
    }
    return absl::OkStatus();
  }

 private:
  FollowerParams params_;
};

// Uniform over every move, the infeasible ones too: refused.
class UniformWriter final : public PolicyTableWriter {
 public:
  explicit UniformWriter(size_t table_size, int moves) : size_(table_size), moves_(moves) {}
  absl::Status WriteTables(const FollowerDay*, int n, double* tables) const override {
    std::fill(tables, tables + n * size_, 1.0 / moves_);
    return absl::OkStatus();
  }

 private:
  size_t size_;
  int moves_;
};

class FailingWriter final : public PolicyTableWriter {
 public:
  absl::Status WriteTables(const FollowerDay*, int, double*) const override {
    return absl::InternalError("network on fire");
  }
};

// Households that follow the best response's own tables respond as best
// responders do (to Newton's tolerance: the shard warm-starts each day from
// the previous one, the writer solves from cold); a policy's broken table is
// an error naming household and day, as is the policy's own failure.
TEST(ShardKernelPolicyTest, BestResponseTablesReproduceTheShardAndBadTablesAreNamed) {
  const Scenario sc = MakeTestScenario(6, 2);
  const ShardKernel kernel(sc);
  const Tariff tariff = FlatTestTariff(sc, 0.15);
  const PriceBelief belief =
      PriceBelief::Constant(sc.days, static_cast<int>(sc.network.buses.size()), 35.0);
  PriceBelief realised = belief;
  for (double& v : realised.lmp_per_mwh) v *= 1.3;
  const BestResponseWriter writer(sc.follower);
  int with_batteries = 0;
  for (int shard = 0; shard < sc.shards; ++shard) {
    const PopulationStats want = kernel.EvaluateShard(shard, tariff, belief);
    absl::StatusOr<PopulationStats> got = kernel.EvaluateShard(shard, tariff, belief, writer);
    ASSERT_THAT(got, IsOk());
    with_batteries += want.battery_household_days > 0 ? 1 : 0;
    ASSERT_EQ(got->net_load_kw.size(), want.net_load_kw.size());
    for (size_t k = 0; k < want.net_load_kw.size(); ++k) {
      EXPECT_NEAR(got->net_load_kw[k], want.net_load_kw[k], 1e-8) << "shard " << shard;
    }
    for (size_t k = 0; k < want.group_bill_by_day.size(); ++k) {
      EXPECT_NEAR(got->group_bill_by_day[k], want.group_bill_by_day[k], 1e-8);
    }
    EXPECT_EQ(got->household_days, want.household_days);
    EXPECT_EQ(got->policy_iterations, 0);
    const ExploitabilityStats exact = kernel.ShardExploitability(shard, tariff, belief, realised);
    absl::StatusOr<ExploitabilityStats> followed =
        kernel.ShardPolicyExploitability(shard, tariff, belief, realised, writer);
    ASSERT_THAT(followed, IsOk());
    EXPECT_EQ(followed->household_days, exact.household_days);
    EXPECT_NEAR(followed->sum_plain, exact.sum_plain, 1e-8);
    EXPECT_NEAR(followed->sum_regularised, exact.sum_regularised, 1e-8);
  }
  EXPECT_GT(with_batteries, 0);

  const int moves = 2 * sc.follower.max_soc_steps_per_hour + 1;
  const UniformWriter uniform(24 * sc.follower.soc_levels * moves, moves);
  int refused = 0;
  for (int shard = 0; shard < sc.shards; ++shard) {
    if (kernel.FollowerDays(shard, tariff, belief).empty()) continue;
    EXPECT_THAT(kernel.EvaluateShard(shard, tariff, belief, uniform),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         testing::AllOf(HasSubstr("household"), HasSubstr("on day 0"),
                                        HasSubstr("off the SoC grid"))));
    EXPECT_THAT(kernel.ShardPolicyExploitability(shard, tariff, belief, realised, FailingWriter()),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("network on fire")));
    ++refused;
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace smfg::env
