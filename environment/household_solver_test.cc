#include "environment/household_solver.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/rng.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

struct DayData {
  std::vector<double> demand, pv, rate, credit;
  HouseholdDayInput Input() const { return {demand.data(), pv.data(), rate.data(), credit.data()}; }
};

DayData TwoPriceDay(double cheap, double dear, double demand) {
  DayData d;
  d.demand.assign(24, demand);
  d.pv.assign(24, 0.0);
  d.rate.assign(24, cheap);
  std::fill(d.rate.begin() + 12, d.rate.end(), dear);
  d.credit.assign(24, 0.0);
  return d;
}

DayData RandomDay(uint64_t seed) {
  CounterRng rng(seed, RngPurpose::kTest, 0);
  DayData d;
  for (int h = 0; h < 24; ++h) {
    d.demand.push_back(rng.Uniform(0.2, 2.5));
    d.pv.push_back(h >= 7 && h <= 18 ? rng.Uniform(0.0, 4.0) : 0.0);
    d.rate.push_back(rng.Uniform(0.05, 0.5));
    d.credit.push_back(rng.Uniform(0.0, 0.08));
  }
  return d;
}

FollowerParams Params(double tau) {
  FollowerParams p;
  p.temperature_usd = tau;
  p.discount_per_hour = 0.99;
  p.soc_levels = 11;
  p.max_soc_steps_per_hour = 3;
  p.battery_wear_usd_per_kwh = 0.0;
  return p;
}

// Hand-computed arbitrage: 10 kWh battery (dE = 1 kWh, K = 5 steps = 5 kW), no
// losses, demand 2 kWh every hour, 0.10 $/kWh for hours 0-11 and 0.30 after, no
// export credit. Without storage the bill is 24*0.1 + 24*0.3 = 9.6 $/day. The
// optimum stores 10 kWh cheaply and displaces 10 kWh of dear imports:
// 34*0.1 + 14*0.3 = 7.6 $/day. Many schedules tie, so near tau = 0 the softmax
// mixes among optimal ones, and every mixture has the same bill.
TEST(HouseholdSolverTest, ArbitrageMatchesHandComputedBill) {
  FollowerParams p = Params(1e-6);
  p.max_soc_steps_per_hour = 5;
  HouseholdSolver solver(p);
  const DayData d = TwoPriceDay(0.10, 0.30, 2.0);
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), {10.0, 5.0, 1.0, 1.0}, &out);
  EXPECT_TRUE(out.converged);
  EXPECT_NEAR(out.energy_bill_usd, 7.6, 1e-6);
  double exports = 0;
  for (double e : out.export_kwh) exports += e;
  EXPECT_NEAR(exports, 0.0, 1e-6);
}

TEST(HouseholdSolverTest, NoBatteryPaysNetBill) {
  HouseholdSolver solver(Params(0.01));
  DayData d = TwoPriceDay(0.10, 0.30, 1.0);
  d.pv[12] = 3.0;  // 2 kWh exported at 0.05
  d.credit[12] = 0.05;
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), {}, &out);
  EXPECT_NEAR(out.energy_bill_usd, 12 * 0.1 + 11 * 0.3 - 2 * 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(out.export_kwh[12], 2.0);
}

// Battery physics invariants on random days: the SoC distribution stays on
// [0, E], power limits hold, and over the periodic day the energy stored
// (eta_c * charge) equals the energy drawn (discharge / eta_d).
TEST(HouseholdSolverTest, BatteryInvariantsOnRandomDays) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    FollowerParams p = Params(0.02);
    p.battery_wear_usd_per_kwh = 0.01;
    HouseholdSolver solver(p);
    const DayData d = RandomDay(seed);
    const BatterySpec b{9.3 + seed * 0.2, 3.0, 0.95, 0.92};
    HouseholdDayOutcome out;
    solver.Solve(d.Input(), b, &out);
    ASSERT_TRUE(out.converged);
    double stored = 0, drawn = 0;
    for (int h = 0; h < 24; ++h) {
      EXPECT_GE(out.soc_kwh[h], -1e-12);
      EXPECT_LE(out.soc_kwh[h], b.capacity_kwh + 1e-12);
      EXPECT_LE(out.charge_kw[h], b.power_kw + 1e-9);
      EXPECT_LE(out.discharge_kw[h], b.power_kw + 1e-9);
      stored += out.charge_kw[h] * b.charge_efficiency;
      drawn += out.discharge_kw[h] / b.discharge_efficiency;
      // Grid balance: imports - exports = demand - pv + battery.
      EXPECT_NEAR(out.import_kwh[h] - out.export_kwh[h], d.demand[h] - d.pv[h] + out.battery_kw[h],
                  1e-9);
      // SoC moves by what was stored minus what was drawn.
      const double next_soc = out.soc_kwh[(h + 1) % 24];
      EXPECT_NEAR(
          next_soc - out.soc_kwh[h],
          out.charge_kw[h] * b.charge_efficiency - out.discharge_kw[h] / b.discharge_efficiency,
          1e-9);
    }
    EXPECT_NEAR(stored, drawn, 1e-9);
    const auto& mu = solver.midnight_distribution();
    EXPECT_NEAR(std::accumulate(mu.begin(), mu.end(), 0.0), 1.0, 1e-12);
  }
}

// Second, independent solver: plain soft value iteration over many days,
// written out here from the equations, must reach the same V_0 as Newton.
TEST(HouseholdSolverTest, NewtonMatchesValueIteration) {
  const FollowerParams p = Params(0.05);
  const DayData d = RandomDay(77);
  const BatterySpec b{10.0, 4.0, 0.95, 0.95};
  HouseholdSolver solver(p);
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), b, &out);

  const int S = p.soc_levels, K = p.max_soc_steps_per_hour;
  const double dE = b.capacity_kwh / (S - 1);
  std::vector<double> v(S, 0.0);
  for (int day = 0; day < 5000; ++day) {
    for (int h = 23; h >= 0; --h) {
      std::vector<double> nv(S);
      for (int s = 0; s < S; ++s) {
        double z = 0, m = -1e300;
        std::vector<double> q;
        for (int k = -K; k <= K; ++k) {
          const double pw = k > 0 ? k * dE / b.charge_efficiency : k * dE * b.discharge_efficiency;
          if (s + k < 0 || s + k >= S || std::fabs(pw) > b.power_kw) continue;
          const double n = d.demand[h] - d.pv[h] + pw;
          const double r = -(n > 0 ? d.rate[h] * n : d.credit[h] * n);
          q.push_back(r + p.discount_per_hour * v[s + k]);
          m = std::max(m, q.back());
        }
        for (double x : q) z += std::exp((x - m) / p.temperature_usd);
        nv[s] = m + p.temperature_usd * std::log(z);
      }
      v = nv;
    }
  }
  for (int s = 0; s < S; ++s) {
    EXPECT_NEAR(solver.midnight_values()[s], v[s], 1e-8) << "s=" << s;
  }
  EXPECT_LE(out.policy_iterations, 15);
}

// Regularised exploitability is zero when the household faces the prices it
// believed; the plain one is positive but within the entropy bound
//   V*_plain - V^pi_plain <= tau log|A| / (1 - gamma)  (per start state),
// i.e. tau log|A| (1 - gamma^24) / (1 - gamma) in $/day, and shrinks with tau.
TEST(HouseholdSolverTest, SoftmaxExploitabilityBound) {
  const DayData d = RandomDay(5);
  const BatterySpec b{13.5, 5.0, 0.95, 0.95};
  double previous = 1e300;
  for (double tau : {0.2, 0.05, 0.01, 0.002}) {
    FollowerParams p = Params(tau);
    HouseholdSolver solver(p);
    const Exploitability e = solver.MeasureExploitability(d.Input(), d.Input(), b);
    const double bound = tau * std::log(solver.num_actions()) *
                         (1 - std::pow(p.discount_per_hour, 24)) / (1 - p.discount_per_hour);
    EXPECT_NEAR(e.regularised, 0.0, 1e-9) << "tau=" << tau;
    EXPECT_GT(e.plain, 0.0) << "tau=" << tau;
    EXPECT_LE(e.plain, bound) << "tau=" << tau;
    EXPECT_LT(e.plain, previous);
    previous = e.plain;
  }
}

// Facing higher prices than it believed, a household that stores energy for the
// evening could gain by re-optimising: both exploitabilities become positive.
TEST(HouseholdSolverTest, StaleBeliefIsExploitable) {
  const FollowerParams p = Params(0.01);
  const DayData believed = RandomDay(9);
  DayData realised = believed;
  for (int h = 16; h < 22; ++h) realised.rate[h] *= 3.0;
  HouseholdSolver solver(p);
  const Exploitability e =
      solver.MeasureExploitability(believed.Input(), realised.Input(), {13.5, 5.0, 0.95, 0.95});
  EXPECT_GT(e.regularised, 1e-4);
  EXPECT_GT(e.plain, e.regularised * 0.5);
}

TEST(HouseholdSolverTest, MyopicFollowersDoNotUseStorage) {
  FollowerParams p = Params(0.01);
  p.myopic = true;
  HouseholdSolver solver(p);
  const DayData d = TwoPriceDay(0.1, 0.3, 2.0);
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), {10.0, 5.0, 1.0, 1.0}, &out);
  EXPECT_NEAR(out.energy_bill_usd, 9.6, 1e-12);
}

}  // namespace
}  // namespace smfg::env
