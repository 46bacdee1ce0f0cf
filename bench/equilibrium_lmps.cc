// Prints every equilibrium LMP of a spec under a tariff file, for comparing
// two builds (bench/compare_evaluate.sh): the inner fixed point that
// `smfg evaluate SPEC --tariff TARIFF` solves first, from a cold start.
//   build/bench/equilibrium_lmps SPEC TARIFF DAYS THREADS
// Output: one line per LMP, "day hour bus lmp_per_mwh" (%.17g), then a
// "# iterations residual seconds" line. Written against the environment API
// of commit 8af7c1e as well, so the same file builds in an old tree.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "environment/equilibrium.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
// The spec loader moved from spec/ to config/ after 8af7c1e.
#if __has_include("config/spec_loader.h")
#include "config/spec_loader.h"
namespace spec_loader = smfg::config;
#else
#include "spec/spec_loader.h"
namespace spec_loader = smfg::spec;
#endif

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SPEC TARIFF DAYS THREADS\n", argv[0]);
    return 2;
  }
  auto loaded = spec_loader::LoadExperimentFile(argv[1]);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    return 1;
  }
  smfg::env::Scenario& sc = loaded->scenario;
  sc.days = std::atoi(argv[3]);
  auto tariff = spec_loader::LoadTariffFile(argv[2], sc);
  if (!tariff.ok()) {
    std::fprintf(stderr, "%s\n", tariff.status().ToString().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  smfg::env::LocalPopulationEvaluator evaluator(sc, std::atoi(argv[4]));
  auto market =
      smfg::env::MarketClearing::Create(sc, evaluator.kernel().shapes(), evaluator.kernel().days());
  if (!market.ok()) {
    std::fprintf(stderr, "%s\n", market.status().ToString().c_str());
    return 1;
  }
  auto inner = smfg::env::SolveMeanField(evaluator, **market, *tariff, sc.inner, nullptr);
  if (!inner.ok()) {
    std::fprintf(stderr, "%s\n", inner.status().ToString().c_str());
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const smfg::env::PriceBelief& lmp = inner->clearing.lmp;
  for (int d = 0; d < lmp.days; ++d) {
    for (int h = 0; h < smfg::env::kHoursPerDay; ++h) {
      for (int b = 0; b < lmp.buses; ++b) std::printf("%d %d %d %.17g\n", d, h, b, lmp.At(d, h, b));
    }
  }
  std::printf("# %d %.3g %.3f\n", inner->iterations, inner->residual, seconds);
  return 0;
}
