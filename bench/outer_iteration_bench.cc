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
#include <memory>
#include <string>
#include <vector>

#include "config/spec_loader.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "training/trainer_params.h"
#include "training/training_run.h"

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
  // The run as `smfg train` assembles it, without checkpoints.
  auto loaded =
      training::LoadExperimentFile(spec_path, {.days = days, .max_iterations = iterations});
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  auto run = training::TrainingRun::Create(loaded->spec, loaded->scenario,
                                           training::LocalEvaluatorFactory(0), {});
  if (!run.ok()) {
    std::fprintf(stderr, "%s\n", std::string(run.status().message()).c_str());
    return 1;
  }
  auto& trainer = *run;
  std::vector<double> total, update, population, clearing, exploitability, other;
  for (int k = 0; k < iterations; ++k) {
    auto r = trainer->Step();
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    if (k == 0) continue;
    const v1::WallTime& s = r->seconds();
    const double t = s.rollout() + s.update() + s.evaluation();
    total.push_back(t);
    update.push_back(s.update());
    population.push_back(s.population());
    clearing.push_back(s.clearing());
    exploitability.push_back(s.exploitability());
    other.push_back(t - s.update() - s.population() - s.clearing() - s.exploitability());
  }
  const double m = Median(total);
  std::printf("spec %s, %lld households, %d days, %zu iterations measured\n", spec_path.c_str(),
              static_cast<long long>(training::SimulatedHouseholds(trainer->scenario())), days,
              total.size());
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
