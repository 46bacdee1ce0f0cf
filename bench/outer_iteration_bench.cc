// Wall time of one outer iteration of the Stackelberg loop and its split:
// leader PPO update vs the followers' best responses vs market clearing vs the
// per-iteration exploitability measurement.
//   build/bench/outer_iteration_bench [SPEC] [DAYS] [ITERATIONS]
// defaults: configs/three_bus_small.textproto, 10 days, 12 iterations. Prints
// the median of each component over the iterations after the first (which
// starts the inner loop cold).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/spec_loader.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "training/trainer.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace smfg;
  const std::string spec_path = argc > 1 ? argv[1] : "configs/three_bus_small.textproto";
  const int days = argc > 2 ? std::atoi(argv[2]) : 10;
  const int iterations = argc > 3 ? std::atoi(argv[3]) : 12;
  auto loaded = config::LoadExperimentFile(spec_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  env::Scenario sc = loaded->scenario;
  sc.days = days;
  env::LocalPopulationEvaluator evaluator(sc, 0);
  auto market =
      *env::MarketClearing::Create(sc, evaluator.kernel().shapes(), evaluator.kernel().days());
  training::TrainerParams p;
  p.scenario = sc;
  p.base.import_rate_per_kwh.assign(1, std::vector<double>(24, 0.15));
  p.base.fixed_charge_per_day.assign(sc.income_groups.size(), 0.0);
  p.bounds.learn_fixed_charges = true;
  p.bounds.min_fixed_charge_per_day = -1;
  p.bounds.max_fixed_charge_per_day = 1;
  p.ppo.minibatch_size = std::min(8, days);
  p.loop.max_iterations = iterations;
  auto trainer =
      *training::StackelbergTrainer::Create(p, &evaluator, market.get(), evaluator.kernel().days());
  std::vector<double> total, update, population, clearing, exploitability, other;
  for (int k = 0; k < iterations; ++k) {
    auto r = trainer->Step();
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    if (k == 0) continue;
    const double t = r->seconds_rollout + r->seconds_update + r->seconds_evaluation;
    total.push_back(t);
    update.push_back(r->seconds_update);
    population.push_back(r->seconds_population);
    clearing.push_back(r->seconds_clearing);
    exploitability.push_back(r->seconds_exploitability);
    other.push_back(t - r->seconds_update - r->seconds_population - r->seconds_clearing -
                    r->seconds_exploitability);
  }
  const double m = Median(total);
  std::printf("spec %s, %d households, %d days, %zu iterations measured\n", spec_path.c_str(),
              evaluator.kernel().population().size(), days, total.size());
  std::printf("outer iteration (median)  %8.3f s\n", m);
  std::printf("  leader PPO update       %8.3f s  (%4.1f %%)\n", Median(update),
              100 * Median(update) / m);
  std::printf("  follower best responses %8.3f s  (%4.1f %%)\n", Median(population),
              100 * Median(population) / m);
  std::printf("  market clearing         %8.3f s  (%4.1f %%)\n", Median(clearing),
              100 * Median(clearing) / m);
  std::printf("  exploitability check    %8.3f s  (%4.1f %%)\n", Median(exploitability),
              100 * Median(exploitability) / m);
  std::printf("  objective, bookkeeping  %8.3f s  (%4.1f %%)\n", Median(other),
              100 * Median(other) / m);
  return 0;
}
