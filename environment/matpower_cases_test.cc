// MATPOWER's own cases (environment/testdata/README.md) through the reader and
// the DC-OPF: published reference figures, every case at load scales 0.5-1.3
// and random perturbations with solver-independent KKT checks, and GLPK as an
// independent second solver on their linear-cost versions.
#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/rng.h"
#include "environment/dcopf.h"
#include "environment/dcopf_testing.h"
#include "environment/matpower.h"
#include "environment/network.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

using ::smfg::env::testing::DcSensitivity;
using ::smfg::env::testing::ExpectKkt;
using ::smfg::env::testing::GlpkSolution;
using ::smfg::env::testing::Sensitivity;
using ::smfg::env::testing::SolveWithGlpk;
using ::smfg::env::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kCases[] = {"case6ww",     "case9",  "case14", "case24_ieee_rts", "case30",
                                  "case_ieee30", "case39", "case57", "case118",         "case300"};

MatpowerCase MustLoad(const std::string& name) {
  absl::StatusOr<MatpowerCase> c =
      LoadMatpowerFile(absl::StrCat(SMFG_SOURCE_DIR "/environment/testdata/", name, ".m"));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : MatpowerCase{};
}

// MATPOWER's scale_load: PD scales, GS does not.
std::vector<double> ScaledLoad(const MatpowerCase& c, double scale) {
  std::vector<double> load(c.bus_demand_mw.size());
  for (size_t b = 0; b < load.size(); ++b) {
    load[b] = c.bus_demand_mw[b] * scale + c.bus_shunt_mw[b];
  }
  return load;
}

double MinimumOutput(const Network& net, int hour) {
  double total = 0.0;
  for (const Generator& g : net.generators) total += std::min(g.pmin_mw, g.AvailableMw(hour));
  return total;
}

TEST(MatpowerCasesTest, Ieee14MatchesPublishedDcOpf) {
  // MATPOWER's rundcopf('case14'): 7642.59 $/h, no congestion, one LMP.
  const MatpowerCase c = MustLoad("case14");
  ASSERT_EQ(c.network.buses.size(), 14u);
  auto opf = DcOpf::Create(c.network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  const absl::StatusOr<DispatchResult> r = (*opf)->Solve(c.bus_load_mw, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->generation_cost_per_hour, 7642.59, 0.005);
  for (double lmp : r->lmp_per_mwh) EXPECT_NEAR(lmp, 39.0162, 5e-5);
  for (double mu : r->line_shadow_price) EXPECT_EQ(mu, 0.0);
  EXPECT_EQ(r->total_shed_mw, 0.0);
  // Clp leaves gen5 3e-7 MW above its lower bound (inside its own tolerance).
  ExpectKkt(c.network, Sensitivity(c.network), c.bus_load_mw, 0, *r, 1e-6, 1e-7);
}

TEST(MatpowerCasesTest, Case300LoadsWithItsNegativeReactanceAndShunts) {
  // Branch 1201-120 has BR_X = -0.3697 (series compensation); 17 buses have
  // GS, 1.3 MW in all. Both used to be rejected or ignored.
  const MatpowerCase c = MustLoad("case300");
  ASSERT_EQ(c.network.buses.size(), 300u);
  int negative = 0;
  for (const Line& line : c.network.lines) negative += line.reactance_pu < 0;
  EXPECT_EQ(negative, 1);
  double shunt = 0.0, demand = 0.0, load = 0.0;
  for (size_t b = 0; b < c.bus_load_mw.size(); ++b) {
    shunt += c.bus_shunt_mw[b];
    demand += c.bus_demand_mw[b];
    load += c.bus_load_mw[b];
  }
  EXPECT_NEAR(shunt, 1.3, 1e-9);
  EXPECT_NEAR(load, demand + shunt, 1e-9);
}

class EveryCaseTest : public ::testing::TestWithParam<const char*> {};

// Load scales 0.5, 0.6, ..., 1.3 and 30 seeded perturbations (a scale in
// [0.5, 1.3] times a per-bus factor in [0.8, 1.2]), hour 0. Every hour solves
// and passes the solver-independent KKT check, except where the case's own
// data make it infeasible (load below the units' must-run minimum: the model
// has no spill, nor has MATPOWER's rundcopf), which must fail cleanly with
// that reason and GLPK must agree.
TEST_P(EveryCaseTest, SolvesAtLoadScalesAndPerturbations) {
  glp_term_out(GLP_OFF);
  const MatpowerCase c = MustLoad(GetParam());
  auto opf = DcOpf::Create(c.network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  const DcSensitivity sens = Sensitivity(c.network);
  const double minimum = MinimumOutput(c.network, 0);
  int solved = 0, infeasible = 0, fallbacks = 0;
  for (int i = 0; i < 39; ++i) {
    std::vector<double> load;
    if (i < 9) {
      load = ScaledLoad(c, 0.5 + 0.1 * i);
    } else {
      CounterRng rng(i, RngPurpose::kTest, 118);
      load = ScaledLoad(c, rng.Uniform(0.5, 1.3));
      for (double& v : load) v *= rng.Uniform(0.8, 1.2);
    }
    SCOPED_TRACE(absl::StrCat(GetParam(), " step ", i));
    double total = 0.0, scale = 1.0;
    for (double v : load) {
      total += v;
      scale = std::max(scale, std::abs(v));
    }
    const absl::StatusOr<DispatchResult> r = (*opf)->Solve(load, 0);
    if (total < minimum) {
      ++infeasible;
      EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInternal,
                                       AllOf(HasSubstr("below the units' minimum output"),
                                             HasSubstr("primal infeasible"))));
      EXPECT_FALSE(SolveWithGlpk(c.network, load, 0).feasible);
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status();
    ++solved;
    fallbacks += r->method > 0;
    ExpectKkt(c.network, sens, load, 0, *r, 1e-6 * scale, 1e-6);
  }
  // Only case6ww has must-run minimums above half its load (132.5 MW of 210).
  if (std::string(GetParam()) == "case6ww") {
    EXPECT_GE(infeasible, 2);  // scales 0.5 and 0.6 at least
  } else {
    EXPECT_EQ(infeasible, 0);
  }
  // case118's quadratic costs defeat the scaled QP at most load levels; the
  // fallback chain is what solves it.
  if (std::string(GetParam()) == "case118") {
    EXPECT_GT(fallbacks, 0);
  }
  RecordProperty("fallbacks", fallbacks);
  RecordProperty("solved", solved);
}

// The same cases with linear costs (each unit's quadratic term dropped) through
// Clp's LP chain and through GLPK on a different formulation: equal costs,
// and equal LMPs and shadow prices wherever GLPK's vertex is nondegenerate.
TEST_P(EveryCaseTest, LinearVersionMatchesGlpk) {
  glp_term_out(GLP_OFF);
  MatpowerCase c = MustLoad(GetParam());
  for (Generator& g : c.network.generators) g.cost_quadratic = 0.0;
  auto opf = DcOpf::Create(c.network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  const double minimum = MinimumOutput(c.network, 0);
  int compared = 0;
  for (int i = 0; i < 9; ++i) {
    const std::vector<double> load = ScaledLoad(c, 0.5 + 0.1 * i);
    SCOPED_TRACE(absl::StrCat(GetParam(), " scale ", 0.5 + 0.1 * i));
    double total = 0.0;
    for (double v : load) total += v;
    if (total < minimum) continue;
    const absl::StatusOr<DispatchResult> r = (*opf)->Solve(load, 0);
    ASSERT_TRUE(r.ok()) << r.status();
    const GlpkSolution g = SolveWithGlpk(c.network, load, 0);
    ASSERT_TRUE(g.feasible);
    const double objective =
        r->generation_cost_per_hour + c.network.value_of_lost_load_per_mwh * r->total_shed_mw;
    double fixed = 0.0;
    for (const Generator& gen : c.network.generators) fixed += gen.cost_fixed;
    EXPECT_NEAR(objective - fixed, g.objective, 1e-7 * std::max(1.0, std::abs(g.objective)));
    if (g.degenerate) continue;
    ++compared;
    for (size_t b = 0; b < g.lmp.size(); ++b) {
      EXPECT_NEAR(r->lmp_per_mwh[b], g.lmp[b], 1e-6 * std::max(1.0, std::abs(g.lmp[b])))
          << "bus " << b;
    }
    for (size_t l = 0; l < g.shadow.size(); ++l) {
      EXPECT_NEAR(r->line_shadow_price[l], g.shadow[l], 1e-6 * std::max(1.0, g.shadow[l]))
          << "line " << l;
    }
  }
  RecordProperty("lmp_comparisons", compared);
}

INSTANTIATE_TEST_SUITE_P(MatpowerCases, EveryCaseTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST(MatpowerCasesTest, Case118ManyDayHoursNeverFail) {
  // 30 days x 24 hours of case118 under a daily load shape with per-bus noise
  // (0.55-1.25 of the case's load): the hours an equilibrium on this network
  // would clear. None may fail, and each is checked for KKT.
  const MatpowerCase c = MustLoad("case118");
  auto opf = DcOpf::Create(c.network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  const DcSensitivity sens = Sensitivity(c.network);
  int fallbacks = 0;
  for (int day = 0; day < 30; ++day) {
    for (int hour = 0; hour < 24; ++hour) {
      CounterRng rng(day, RngPurpose::kTest, 1180 + hour);
      const double shape = 0.9 + 0.3 * std::sin(M_PI * (hour - 6) / 12.0);
      std::vector<double> load = ScaledLoad(c, shape * rng.Uniform(0.9, 1.05));
      for (double& v : load) v *= rng.Uniform(0.9, 1.1);
      const absl::StatusOr<DispatchResult> r = (*opf)->Solve(load, hour);
      ASSERT_TRUE(r.ok()) << "day " << day << " hour " << hour << ": " << r.status();
      fallbacks += r->method > 0;
      if (hour % 6 == 0) ExpectKkt(c.network, sens, load, hour, *r, 1e-3, 1e-6);
    }
  }
  RecordProperty("fallbacks", fallbacks);
}

}  // namespace
}  // namespace smfg::env
