// DC-OPF solves per second (items/s): one DcOpf fed a sequence of varying
// hourly loads, as the market clearing in the inner loop does (every solve
// starts from the model as built: no warm start), plus a rebuild-every-time
// variant. The MATPOWER cases report how often the fallback chain answered
// (counter "fallback", a fraction of solves).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/rng.h"
#include "config/spec_loader.h"
#include "environment/dcopf.h"
#include "environment/matpower.h"
#include "environment/network.h"

namespace smfg::env {
namespace {

constexpr int kLoadSequence = 1024;

Network Triangle(bool quadratic) {
  Network net;
  net.buses = {{"1"}, {"2"}, {"3"}};
  const double inf = std::numeric_limits<double>::infinity();
  net.lines = {{"1-2", 0, 1, 0.1, inf}, {"1-3", 0, 2, 0.1, 150.0}, {"2-3", 1, 2, 0.1, inf}};
  Generator g1;
  g1.name = "g1";
  g1.bus = 0;
  g1.pmax_mw = 400.0;
  g1.cost_linear = 10.0;
  g1.cost_quadratic = quadratic ? 0.01 : 0.0;
  Generator g2 = g1;
  g2.name = "g2";
  g2.bus = 1;
  g2.cost_linear = 12.0;
  g2.cost_quadratic = quadratic ? 0.02 : 0.0;
  net.generators = {g1, g2};
  return net;
}

// Loads at every bus: bus 3 swings through the uncongested and congested
// regimes; buses 1 and 2 sometimes export (negative load).
std::vector<std::vector<double>> TriangleLoads() {
  CounterRng rng(1, RngPurpose::kTest, 0);
  std::vector<std::vector<double>> loads(kLoadSequence);
  for (auto& l : loads) {
    l = {rng.Uniform(-20, 60), rng.Uniform(-20, 60), rng.Uniform(50, 420)};
  }
  return loads;
}

absl::StatusOr<MatpowerCase> LoadCase5(bool quadratic) {
  absl::StatusOr<MatpowerCase> c =
      LoadMatpowerFile(SMFG_SOURCE_DIR "/environment/testdata/case5.m");
  if (c.ok() && quadratic) {
    for (Generator& g : c->network.generators) g.cost_quadratic = 0.01;
  }
  return c;
}

std::vector<std::vector<double>> ScaledLoads(const std::vector<double>& base) {
  CounterRng rng(2, RngPurpose::kTest, 0);
  std::vector<std::vector<double>> loads(kLoadSequence);
  for (auto& l : loads) {
    const double scale = rng.Uniform(0.4, 1.1);
    for (double b : base) l.push_back(b * scale * rng.Uniform(0.9, 1.1));
  }
  return loads;
}

void RunWarm(benchmark::State& state, const Network& net,
             const std::vector<std::vector<double>>& loads) {
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(net);
  if (!opf.ok()) {
    state.SkipWithError(std::string(opf.status().message()).c_str());
    return;
  }
  size_t i = 0;
  int64_t fallbacks = 0;
  for (auto _ : state) {
    absl::StatusOr<DispatchResult> r = (*opf)->Solve(loads[i], static_cast<int>(i % 24));
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    fallbacks += r->method > 0;
    benchmark::DoNotOptimize(r->lmp_per_mwh.data());
    i = (i + 1) % loads.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["fallback"] =
      benchmark::Counter(static_cast<double>(fallbacks), benchmark::Counter::kAvgIterations);
}

// A MATPOWER case shipped in environment/testdata (MATPOWER's quadratic
// costs), at load scales 0.5-1.3 with per-bus noise.
void BM_Matpower(benchmark::State& state, const char* name) {
  absl::StatusOr<MatpowerCase> c =
      LoadMatpowerFile(std::string(SMFG_SOURCE_DIR "/environment/testdata/") + name + ".m");
  if (!c.ok()) {
    state.SkipWithError(std::string(c.status().message()).c_str());
    return;
  }
  CounterRng rng(3, RngPurpose::kTest, 0);
  std::vector<std::vector<double>> loads(kLoadSequence);
  for (auto& l : loads) {
    const double scale = rng.Uniform(0.5, 1.3);
    for (double b : c->bus_load_mw) l.push_back(b * scale * rng.Uniform(0.9, 1.1));
  }
  RunWarm(state, c->network, loads);
}
BENCHMARK_CAPTURE(BM_Matpower, case14, "case14");
BENCHMARK_CAPTURE(BM_Matpower, case118, "case118");
BENCHMARK_CAPTURE(BM_Matpower, case300, "case300");

// The default experiment's network (configs/three_bus.textproto) at loads
// spanning its operating range, shedding and household export included.
void BM_DefaultThreeBus(benchmark::State& state) {
  absl::StatusOr<config::LoadedSpec> loaded =
      config::LoadExperimentFile(SMFG_SOURCE_DIR "/configs/three_bus.textproto");
  if (!loaded.ok()) {
    state.SkipWithError(std::string(loaded.status().message()).c_str());
    return;
  }
  CounterRng rng(4, RngPurpose::kTest, 0);
  std::vector<std::vector<double>> loads(kLoadSequence);
  for (auto& l : loads) l = {rng.Uniform(-5, 45), rng.Uniform(-5, 50), rng.Uniform(10, 100)};
  RunWarm(state, loaded->scenario.network, loads);
}
BENCHMARK(BM_DefaultThreeBus);

void BM_TriangleQuadratic(benchmark::State& state) {
  RunWarm(state, Triangle(/*quadratic=*/true), TriangleLoads());
}
BENCHMARK(BM_TriangleQuadratic);

void BM_TriangleLinear(benchmark::State& state) {
  RunWarm(state, Triangle(/*quadratic=*/false), TriangleLoads());
}
BENCHMARK(BM_TriangleLinear);

void BM_Case5(benchmark::State& state) {
  const bool quadratic = state.range(0) != 0;
  absl::StatusOr<MatpowerCase> c = LoadCase5(quadratic);
  if (!c.ok()) {
    state.SkipWithError(std::string(c.status().message()).c_str());
    return;
  }
  RunWarm(state, c->network, ScaledLoads(c->bus_load_mw));
}
BENCHMARK(BM_Case5)->ArgName("quadratic")->Arg(0)->Arg(1);

// Builds the model for every solve.
void BM_TriangleQuadraticRebuildEachSolve(benchmark::State& state) {
  const Network net = Triangle(/*quadratic=*/true);
  const std::vector<std::vector<double>> loads = TriangleLoads();
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(net);
    absl::StatusOr<DispatchResult> r = opf.ok() ? (*opf)->Solve(loads[i], 0) : opf.status();
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(r->lmp_per_mwh.data());
    i = (i + 1) % loads.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TriangleQuadraticRebuildEachSolve);

}  // namespace
}  // namespace smfg::env

BENCHMARK_MAIN();
