// Throughput of the follower kernel: exact softmax best response + stationary
// distribution + expected outcomes, per household-day, on one core.
//   build/bench/population_bench
//   SMFG_KERNEL_ISA=avx2 build/bench/population_bench   # narrow the shard's ISA
// BM_BatteryHouseholdDay: one household at a time, cold (the one-lane API);
// BM_BatteryBlock: blocks of 8 warm-started from the previous day, per
// instruction set (docs/PERFORMANCE.md); BM_FollowPolicyTables: blocks of 8
// following given policies (outcomes, or exploitability); BM_SampleDay: days
// sampled from policy tables (a learner's rollouts); BM_ShardDefaultMix: a
// whole shard.
// Reports household-days/s and household-hours/s (x24) per core, separately for
// storage owners (the expensive decision problem), and for a whole shard of the
// default class mix.
#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/rng.h"
#include "environment/household_solver.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"

namespace smfg::env {
namespace {

void SetRates(benchmark::State& state, double household_days) {
  state.counters["household_days_per_s"] =
      benchmark::Counter(household_days, benchmark::Counter::kIsRate);
  state.counters["household_hours_per_s"] =
      benchmark::Counter(household_days * kHoursPerDay, benchmark::Counter::kIsRate);
}

// One battery household-day at a time, with varied prices so that no two solves
// are alike.
void BM_BatteryHouseholdDay(benchmark::State& state) {
  FollowerParams p;
  p.soc_levels = static_cast<int>(state.range(0));
  p.max_soc_steps_per_hour = static_cast<int>(state.range(1));
  HouseholdSolver solver(p);
  std::vector<std::vector<double>> demand(64), pv(64), rate(64), credit(64);
  CounterRng rng(1, RngPurpose::kTest, 0);
  for (int k = 0; k < 64; ++k) {
    for (int h = 0; h < kHoursPerDay; ++h) {
      demand[k].push_back(rng.Uniform(0.3, 2.0));
      pv[k].push_back(h > 6 && h < 19 ? rng.Uniform(0, 4) : 0);
      rate[k].push_back(rng.Uniform(0.08, 0.4));
      credit[k].push_back(rng.Uniform(0.0, 0.06));
    }
  }
  HouseholdDayOutcome out;
  long n = 0;
  for (auto _ : state) {
    const int k = n % 64;
    solver.Solve({demand[k].data(), pv[k].data(), rate[k].data(), credit[k].data()},
                 {13.5, 5.0, 0.95, 0.95}, &out);
    benchmark::DoNotOptimize(out.energy_bill_usd);
    ++n;
  }
  SetRates(state, static_cast<double>(n));
}
BENCHMARK(BM_BatteryHouseholdDay)->Args({11, 3})->Args({21, 5})->Args({6, 2});

// 64 days of a block of 8 battery households (a flat 0.15 $/kWh rate, credits
// near the default LMPs), day d's inputs at inputs[d * kLanes].
struct BlockDays {
  static constexpr int kDays = 64, kLanes = BatteryBlockSolver::kMaxLanes;
  std::vector<std::vector<double>> demand, pv, rate, credit;
  std::vector<BatterySpec> batteries;
  std::vector<HouseholdDayInput> inputs;
  BlockDays()
      : demand(kDays * kLanes), pv(kDays * kLanes), rate(kDays * kLanes), credit(kDays * kLanes) {
    CounterRng rng(1, RngPurpose::kTest, 0);
    for (int k = 0; k < kDays * kLanes; ++k) {
      for (int h = 0; h < kHoursPerDay; ++h) {
        demand[k].push_back(rng.Uniform(0.3, 2.0));
        pv[k].push_back(h > 6 && h < 19 ? rng.Uniform(0, 4) : 0);
        rate[k].push_back(0.15);
        credit[k].push_back(rng.Uniform(0.018, 0.03));
      }
      inputs.push_back({demand[k].data(), pv[k].data(), rate[k].data(), credit[k].data()});
    }
    for (int l = 0; l < kLanes; ++l) batteries.push_back({9.3 + 0.5 * l, 5.0, 0.95, 0.95});
  }
  // The best responses of the 64 days as policy tables (lane l of day d at
  // (d * kLanes + l) * policy_table_size()), solved with `solver` (its batteries
  // set to these), warm-started day to day as in a shard.
  std::vector<double> BestResponseTables(BatteryBlockSolver* solver) const {
    const size_t table = solver->policy_table_size();
    std::vector<double> tables(kDays * kLanes * table);
    HouseholdDayOutcome out[kLanes];
    for (int d = 0; d < kDays; ++d) {
      solver->Solve(&inputs[d * kLanes], out, /*warm_start=*/d > 0);
      for (int l = 0; l < kLanes; ++l) solver->CopyPolicy(l, &tables[(d * kLanes + l) * table]);
    }
    return tables;
  }
};

// Blocks of 8 battery households solved together (SIMD across households),
// each lane warm-started from its previous day as in a shard; args: S, K, ISA.
void BM_BatteryBlock(benchmark::State& state) {
  FollowerParams p;
  p.soc_levels = static_cast<int>(state.range(0));
  p.max_soc_steps_per_hour = static_cast<int>(state.range(1));
  const auto isa = static_cast<KernelIsa>(state.range(2));
  if (!KernelIsaSupported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return;
  }
  state.SetLabel(KernelIsaName(isa));
  BatteryBlockSolver solver(p, BatteryBlockSolver::kMaxLanes, isa);
  constexpr int kDays = BlockDays::kDays, kLanes = BlockDays::kLanes;
  const BlockDays days;
  solver.SetBatteries(days.batteries.data(), kLanes);
  HouseholdDayOutcome out[kLanes];
  long n = 0;
  double iterations = 0, group_max = 0;
  // A vector register of `width` lanes runs until its slowest lane has
  // converged (converged lanes are frozen): the sweeps it pays are width times
  // its lanes' maximum.
  const int width = isa == KernelIsa::kAvx512 ? 8 : isa == KernelIsa::kAvx2 ? 4 : 2;
  for (auto _ : state) {
    const int d = n % kDays;
    solver.Solve(&days.inputs[d * kLanes], out, /*warm_start=*/n > 0);
    for (int l = 0; l < kLanes; ++l) iterations += out[l].policy_iterations;
    for (int g = 0; g < kLanes; g += width) {
      int m = 0;
      for (int l = g; l < g + width; ++l) m = std::max(m, out[l].policy_iterations);
      group_max += static_cast<double>(m) * width;
    }
    benchmark::DoNotOptimize(out[0].energy_bill_usd);
    ++n;
  }
  SetRates(state, static_cast<double>(n) * kLanes);
  state.counters["sweeps_per_household_day"] = iterations / (static_cast<double>(n) * kLanes);
  // Share of the sweeps paid that a lane needed (1 = no lane waits for another).
  state.counters["lane_utilisation"] = iterations / group_max;
}
BENCHMARK(BM_BatteryBlock)
    ->Args({11, 3, static_cast<int>(KernelIsa::kBaseline)})
    ->Args({11, 3, static_cast<int>(KernelIsa::kAvx2)})
    ->Args({11, 3, static_cast<int>(KernelIsa::kAvx512)})
    ->Args({21, 5, static_cast<int>(KernelIsa::kAvx512)})
    ->Args({6, 2, static_cast<int>(KernelIsa::kAvx512)});

// Households following given policy tables (learning followers, issue 11):
// blocks of 8 on the default grid, per instruction set, the tables being the
// best responses of 64 days (made before timing). Arg 1 = 0: Follow (outcomes);
// 1: MeasurePolicyExploitability (gain against the exact best responses).
void BM_FollowPolicyTables(benchmark::State& state) {
  const auto isa = static_cast<KernelIsa>(state.range(0));
  const bool exploitability = state.range(1) == 1;
  if (!KernelIsaSupported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return;
  }
  state.SetLabel(std::string(KernelIsaName(isa)) +
                 (exploitability ? " exploitability" : " follow"));
  const FollowerParams p;
  BatteryBlockSolver solver(p, BatteryBlockSolver::kMaxLanes, isa);
  constexpr int kDays = BlockDays::kDays, kLanes = BlockDays::kLanes;
  const BlockDays days;
  solver.SetBatteries(days.batteries.data(), kLanes);
  const size_t table = solver.policy_table_size();
  const std::vector<double> tables = days.BestResponseTables(&solver);
  const std::vector<HouseholdDayInput>& in = days.inputs;
  HouseholdDayOutcome out[kLanes];
  Exploitability gains[kLanes];
  long n = 0;
  for (auto _ : state) {
    const int d = n % kDays;
    if (exploitability) {
      solver.MeasurePolicyExploitability(&tables[d * kLanes * table], &in[d * kLanes], gains);
      benchmark::DoNotOptimize(gains[0].plain);
    } else {
      solver.Follow(&tables[d * kLanes * table], &in[d * kLanes], out);
      benchmark::DoNotOptimize(out[0].energy_bill_usd);
    }
    ++n;
  }
  SetRates(state, static_cast<double>(n) * kLanes);
}
BENCHMARK(BM_FollowPolicyTables)
    ->Args({static_cast<int>(KernelIsa::kAvx2), 0})
    ->Args({static_cast<int>(KernelIsa::kAvx2), 1})
    ->Args({static_cast<int>(KernelIsa::kAvx512), 0})
    ->Args({static_cast<int>(KernelIsa::kAvx512), 1});

// Days sampled from policy tables (SampleDay: a learner's rollouts, issue 11),
// one household at a time on the default grid, the tables being the best
// responses of 64 block days (made before timing), each day started from the
// SoC level the previous one ended at.
void BM_SampleDay(benchmark::State& state) {
  const FollowerParams p;
  BatteryBlockSolver solver(p);
  constexpr int kDays = BlockDays::kDays, kLanes = BlockDays::kLanes;
  const BlockDays days;
  solver.SetBatteries(days.batteries.data(), kLanes);
  const size_t table = solver.policy_table_size();
  const std::vector<double> tables = days.BestResponseTables(&solver);
  CounterRng rng(3, RngPurpose::kTest, 0);
  PolicyStep steps[kHoursPerDay];
  int level = 0;
  long n = 0;
  for (auto _ : state) {
    const int k = n % (kDays * kLanes);
    const absl::StatusOr<int> end = SampleDay(p, days.batteries[k % kLanes], days.inputs[k],
                                              &tables[k * table], level, &rng, steps);
    level = *end;
    benchmark::DoNotOptimize(steps[kHoursPerDay - 1].reward_usd);
    ++n;
  }
  SetRates(state, static_cast<double>(n));
}
BENCHMARK(BM_SampleDay);

// A whole shard of the default class mix (consumers, solar, solar+battery).
void BM_ShardDefaultMix(benchmark::State& state) {
  const Scenario s = MakeTestScenario(200, 10);
  const ShardKernel kernel(s);
  const Tariff t = FlatTestTariff(s, 0.15);
  const PriceBelief belief = PriceBelief::Constant(s.days, 3, 40.0);
  double household_days = 0, battery_days = 0;
  for (auto _ : state) {
    const PopulationStats st = kernel.EvaluateShard(0, t, belief);
    household_days += st.household_days;
    battery_days += st.battery_household_days;
    benchmark::DoNotOptimize(st.net_load_kw.data());
  }
  SetRates(state, household_days);
  state.counters["battery_household_days"] = battery_days / state.iterations();
}
BENCHMARK(BM_ShardDefaultMix)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace smfg::env

BENCHMARK_MAIN();
