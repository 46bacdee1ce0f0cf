#include "environment/dcopf.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/rng.h"
#include "environment/network.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

Generator MakeGen(int bus, double pmax, double linear, double quadratic = 0.0) {
  Generator g;
  g.name = absl::StrCat("g", bus);
  g.bus = bus;
  g.pmax_mw = pmax;
  g.cost_linear = linear;
  g.cost_quadratic = quadratic;
  return g;
}

// REFERENCE_DATA.md "Market clearing": buses 1..3 are indices 0..2; lines 1-2,
// 1-3, 2-3 with x = 0.1 on base 100; line 1-3 (index 1) optionally limited.
Network Triangle(double limit_13, double a1 = 0.0, double b1 = 10.0, double a2 = 0.0,
                 double b2 = 20.0) {
  Network net;
  net.base_mva = 100.0;
  net.buses = {{"1"}, {"2"}, {"3"}};
  net.lines = {{"1-2", 0, 1, 0.1, kInf}, {"1-3", 0, 2, 0.1, limit_13}, {"2-3", 1, 2, 0.1, kInf}};
  net.generators = {MakeGen(0, 1000.0, b1, a1), MakeGen(1, 1000.0, b2, a2)};
  return net;
}

std::unique_ptr<DcOpf> MustCreate(const Network& net) {
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(net);
  EXPECT_TRUE(opf.ok()) << opf.status();
  return opf.ok() ? std::move(opf).value() : nullptr;
}

DispatchResult MustSolve(DcOpf& opf, const std::vector<double>& load, int hour = 0) {
  absl::StatusOr<DispatchResult> r = opf.Solve(load, hour);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : DispatchResult{};
}

// ---------------------------------------------------------------------------
// Independent optimality check. PTDF[l][n] = MW on line l per MW injected at
// bus n and withdrawn at bus 0, from a dense solve of the reduced B matrix.
std::vector<std::vector<double>> Ptdf(const Network& net) {
  const int n = static_cast<int>(net.buses.size());
  const int m = n - 1;
  // Augmented [B_r | I] for Gauss-Jordan inversion.
  std::vector<std::vector<double>> a(m, std::vector<double>(2 * m, 0.0));
  for (int i = 0; i < m; ++i) a[i][m + i] = 1.0;
  for (const Line& line : net.lines) {
    const double b = 1.0 / line.reactance_pu;
    const int f = line.from_bus - 1, t = line.to_bus - 1;
    if (f >= 0) a[f][f] += b;
    if (t >= 0) a[t][t] += b;
    if (f >= 0 && t >= 0) {
      a[f][t] -= b;
      a[t][f] -= b;
    }
  }
  for (int c = 0; c < m; ++c) {
    int pivot = c;
    for (int r = c + 1; r < m; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    const double d = a[c][c];
    for (double& v : a[c]) v /= d;
    for (int r = 0; r < m; ++r) {
      if (r == c || a[r][c] == 0.0) continue;
      const double f = a[r][c];
      for (int k = 0; k < 2 * m; ++k) a[r][k] -= f * a[c][k];
    }
  }
  auto x = [&](int bus, int inj) { return (bus == 0 || inj == 0) ? 0.0 : a[bus - 1][m + inj - 1]; };
  std::vector<std::vector<double>> ptdf(net.lines.size(), std::vector<double>(n));
  for (size_t l = 0; l < net.lines.size(); ++l) {
    const Line& line = net.lines[l];
    for (int k = 0; k < n; ++k) {
      ptdf[l][k] = (x(line.from_bus, k) - x(line.to_bus, k)) / line.reactance_pu;
    }
  }
  return ptdf;
}

// Checks the KKT conditions of the QP in dcopf.h for `r`: primal feasibility,
// reduced-cost signs of generators and shedding, complementarity of line
// limits, and LMP_n = LMP_0 - sum_l nu_l PTDF[l][n] with nu_l the signed shadow
// price. These are sufficient for optimality of a convex QP, so they verify
// dispatch and duals without trusting any solver.
void ExpectKkt(const Network& net, const std::vector<double>& load, int hour,
               const DispatchResult& r, double tol) {
  const int n = static_cast<int>(net.buses.size());
  ASSERT_EQ(r.lmp_per_mwh.size(), static_cast<size_t>(n));
  std::vector<double> injection(n, 0.0);
  for (size_t g = 0; g < net.generators.size(); ++g) {
    const Generator& gen = net.generators[g];
    const double p = r.generation_mw[g];
    const double upper = gen.AvailableMw(hour);
    const double lower = std::min(gen.pmin_mw, upper);
    EXPECT_GE(p, lower - tol) << "gen " << g;
    EXPECT_LE(p, upper + tol) << "gen " << g;
    injection[gen.bus] += p;
    const double reduced = 2 * gen.cost_quadratic * p + gen.cost_linear - r.lmp_per_mwh[gen.bus];
    if (p > lower + tol) {
      EXPECT_LE(reduced, tol) << "gen " << g;
    }
    if (p < upper - tol) {
      EXPECT_GE(reduced, -tol) << "gen " << g;
    }
  }
  for (int b = 0; b < n; ++b) {
    const double shed = r.load_shed_mw[b];
    const double upper = std::max(load[b], 0.0);
    EXPECT_GE(shed, -tol);
    EXPECT_LE(shed, upper + tol);
    injection[b] += shed - load[b];
    const double reduced = net.value_of_lost_load_per_mwh - r.lmp_per_mwh[b];
    if (shed > tol) {
      EXPECT_LE(reduced, tol) << "bus " << b;
    }
    if (shed < upper - tol) {
      EXPECT_GE(reduced, -tol) << "bus " << b;
    }
  }
  double total = 0.0;
  for (double v : injection) total += v;
  EXPECT_NEAR(total, 0.0, tol);
  const std::vector<std::vector<double>> ptdf = Ptdf(net);
  std::vector<double> nu(net.lines.size(), 0.0);
  for (size_t l = 0; l < net.lines.size(); ++l) {
    double flow = 0.0;
    for (int b = 0; b < n; ++b) flow += ptdf[l][b] * injection[b];
    EXPECT_NEAR(r.flow_mw[l], flow, tol) << "line " << l;
    const double limit = net.lines[l].limit_mw;
    EXPECT_LE(std::abs(flow), limit + tol) << "line " << l;
    EXPECT_GE(r.line_shadow_price[l], 0.0);
    if (r.line_shadow_price[l] > tol) {
      const bool at_upper = flow >= limit - tol;
      const bool at_lower = flow <= -limit + tol;
      EXPECT_TRUE(at_upper || at_lower) << "priced line " << l << " not binding";
      nu[l] = at_upper ? r.line_shadow_price[l] : -r.line_shadow_price[l];
    }
  }
  for (int b = 0; b < n; ++b) {
    double expected = r.lmp_per_mwh[0];
    for (size_t l = 0; l < net.lines.size(); ++l) expected -= nu[l] * ptdf[l][b];
    EXPECT_NEAR(r.lmp_per_mwh[b], expected, tol * std::max(1.0, std::abs(expected))) << "bus " << b;
  }
}

// ---------------------------------------------------------------------------
TEST(DcOpfTest, HandTriangleCongested) {
  const Network net = Triangle(150.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  EXPECT_NEAR(r.lmp_per_mwh[0], 10.0, 1e-6);
  EXPECT_NEAR(r.lmp_per_mwh[1], 20.0, 1e-6);
  EXPECT_NEAR(r.lmp_per_mwh[2], 30.0, 1e-6);
  EXPECT_NEAR(r.generation_mw[0], 150.0, 1e-6);
  EXPECT_NEAR(r.generation_mw[1], 150.0, 1e-6);
  EXPECT_NEAR(r.flow_mw[1], 150.0, 1e-6);
  EXPECT_NEAR(r.line_shadow_price[1], 30.0, 1e-6);
  EXPECT_EQ(r.line_shadow_price[0], 0.0);
  EXPECT_EQ(r.line_shadow_price[2], 0.0);
  EXPECT_NEAR(r.generation_cost_per_hour, 4500.0, 1e-6);
  EXPECT_EQ(r.total_shed_mw, 0.0);
}

TEST(DcOpfTest, HandTriangleUncongested) {
  const Network net = Triangle(kInf);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  for (double lmp : r.lmp_per_mwh) EXPECT_NEAR(lmp, 10.0, 1e-6);
  EXPECT_NEAR(r.generation_mw[0], 300.0, 1e-6);
  EXPECT_NEAR(r.generation_mw[1], 0.0, 1e-6);
  // Equal reactances: 2/3 of the transfer goes direct, 1/3 via bus 2.
  EXPECT_NEAR(r.flow_mw[0], 100.0, 1e-6);
  EXPECT_NEAR(r.flow_mw[1], 200.0, 1e-6);
  EXPECT_NEAR(r.flow_mw[2], 100.0, 1e-6);
  EXPECT_NEAR(r.generation_cost_per_hour, 3000.0, 1e-6);
}

TEST(DcOpfTest, QuadraticUncongestedMatchesHandDispatch) {
  // Equal marginal costs: 0.02 p1 + 10 = 0.04 p2 + 12 with p1 + p2 = 300
  //   => 0.06 p1 = 14, p1 = 700/3, p2 = 200/3, LMP = 44/3 everywhere.
  // Cost = 0.01 p1^2 + 10 p1 + 0.02 p2^2 + 12 p2 = 11300/3.
  const Network net = Triangle(kInf, 0.01, 10.0, 0.02, 12.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  EXPECT_NEAR(r.generation_mw[0], 700.0 / 3.0, 1e-5);
  EXPECT_NEAR(r.generation_mw[1], 200.0 / 3.0, 1e-5);
  for (double lmp : r.lmp_per_mwh) EXPECT_NEAR(lmp, 44.0 / 3.0, 1e-5);
  EXPECT_NEAR(r.generation_cost_per_hour, 11300.0 / 3.0, 1e-5);
  ExpectKkt(net, {0.0, 0.0, 300.0}, 0, r, 1e-6);
}

TEST(DcOpfTest, QuadraticCongestedMatchesHandKkt) {
  // Unconstrained optimum would put 2/3*700/3 + 1/3*200/3 = 177.8 MW on line
  // 1-3, above its 150 MW limit. With it binding: 2/3 p1 + 1/3 (300 - p1) = 150
  //   => p1 = p2 = 150; LMP1 = 0.02*150 + 10 = 13, LMP2 = 0.04*150 + 12 = 18.
  // LMP_n = LMP1 - nu PTDF(1-3, n) with PTDF = -1/3 at bus 2 and -2/3 at bus 3:
  //   nu = 3 (18 - 13) = 15, LMP3 = 13 + 15 * 2/3 = 23. Cost = 3975.
  const Network net = Triangle(150.0, 0.01, 10.0, 0.02, 12.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  EXPECT_NEAR(r.generation_mw[0], 150.0, 1e-5);
  EXPECT_NEAR(r.generation_mw[1], 150.0, 1e-5);
  EXPECT_NEAR(r.lmp_per_mwh[0], 13.0, 1e-5);
  EXPECT_NEAR(r.lmp_per_mwh[1], 18.0, 1e-5);
  EXPECT_NEAR(r.lmp_per_mwh[2], 23.0, 1e-5);
  EXPECT_NEAR(r.line_shadow_price[1], 15.0, 1e-5);
  EXPECT_NEAR(r.generation_cost_per_hour, 3975.0, 1e-5);
}

TEST(DcOpfTest, QuadraticLmpIsContinuousInLoad) {
  // Regimes along the sweep:
  //   L < 250: both units marginal, one LMP = 0.02 (0.04 L + 2) / 0.06 + 10;
  //   L >= 250: line 1-3 binds with both units still marginal,
  //   p1 = 450 - L, p2 = 2 L - 450 and LMP3 = 2 LMP2 - LMP1 rises by
  //   0.18 $/MWh per MW.
  // So 0.5 MW steps move any LMP by at most 0.09 $/MWh; a jump would show.
  const Network net = Triangle(150.0, 0.01, 10.0, 0.02, 12.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  std::vector<double> previous;
  for (double load = 50.0; load <= 440.0; load += 0.5) {
    const DispatchResult r = MustSolve(*opf, {0.0, 0.0, load});
    ASSERT_EQ(r.total_shed_mw, 0.0) << load;
    ExpectKkt(net, {0.0, 0.0, load}, 0, r, 1e-6);
    if (!previous.empty()) {
      for (int b = 0; b < 3; ++b) {
        EXPECT_LT(std::abs(r.lmp_per_mwh[b] - previous[b]), 0.1) << "bus " << b << " load " << load;
      }
    }
    previous = r.lmp_per_mwh;
  }
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 100.0}).lmp_per_mwh[2],
              0.02 * (0.04 * 100 + 2) / 0.06 + 10, 1e-6);
  const DispatchResult congested = MustSolve(*opf, {0.0, 0.0, 400.0});
  EXPECT_NEAR(congested.generation_mw[0], 50.0, 1e-6);
  EXPECT_NEAR(congested.lmp_per_mwh[2], 2 * (0.04 * 350 + 12) - (0.02 * 50 + 10), 1e-6);
}

TEST(DcOpfTest, QuadraticLmpJumpsWhereCongestionMeetsAUnitAtItsCap) {
  // Quadratic costs make LMPs continuous only while the marginal units are
  // strictly inside their limits. Here the cheap bus-1 unit is capped at
  // 150 MW from L = 175 on (LMP = bus-2 marginal cost 0.04 (L - 150) + 12, above
  // the bus-1 unit's 13), and line 1-3 starts to bind exactly at L = 300 while
  // it is pinned. Beyond, the unit must back off its cap (p1 = 450 - L), so
  // LMP1 drops to its marginal cost: at L = 300 the LMP is an interval
  // [13, 18] and no solver can make it continuous. This documents that the
  // jump is a property of the model, not of the solver.
  Network net = Triangle(150.0, 0.01, 10.0, 0.02, 12.0);
  net.generators[0].pmax_mw = 150.0;
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult below = MustSolve(*opf, {0.0, 0.0, 299.5});
  const DispatchResult above = MustSolve(*opf, {0.0, 0.0, 300.5});
  ExpectKkt(net, {0.0, 0.0, 299.5}, 0, below, 1e-6);
  ExpectKkt(net, {0.0, 0.0, 300.5}, 0, above, 1e-6);
  EXPECT_NEAR(below.lmp_per_mwh[0], 0.04 * 149.5 + 12, 1e-6);
  EXPECT_NEAR(above.lmp_per_mwh[0], 0.02 * 149.5 + 10, 1e-6);
  EXPECT_NEAR(above.generation_mw[0], 149.5, 1e-6);
}

TEST(DcOpfTest, LinearLmpStepsButIsPiecewiseConstant) {
  // The contrast the quadratic default exists for: with linear costs the LMP
  // at bus 3 jumps from 10 to 30 as line 1-3 starts to bind at 225 MW.
  const Network net = Triangle(150.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 224.0}).lmp_per_mwh[2], 10.0, 1e-6);
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 226.0}).lmp_per_mwh[2], 30.0, 1e-6);
}

TEST(DcOpfTest, LoadSheddingShedsExactlyTheExcessAtVoll) {
  Network net = Triangle(kInf);
  net.generators[0].pmax_mw = 100.0;
  net.generators[1].pmax_mw = 120.0;
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  EXPECT_NEAR(r.total_shed_mw, 80.0, 1e-6);
  EXPECT_NEAR(r.load_shed_mw[2], 80.0, 1e-6);
  EXPECT_NEAR(r.lmp_per_mwh[2], net.value_of_lost_load_per_mwh, 1e-6);
  // Shedding is not a generation cost.
  EXPECT_NEAR(r.generation_cost_per_hour, 100.0 * 10.0 + 120.0 * 20.0, 1e-6);
  ExpectKkt(net, {0.0, 0.0, 300.0}, 0, r, 1e-6);
}

TEST(DcOpfTest, SheddingBehindACongestedLine) {
  // Bus 3 can import at most 150 MW over 1-3 plus what 2-3 carries; with only
  // the bus-1 unit (bus 2 has no unit) the flows split 2:1 so 225 MW reaches
  // bus 3 before line 1-3 binds; the rest is shed at bus 3 only.
  Network net = Triangle(150.0);
  net.generators.pop_back();
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 0.0, 300.0});
  EXPECT_NEAR(r.generation_mw[0], 225.0, 1e-6);
  EXPECT_NEAR(r.load_shed_mw[2], 75.0, 1e-6);
  EXPECT_NEAR(r.load_shed_mw[0], 0.0, 1e-9);
  EXPECT_NEAR(r.lmp_per_mwh[2], net.value_of_lost_load_per_mwh, 1e-6);
  EXPECT_NEAR(r.lmp_per_mwh[0], 10.0, 1e-6);
  ExpectKkt(net, {0.0, 0.0, 300.0}, 0, r, 1e-6);
}

TEST(DcOpfTest, NegativeLoadIsNetInjection) {
  const Network net = Triangle(150.0);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  // Bus 3 exports 50 MW of rooftop surplus; bus 1 consumes 200 MW.
  const std::vector<double> load = {200.0, 0.0, -50.0};
  const DispatchResult r = MustSolve(*opf, load);
  EXPECT_NEAR(r.generation_mw[0] + r.generation_mw[1], 150.0, 1e-6);
  EXPECT_NEAR(r.generation_mw[0], 150.0, 1e-6);
  EXPECT_EQ(r.total_shed_mw, 0.0);
  for (double lmp : r.lmp_per_mwh) EXPECT_NEAR(lmp, 10.0, 1e-6);
  EXPECT_NEAR(r.generation_cost_per_hour, 1500.0, 1e-6);
  ExpectKkt(net, load, 0, r, 1e-6);
}

TEST(DcOpfTest, SurplusThatCannotBeAbsorbedIsAnErrorNotACrash) {
  // Total net load is negative and there is no spill slack in the model, so the
  // problem is infeasible; it must come back as INTERNAL with Clp's status.
  const Network net = Triangle(kInf);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  absl::StatusOr<DispatchResult> r = opf->Solve({0.0, 0.0, -10.0}, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("Clp status"));
  // The model stays usable.
  EXPECT_TRUE(opf->Solve({0.0, 0.0, 300.0}, 0).ok());
}

TEST(DcOpfTest, RenewableAvailabilityLimitsOutputByHour) {
  Network net = Triangle(kInf);
  Generator wind = MakeGen(2, 200.0, 0.0);
  wind.name = "wind";
  wind.renewable = true;
  wind.hourly_availability.assign(24, 0.0);
  wind.hourly_availability[3] = 0.25;
  wind.hourly_availability[12] = 1.0;
  net.generators.push_back(wind);
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const std::vector<double> load = {0.0, 0.0, 300.0};
  const DispatchResult night = MustSolve(*opf, load, 0);
  EXPECT_NEAR(night.generation_mw[2], 0.0, 1e-9);
  EXPECT_NEAR(night.generation_mw[0], 300.0, 1e-6);
  const DispatchResult h3 = MustSolve(*opf, load, 3);
  EXPECT_NEAR(h3.generation_mw[2], 50.0, 1e-6);
  EXPECT_NEAR(h3.generation_mw[0], 250.0, 1e-6);
  const DispatchResult noon = MustSolve(*opf, load, 12);
  EXPECT_NEAR(noon.generation_mw[2], 200.0, 1e-6);
  EXPECT_NEAR(noon.generation_cost_per_hour, 1000.0, 1e-6);
  for (double lmp : noon.lmp_per_mwh) EXPECT_NEAR(lmp, 10.0, 1e-6);
}

TEST(DcOpfTest, PminAboveAvailabilityYieldsToAvailability) {
  Network net = Triangle(kInf);
  net.generators[1].pmin_mw = 50.0;
  net.generators[1].hourly_availability.assign(24, 1.0);
  net.generators[1].hourly_availability[5] = 0.02;  // 20 MW available
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 300.0}, 0).generation_mw[1], 50.0, 1e-6);
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 300.0}, 5).generation_mw[1], 20.0, 1e-6);
}

TEST(DcOpfTest, GenerationCostIncludesFixedCost) {
  Network net = Triangle(kInf);
  net.generators[0].cost_fixed = 100.0;
  net.generators[1].cost_fixed = 7.0;
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  EXPECT_NEAR(MustSolve(*opf, {0.0, 0.0, 300.0}).generation_cost_per_hour, 3107.0, 1e-6);
}

TEST(DcOpfTest, ParallelLinesShareFlowByReactance) {
  Network net;
  net.buses = {{"a"}, {"b"}};
  net.lines = {{"l1", 0, 1, 0.1, kInf}, {"l2", 1, 0, 0.2, kInf}};
  net.generators = {MakeGen(0, 500.0, 10.0)};
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {0.0, 90.0});
  EXPECT_NEAR(r.flow_mw[0], 60.0, 1e-6);
  EXPECT_NEAR(r.flow_mw[1], -30.0, 1e-6);  // l2 is oriented b -> a
}

TEST(DcOpfTest, SingleBusNetwork) {
  Network net;
  net.buses = {{"only"}};
  net.generators = {MakeGen(0, 100.0, 12.0, 0.1)};
  auto opf = MustCreate(net);
  ASSERT_NE(opf, nullptr);
  const DispatchResult r = MustSolve(*opf, {40.0});
  EXPECT_NEAR(r.generation_mw[0], 40.0, 1e-6);
  EXPECT_NEAR(r.lmp_per_mwh[0], 2 * 0.1 * 40.0 + 12.0, 1e-6);
}

TEST(DcOpfTest, RejectsBadInputs) {
  auto opf = MustCreate(Triangle(kInf));
  ASSERT_NE(opf, nullptr);
  absl::StatusOr<DispatchResult> r = opf->Solve({1.0, 2.0}, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("load_mw"));
  r = opf->Solve({1.0, std::nan(""), 3.0}, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("load_mw[1]"));
  r = opf->Solve({1.0, 2.0, 3.0}, 24);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("hour"));
  r = opf->Solve({1.0, 2.0, 3.0}, -1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DcOpfTest, CreateRejectsInvalidNetwork) {
  Network net = Triangle(kInf);
  net.lines[2].reactance_pu = 0.0;
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(net);
  EXPECT_EQ(opf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(opf.status().message(), HasSubstr("lines[2].reactance_pu"));
}

// ---------------------------------------------------------------------------
// Random networks: 3-6 buses, a spanning tree plus extra (possibly parallel)
// lines, random limits, 2-5 units, some negative bus loads, sometimes a
// renewable unit with hourly availability.
struct RandomCase {
  Network network;
  std::vector<double> load;
  int hour = 0;
};

RandomCase MakeRandomCase(uint64_t seed, bool quadratic) {
  CounterRng rng(seed, RngPurpose::kTest, quadratic ? 2 : 1);
  RandomCase c;
  Network& net = c.network;
  const int n = 3 + static_cast<int>(rng.NextU64() % 4);
  for (int b = 0; b < n; ++b) net.buses.push_back({absl::StrCat("b", b)});
  auto random_limit = [&]() { return rng.Uniform() < 0.5 ? rng.Uniform(20, 150) : kInf; };
  for (int b = 1; b < n; ++b) {
    const int other = static_cast<int>(rng.NextU64() % b);
    net.lines.push_back({absl::StrCat("t", b), other, b, rng.Uniform(0.05, 0.5), random_limit()});
  }
  const int extra = static_cast<int>(rng.NextU64() % 4);
  for (int e = 0; e < extra; ++e) {
    const int f = static_cast<int>(rng.NextU64() % n);
    const int t = static_cast<int>(rng.NextU64() % n);
    if (f == t) continue;
    net.lines.push_back({absl::StrCat("x", e), f, t, rng.Uniform(0.05, 0.5), random_limit()});
  }
  const int gens = 2 + static_cast<int>(rng.NextU64() % 4);
  for (int g = 0; g < gens; ++g) {
    Generator gen = MakeGen(static_cast<int>(rng.NextU64() % n), rng.Uniform(50, 300),
                            rng.Uniform(5, 60), quadratic ? rng.Uniform(0.001, 0.05) : 0.0);
    if (rng.Uniform() < 0.2) gen.pmin_mw = rng.Uniform(0, 20);
    net.generators.push_back(gen);
  }
  if (rng.Uniform() < 0.5) {
    Generator solar = MakeGen(static_cast<int>(rng.NextU64() % n), rng.Uniform(50, 200), 0.0);
    solar.renewable = true;
    for (int h = 0; h < 24; ++h) solar.hourly_availability.push_back(rng.Uniform());
    net.generators.push_back(solar);
  }
  net.value_of_lost_load_per_mwh = 1000.0;
  double total = 0.0;
  for (int b = 0; b < n; ++b) {
    c.load.push_back(rng.Uniform() < 0.2 ? rng.Uniform(-10, 0) : rng.Uniform(0, 250));
    total += c.load.back();
  }
  // Keep total net load above every must-run minimum (the model has no spill).
  double pmin_total = 0.0;
  for (const Generator& g : net.generators) pmin_total += g.pmin_mw;
  if (total < pmin_total + 1.0) c.load[0] += pmin_total + 1.0 - total;
  c.hour = static_cast<int>(rng.NextU64() % 24);
  return c;
}

TEST(DcOpfTest, SequenceOfSolvesMatchesFreshModelsBitForBit) {
  // Long sequences on one DcOpf, with an occasional infeasible hour (a large
  // surplus) so that the fallback path is exercised too. Every hour must give
  // exactly what a freshly built model gives: clearing is a function of the
  // hour's data alone, whatever was solved before (DESIGN §4).
  for (bool quadratic : {false, true}) {
    for (uint64_t seed = 0; seed < 30; ++seed) {
      const RandomCase c = MakeRandomCase(seed, quadratic);
      auto warm = MustCreate(c.network);
      ASSERT_NE(warm, nullptr);
      CounterRng rng(seed, RngPurpose::kTest, quadratic ? 3 : 4);
      for (int step = 0; step < 40; ++step) {
        SCOPED_TRACE(absl::StrCat("quadratic ", quadratic, " seed ", seed, " step ", step));
        std::vector<double> load = c.load;
        for (double& v : load) v *= rng.Uniform(0.3, 1.7);
        if (rng.Uniform() < 0.1) load[0] = -5000.0;
        const int hour = step % 24;
        const absl::StatusOr<DispatchResult> a = warm->Solve(load, hour);
        auto cold = MustCreate(c.network);
        ASSERT_NE(cold, nullptr);
        const absl::StatusOr<DispatchResult> b = cold->Solve(load, hour);
        ASSERT_EQ(a.ok(), b.ok()) << a.status() << " vs " << b.status();
        if (!a.ok()) {
          EXPECT_EQ(a.status().code(), absl::StatusCode::kInternal);
          continue;
        }
        EXPECT_EQ(a->lmp_per_mwh, b->lmp_per_mwh);
        EXPECT_EQ(a->generation_mw, b->generation_mw);
        EXPECT_EQ(a->flow_mw, b->flow_mw);
        EXPECT_EQ(a->generation_cost_per_hour, b->generation_cost_per_hour);
        EXPECT_EQ(a->total_shed_mw, b->total_shed_mw);
        ExpectKkt(c.network, load, hour, *a, 1e-5);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// GLPK as an independent second solver.
struct GlpkSolution {
  bool feasible = true;
  double objective = 0.0;
  std::vector<double> lmp;
  std::vector<double> shadow;  // |reduced cost| of each line's flow column
  bool degenerate = false;     // a basic variable sits on a bound
};

// A deliberately different formulation of the same LP: explicit flow columns
// bounded by the limits, one definition row per line (f - b (theta_f - theta_t)
// = 0), and balance rows written with flows instead of angles.
GlpkSolution SolveWithGlpk(const RandomCase& c) {
  const Network& net = c.network;
  const int n = static_cast<int>(net.buses.size());
  const int ng = static_cast<int>(net.generators.size());
  const int nl = static_cast<int>(net.lines.size());
  glp_prob* lp = glp_create_prob();
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_rows(lp, n + nl);
  // Columns (1-based): gens, shed, flows, angles of all buses.
  const int shed0 = ng + 1, flow0 = ng + n + 1, theta0 = ng + n + nl + 1;
  glp_add_cols(lp, ng + n + nl + n);
  std::vector<int> ia = {0}, ja = {0};
  std::vector<double> ar = {0.0};
  auto add = [&](int row, int col, double v) {
    ia.push_back(row);
    ja.push_back(col);
    ar.push_back(v);
  };
  for (int b = 0; b < n; ++b) glp_set_row_bnds(lp, b + 1, GLP_FX, c.load[b], c.load[b]);
  for (int l = 0; l < nl; ++l) glp_set_row_bnds(lp, n + l + 1, GLP_FX, 0.0, 0.0);
  for (int g = 0; g < ng; ++g) {
    const Generator& gen = net.generators[g];
    const double upper = gen.AvailableMw(c.hour);
    const double lower = std::min(gen.pmin_mw, upper);
    glp_set_col_bnds(lp, g + 1, lower < upper ? GLP_DB : GLP_FX, lower, upper);
    glp_set_obj_coef(lp, g + 1, gen.cost_linear);
    add(gen.bus + 1, g + 1, 1.0);
  }
  for (int b = 0; b < n; ++b) {
    const double upper = std::max(c.load[b], 0.0);
    glp_set_col_bnds(lp, shed0 + b, upper > 0 ? GLP_DB : GLP_FX, 0.0, upper);
    glp_set_obj_coef(lp, shed0 + b, net.value_of_lost_load_per_mwh);
    add(b + 1, shed0 + b, 1.0);
    glp_set_col_bnds(lp, theta0 + b, b == 0 ? GLP_FX : GLP_FR, 0.0, 0.0);
  }
  for (int l = 0; l < nl; ++l) {
    const Line& line = net.lines[l];
    const double lim = line.limit_mw;
    glp_set_col_bnds(lp, flow0 + l, std::isfinite(lim) ? GLP_DB : GLP_FR,
                     std::isfinite(lim) ? -lim : 0.0, std::isfinite(lim) ? lim : 0.0);
    add(line.from_bus + 1, flow0 + l, -1.0);
    add(line.to_bus + 1, flow0 + l, 1.0);
    const double b = net.base_mva / line.reactance_pu;
    add(n + l + 1, flow0 + l, 1.0);
    add(n + l + 1, theta0 + line.from_bus, -b);
    add(n + l + 1, theta0 + line.to_bus, b);
  }
  glp_load_matrix(lp, static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_OFF;
  GlpkSolution s;
  const int rc = glp_simplex(lp, &parm);
  EXPECT_EQ(rc, 0);
  const int status = glp_get_status(lp);
  if (status == GLP_NOFEAS) {
    s.feasible = false;
    glp_delete_prob(lp);
    return s;
  }
  EXPECT_EQ(status, GLP_OPT);
  s.objective = glp_get_obj_val(lp);
  for (int b = 0; b < n; ++b) s.lmp.push_back(glp_get_row_dual(lp, b + 1));
  for (int l = 0; l < nl; ++l) {
    s.shadow.push_back(std::abs(glp_get_col_dual(lp, flow0 + l)));
  }
  // Non-unique duals need a degenerate primal: some basic variable at a bound.
  auto at_bound = [](double v, double lo, double hi) {
    return std::abs(v - lo) < 1e-7 || std::abs(v - hi) < 1e-7;
  };
  for (int j = 1; j <= ng + n + nl; ++j) {
    if (glp_get_col_stat(lp, j) != GLP_BS) continue;
    double lo = -kInf, hi = kInf;
    if (j < shed0) {
      const Generator& gen = net.generators[j - 1];
      hi = gen.AvailableMw(c.hour);
      lo = std::min(gen.pmin_mw, hi);
    } else if (j < flow0) {
      lo = 0.0;
      hi = std::max(c.load[j - shed0], 0.0);
    } else {
      hi = net.lines[j - flow0].limit_mw;
      lo = -hi;
    }
    if (at_bound(glp_get_col_prim(lp, j), lo, hi)) s.degenerate = true;
  }
  glp_delete_prob(lp);
  return s;
}

// The model has no spill slack, so a random case can be infeasible (surplus
// injection or must-run output trapped behind limits). Such a case must fail
// cleanly, and GLPK must agree that it is infeasible.
bool ExpectInfeasibleAgreed(const RandomCase& c, const absl::StatusOr<DispatchResult>& r) {
  if (r.ok() || !absl::StrContains(r.status().message(), "primal infeasible")) {
    return false;
  }
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(SolveWithGlpk(c).feasible) << r.status();
  return true;
}

TEST(DcOpfTest, QuadraticRandomNetworksSatisfyKkt) {
  glp_term_out(GLP_OFF);
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const RandomCase c = MakeRandomCase(seed, /*quadratic=*/true);
    auto opf = MustCreate(c.network);
    ASSERT_NE(opf, nullptr);
    const absl::StatusOr<DispatchResult> r = opf->Solve(c.load, c.hour);
    if (ExpectInfeasibleAgreed(c, r)) continue;
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectKkt(c.network, c.load, c.hour, *r, 1e-5);
  }
}

TEST(DcOpfTest, LinearMatchesGlpkOnRandomNetworks) {
  glp_term_out(GLP_OFF);
  int compared_lmps = 0;
  constexpr int kCases = 500;
  for (uint64_t seed = 0; seed < kCases; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const RandomCase c = MakeRandomCase(seed, /*quadratic=*/false);
    auto opf = MustCreate(c.network);
    ASSERT_NE(opf, nullptr);
    const absl::StatusOr<DispatchResult> solved = opf->Solve(c.load, c.hour);
    if (ExpectInfeasibleAgreed(c, solved)) continue;
    ASSERT_TRUE(solved.ok()) << solved.status();
    const DispatchResult& r = *solved;
    const GlpkSolution g = SolveWithGlpk(c);
    ASSERT_TRUE(g.feasible);
    const double clp_objective =
        r.generation_cost_per_hour + c.network.value_of_lost_load_per_mwh * r.total_shed_mw;
    EXPECT_NEAR(clp_objective, g.objective, 1e-6 * std::max(1.0, std::abs(g.objective)));
    ExpectKkt(c.network, c.load, c.hour, r, 1e-5);
    // Where GLPK's vertex is degenerate the LMPs are an interval and the two
    // solvers may legitimately pick different ends; both are checked for KKT.
    if (g.degenerate) continue;
    ++compared_lmps;
    for (size_t b = 0; b < g.lmp.size(); ++b) {
      EXPECT_NEAR(r.lmp_per_mwh[b], g.lmp[b], 1e-4) << "bus " << b;
    }
    for (size_t l = 0; l < g.shadow.size(); ++l) {
      EXPECT_NEAR(r.line_shadow_price[l], g.shadow[l], 1e-4) << "line " << l;
    }
  }
  // Random continuous data makes degenerate vertices the exception.
  EXPECT_GE(compared_lmps, kCases / 2);
  RecordProperty("lmp_comparisons", compared_lmps);
}

}  // namespace
}  // namespace smfg::env
