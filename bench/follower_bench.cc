// Throughput of the learning followers (issue 11: "policy inference and update
// throughput per core"): the shared FollowerPolicy's tables, rollouts and PPO
// gradients on one core, and a whole PPO phase of LearningPopulationEvaluator.
//   build/bench/follower_bench
//   build/bench/follower_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// The population is MakeTestScenario(20, 4) with learner = kPpo and hidden
// sizes {H, H} (the first argument, 32 or 64); its battery household-days are
// every shard's FollowerDays at a flat 0.15 $/kWh tariff and a constant
// 30 $/MWh belief. Torch runs on one thread (the library sets it).
// BM_WriteTables: policy tables in blocks of 8 household-days, as ShardKernel
// asks for them (inference); reports household_days_per_s and table_rows_per_s
// (24 x soc_levels rows per household-day, each a softmax over 2K + 1 moves).
// BM_SampleRollouts: a phase's episodes over all the household-days; reports
// steps_per_s (sampled moves) and household_days_per_s.
// BM_Gradient: the PPO loss's gradient (forward + backward, policy and value
// networks) over a fixed set of rollouts sampled before timing; reports
// steps_per_s (training samples per second).
// BM_TrainPhase: one LearningPopulationEvaluator::TrainPhase per iteration
// (rollouts, then epochs_per_phase gradients + Adam steps) with 1 or 2
// threads (the second argument), wall time; reports phases_per_s and
// steps_per_s (steps_last_phase x epochs_per_phase per second).
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "benchmark/benchmark.h"
#include "environment/household_solver.h"
#include "environment/population_evaluator.h"
#include "environment/scenario.h"
#include "environment/test_scenario.h"
#include "followers/follower_policy.h"
#include "followers/learning_evaluator.h"

namespace smfg::followers {
namespace {

using env::FollowerDay;
using env::kHoursPerDay;

// The benches' population and prices, hidden sizes {hidden, hidden}.
struct Setup {
  env::Scenario scenario;
  env::Tariff tariff;
  env::PriceBelief belief;
  explicit Setup(int hidden) {
    scenario = env::MakeTestScenario(20, 4);
    scenario.follower.learner = env::FollowerParams::Learner::kPpo;
    scenario.follower.ppo.hidden_sizes = {hidden, hidden};
    tariff = env::FlatTestTariff(scenario, 0.15);
    belief = env::PriceBelief::Constant(scenario.days,
                                        static_cast<int>(scenario.network.buses.size()), 30.0);
  }
  // Every shard's battery household-days, in shard order.
  std::vector<FollowerDay> AllDays() const {
    const env::ShardKernel kernel(scenario);
    std::vector<FollowerDay> all;
    for (int s = 0; s < scenario.shards; ++s) {
      for (const FollowerDay& d : kernel.FollowerDays(s, tariff, belief)) all.push_back(d);
    }
    return all;
  }
};

void SetRate(benchmark::State& state, const char* name, double count) {
  state.counters[name] = benchmark::Counter(count, benchmark::Counter::kIsRate);
}

bool Fail(benchmark::State& state, const absl::Status& status) {
  if (status.ok()) return false;
  state.SkipWithError(std::string(status.message()).c_str());
  return true;
}

// A seeded policy for setup, or nullptr after SkipWithError.
std::unique_ptr<FollowerPolicy> MakePolicy(benchmark::State& state, const Setup& setup) {
  absl::StatusOr<std::unique_ptr<FollowerPolicy>> policy = FollowerPolicy::Create(setup.scenario);
  if (Fail(state, policy.status())) return nullptr;
  return std::move(*policy);
}

// Policy tables (inference), in blocks of the kernel's lane count.
void BM_WriteTables(benchmark::State& state) {
  const Setup setup(static_cast<int>(state.range(0)));
  const std::vector<FollowerDay> days = setup.AllDays();
  const std::unique_ptr<FollowerPolicy> policy = MakePolicy(state, setup);
  if (policy == nullptr) return;
  constexpr int kBlock = env::BatteryBlockSolver::kMaxLanes;
  const int blocks = static_cast<int>(days.size()) / kBlock;
  if (blocks == 0) {
    state.SkipWithError("fewer battery household-days than one block");
    return;
  }
  std::vector<double> tables(kBlock * policy->table_size());
  long n = 0;
  for (auto _ : state) {
    const absl::Status st =
        policy->WriteTables(&days[(n % blocks) * kBlock], kBlock, tables.data());
    if (Fail(state, st)) return;
    benchmark::DoNotOptimize(tables.data());
    benchmark::ClobberMemory();
    ++n;
  }
  const double household_days = static_cast<double>(n) * kBlock;
  SetRate(state, "household_days_per_s", household_days);
  SetRate(state, "table_rows_per_s",
          household_days * kHoursPerDay * setup.scenario.follower.soc_levels);
}
BENCHMARK(BM_WriteTables)->Arg(32)->Arg(64)->Unit(benchmark::kMicrosecond);

// A phase's episodes over every battery household-day.
void BM_SampleRollouts(benchmark::State& state) {
  const Setup setup(static_cast<int>(state.range(0)));
  const std::vector<FollowerDay> days = setup.AllDays();
  const std::unique_ptr<FollowerPolicy> policy = MakePolicy(state, setup);
  if (policy == nullptr) return;
  double steps = 0, household_days = 0;
  uint64_t phase = 0;
  for (auto _ : state) {
    absl::StatusOr<ShardRollouts> r = policy->SampleRollouts(days, phase++);
    if (Fail(state, r.status())) return;
    steps += static_cast<double>(r->steps());
    household_days += static_cast<double>(days.size());
    benchmark::DoNotOptimize(r->advantage.data());
  }
  SetRate(state, "steps_per_s", steps);
  SetRate(state, "household_days_per_s", household_days);
}
BENCHMARK(BM_SampleRollouts)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond);

// The PPO gradient over fixed rollouts (forward + backward).
void BM_Gradient(benchmark::State& state) {
  const Setup setup(static_cast<int>(state.range(0)));
  const std::unique_ptr<FollowerPolicy> policy = MakePolicy(state, setup);
  if (policy == nullptr) return;
  const absl::StatusOr<ShardRollouts> rollouts = policy->SampleRollouts(setup.AllDays(), 0);
  if (Fail(state, rollouts.status())) return;
  double steps = 0;
  for (auto _ : state) {
    absl::StatusOr<ShardGradient> g = policy->Gradient(*rollouts);
    if (Fail(state, g.status())) return;
    steps += static_cast<double>(g->steps);
    benchmark::DoNotOptimize(g->gradient.data());
  }
  SetRate(state, "steps_per_s", steps);
  state.counters["steps_per_gradient"] = static_cast<double>(rollouts->steps());
}
BENCHMARK(BM_Gradient)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond);

// One PPO phase of the evaluator (every shard's rollouts, then
// epochs_per_phase gradient + Adam steps), args: H, threads.
void BM_TrainPhase(benchmark::State& state) {
  const Setup setup(static_cast<int>(state.range(0)));
  const int threads = static_cast<int>(state.range(1));
  absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> evaluator =
      LearningPopulationEvaluator::Create(setup.scenario, threads);
  if (Fail(state, evaluator.status())) return;
  const int epochs = setup.scenario.follower.ppo.epochs_per_phase;
  double steps = 0;
  for (auto _ : state) {
    if (Fail(state, (*evaluator)->TrainPhase(setup.tariff, setup.belief))) return;
    steps += static_cast<double>((*evaluator)->training_stats().steps_last_phase) * epochs;
  }
  SetRate(state, "phases_per_s", static_cast<double>(state.iterations()));
  SetRate(state, "steps_per_s", steps);
}
BENCHMARK(BM_TrainPhase)
    ->Args({32, 1})
    ->Args({32, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace smfg::followers

BENCHMARK_MAIN();
