#include "environment/household_solver.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
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

std::vector<HouseholdDayInput> Inputs(const std::vector<DayData>& days) {
  std::vector<HouseholdDayInput> in;
  for (const DayData& d : days) in.push_back(d.Input());
  return in;
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

// ---------------------------------------------------------------------------
// Exactness against an independent reference written here from the equations
// in household_solver.h, in long double: soft value iteration to a fixed point,
// the softmax policy of its values (weights below e^-40 cut), the day's
// transition matrix, the long-run distribution from an empty battery by
// repeated squaring of the lazy chain (I + M) / 2, and the forward pass.
struct Reference {
  std::vector<long double> v0;  // V_0(s)
  std::vector<long double> mu;  // midnight distribution
  long double imp[24], exp[24], soc[24], charge[24], discharge[24];
};

Reference BruteForce(const FollowerParams& p, const DayData& d, const BatterySpec& b) {
  using LD = long double;
  const int S = p.soc_levels, K = p.max_soc_steps_per_hour, A = 2 * K + 1;
  const LD tau = p.temperature_usd, gamma = p.discount_per_hour;
  const LD dE = static_cast<LD>(b.capacity_kwh / (S - 1));
  std::vector<LD> power(A);
  std::vector<bool> ok(A);
  for (int a = 0; a < A; ++a) {
    const int k = a - K;
    // The solver's grid powers are doubles; the reference uses the same ones.
    const double step = b.capacity_kwh / (S - 1);
    const double pw = k > 0 ? k * step / b.charge_efficiency : k * step * b.discharge_efficiency;
    power[a] = pw;
    ok[a] = std::fabs(pw) <= b.power_kw * (1 + 1e-12);
  }
  auto reward = [&](int h, int a) -> LD {
    const LD n = static_cast<LD>(d.demand[h]) - d.pv[h] + power[a];
    const LD bill = n > 0 ? d.rate[h] * n : d.credit[h] * n;
    return -(bill + p.battery_wear_usd_per_kwh * std::fabs(power[a]));
  };
  auto feasible = [&](int s, int a) { return ok[a] && s + a - K >= 0 && s + a - K < S; };
  // Policy [h][s][a] of values v_next (V_{h+1}); returns V_h.
  std::vector<LD> pi(24 * S * A);
  auto backup = [&](int h, const std::vector<LD>& vn, std::vector<LD>* vh) {
    for (int s = 0; s < S; ++s) {
      LD m = -1e300L;
      std::vector<LD> q(A, 0);
      for (int a = 0; a < A; ++a) {
        if (!feasible(s, a)) continue;
        q[a] = reward(h, a) + gamma * vn[s + a - K];
        m = std::max(m, q[a]);
      }
      LD z = 0;
      for (int a = 0; a < A; ++a) {
        LD w = 0;
        if (feasible(s, a) && (q[a] - m) / tau >= -40) w = std::exp((q[a] - m) / tau);
        pi[(h * S + s) * A + a] = w;
        z += w;
      }
      for (int a = 0; a < A; ++a) pi[(h * S + s) * A + a] /= z;
      (*vh)[s] = m + tau * std::log(z);
    }
  };
  Reference ref;
  std::vector<LD> v(S, 0), vn(S), vh(S);
  for (int day = 0; day < 100000; ++day) {
    vn = v;
    for (int h = 23; h >= 0; --h) {
      backup(h, vn, &vh);
      vn = vh;
    }
    LD change = 0;
    for (int s = 0; s < S; ++s) change = std::max(change, std::fabs(vn[s] - v[s]));
    v = vn;
    if (change < 1e-16L) break;
  }
  // The policy of the fixed point (the last sweep above started from it to
  // within 1e-16; one more makes pi exactly its softmax policy).
  vn = v;
  for (int h = 23; h >= 0; --h) {
    backup(h, vn, &vh);
    vn = vh;
  }
  ref.v0 = v;
  // M = P_0 P_1 ... P_23, then the lazy chain squared 200 times.
  std::vector<LD> m(S * S, 0), t(S * S);
  for (int s = 0; s < S; ++s) m[s * S + s] = 1;
  for (int h = 0; h < 24; ++h) {
    std::fill(t.begin(), t.end(), 0);
    for (int i = 0; i < S; ++i)
      for (int s = 0; s < S; ++s)
        for (int a = 0; a < A; ++a)
          if (feasible(s, a)) t[i * S + s + a - K] += m[i * S + s] * pi[(h * S + s) * A + a];
    m = t;
  }
  for (int i = 0; i < S * S; ++i) m[i] = (m[i] + (i % (S + 1) == 0 ? 1 : 0)) / 2;
  for (int r = 0; r < 200; ++r) {
    std::fill(t.begin(), t.end(), 0);
    for (int i = 0; i < S; ++i)
      for (int k = 0; k < S; ++k)
        for (int j = 0; j < S; ++j) t[i * S + j] += m[i * S + k] * m[k * S + j];
    // Renormalise rows: 2^200 steps would otherwise amplify rounding.
    for (int i = 0; i < S; ++i) {
      LD sum = 0;
      for (int j = 0; j < S; ++j) sum += t[i * S + j];
      for (int j = 0; j < S; ++j) t[i * S + j] /= sum;
    }
    m = t;
  }
  ref.mu.assign(m.begin(), m.begin() + S);  // row 0: started empty
  std::vector<LD> cur = ref.mu, next(S);
  for (int h = 0; h < 24; ++h) {
    ref.imp[h] = ref.exp[h] = ref.soc[h] = ref.charge[h] = ref.discharge[h] = 0;
    std::fill(next.begin(), next.end(), 0);
    for (int s = 0; s < S; ++s) {
      ref.soc[h] += cur[s] * s * dE;
      for (int a = 0; a < A; ++a) {
        if (!feasible(s, a)) continue;
        const LD w = cur[s] * pi[(h * S + s) * A + a];
        const LD n = static_cast<LD>(d.demand[h]) - d.pv[h] + power[a];
        ref.imp[h] += w * std::max(n, 0.0L);
        ref.exp[h] += w * std::max(-n, 0.0L);
        if (a > K) ref.charge[h] += w * power[a];
        if (a < K) ref.discharge[h] -= w * power[a];
        next[s + a - K] += w;
      }
    }
    cur = next;
  }
  return ref;
}

void ExpectMatchesReference(const HouseholdSolver& solver, const HouseholdDayOutcome& out,
                            const Reference& ref, double tol, const std::string& what) {
  ASSERT_TRUE(out.converged) << what;
  for (size_t s = 0; s < ref.v0.size(); ++s) {
    EXPECT_NEAR(solver.midnight_values()[s], static_cast<double>(ref.v0[s]), tol)
        << what << " V_0 s=" << s;
    EXPECT_NEAR(solver.midnight_distribution()[s], static_cast<double>(ref.mu[s]), tol)
        << what << " mu s=" << s;
  }
  for (int h = 0; h < 24; ++h) {
    EXPECT_NEAR(out.import_kwh[h] - out.export_kwh[h], static_cast<double>(ref.imp[h] - ref.exp[h]),
                tol)
        << what << " net load h=" << h;
    EXPECT_NEAR(out.import_kwh[h], static_cast<double>(ref.imp[h]), tol) << what << " h=" << h;
    EXPECT_NEAR(out.soc_kwh[h], static_cast<double>(ref.soc[h]), tol) << what << " SoC h=" << h;
    EXPECT_NEAR(out.charge_kw[h], static_cast<double>(ref.charge[h]), tol) << what << " h=" << h;
    EXPECT_NEAR(out.discharge_kw[h], static_cast<double>(ref.discharge[h]), tol)
        << what << " h=" << h;
  }
}

// The issue-12 defect: Newton stopped on a small value residual but reported
// the previous (stale) policy's outcomes, off by up to 7e-5 kWh in net load and
// 3e-4 kWh in SoC at tau = 0.01. Outcomes must be those of the softmax policy
// of the fixed point to 1e-9, cold and warm-started, with the default discount.
TEST(HouseholdSolverTest, OutcomesMatchBruteForceReference) {
  for (double tau : {0.01, 0.001}) {
    FollowerParams p;  // defaults: gamma 0.995, S = 11, K = 3, wear 0.02
    p.temperature_usd = tau;
    HouseholdSolver solver(p);
    for (uint64_t seed = 0; seed < 12; ++seed) {
      const DayData d = RandomDay(100 + seed);
      // Every third battery has a power limit that binds.
      const BatterySpec b{9.3 + 0.35 * seed, seed % 3 == 0 ? 2.0 : 5.0, 0.95, 0.9};
      const Reference ref = BruteForce(p, d, b);
      HouseholdDayOutcome out;
      solver.Solve(d.Input(), b, &out, /*warm_start=*/false);
      ExpectMatchesReference(solver, out, ref, 1e-9,
                             "tau=" + std::to_string(tau) + " seed=" + std::to_string(seed));
      // Warm-started from another day's values: the same fixed point.
      const DayData other = RandomDay(900 + seed);
      solver.Solve(other.Input(), b, &out, false);
      solver.Solve(d.Input(), b, &out, /*warm_start=*/true);
      ExpectMatchesReference(solver, out, ref, 1e-9,
                             "warm tau=" + std::to_string(tau) + " seed=" + std::to_string(seed));
    }
  }
}

// ---------------------------------------------------------------------------
// Households whose SoC distribution is not unique: defined (the distribution
// reached from an empty battery), reported, and exact.

// S = 2 with 13.5 kWh: one step is 13.5 kWh, far beyond 5 kW either way, so
// no move is ever feasible; every SoC is its own closed class.
TEST(HouseholdSolverTest, BatteryThatCannotMoveStaysEmpty) {
  for (const auto& [levels, capacity] : {std::pair{2, 13.5}, std::pair{11, 60.0}}) {
    FollowerParams p;
    p.soc_levels = levels;
    p.max_soc_steps_per_hour = 1;
    HouseholdSolver solver(p);
    const DayData d = RandomDay(3);
    HouseholdDayOutcome out;
    solver.Solve(d.Input(), {capacity, 5.0, 0.95, 0.95}, &out);
    EXPECT_TRUE(out.converged);
    EXPECT_FALSE(out.unique_distribution) << levels;
    EXPECT_EQ(solver.midnight_distribution()[0], 1.0);
    HouseholdDayOutcome idle;
    NoBatteryOutcome(d.Input(), &idle);
    for (int h = 0; h < 24; ++h) {
      EXPECT_EQ(out.soc_kwh[h], 0.0);
      EXPECT_EQ(out.battery_kw[h], 0.0);
      EXPECT_NEAR(out.import_kwh[h], idle.import_kwh[h], 1e-12);
      EXPECT_NEAR(out.export_kwh[h], idle.export_kwh[h], 1e-12);
    }
  }
}

// Between 47.5 and ~52.6 kWh on the default grid a battery can discharge one
// step (dE eta_d <= 5 kW) but never charge one (dE / eta_c > 5 kW): it runs
// empty and stays there. That distribution is unique.
TEST(HouseholdSolverTest, BatteryThatCannotChargeEndsEmpty) {
  HouseholdSolver solver(FollowerParams{});
  const DayData d = RandomDay(4);
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), {50.0, 5.0, 0.95, 0.95}, &out);
  EXPECT_TRUE(out.unique_distribution);
  EXPECT_EQ(solver.midnight_distribution()[0], 1.0);
  for (int h = 0; h < 24; ++h) EXPECT_EQ(out.soc_kwh[h], 0.0);
}

// No demand, no PV and no export credit: a move only costs (energy bought, or
// wear on energy given away), at least wear |p| = 0.02 * 1.28 $ per step, which
// at tau = 1e-4 weighs e^-256, under the e^-40 cut-off. Every state then keeps
// its SoC: several closed classes.
TEST(HouseholdSolverTest, EveryWeightCutOffStaysWhereItStarts) {
  FollowerParams p;
  p.temperature_usd = 1e-4;
  HouseholdSolver solver(p);
  DayData d = TwoPriceDay(0.2, 0.2, 0.0);
  HouseholdDayOutcome out;
  solver.Solve(d.Input(), {13.5, 5.0, 0.95, 0.95}, &out);
  EXPECT_TRUE(out.converged);
  EXPECT_FALSE(out.unique_distribution);
  EXPECT_EQ(solver.midnight_distribution()[0], 1.0);
  for (int h = 0; h < 24; ++h) {
    EXPECT_EQ(out.soc_kwh[h], 0.0);
    EXPECT_EQ(out.charge_kw[h], 0.0);
    EXPECT_EQ(out.import_kwh[h], 0.0);
  }
  // The default temperature keeps every move possible: unique.
  HouseholdSolver warm(FollowerParams{});
  warm.Solve(d.Input(), {13.5, 5.0, 0.95, 0.95}, &out);
  EXPECT_TRUE(out.unique_distribution);
}

// ---------------------------------------------------------------------------
// SIMD blocks: every lane computes what a one-household solver computes, to
// the bit, whatever shares its block and whatever the instruction set.

bool SameBits(const HouseholdDayOutcome& a, const HouseholdDayOutcome& b) {
  for (const auto f : {&HouseholdDayOutcome::import_kwh, &HouseholdDayOutcome::export_kwh,
                       &HouseholdDayOutcome::battery_kw, &HouseholdDayOutcome::charge_kw,
                       &HouseholdDayOutcome::discharge_kw, &HouseholdDayOutcome::soc_kwh}) {
    if (std::memcmp((a.*f).data(), (b.*f).data(), sizeof(HourlyArray)) != 0) return false;
  }
  return std::memcmp(&a.energy_bill_usd, &b.energy_bill_usd, sizeof(double)) == 0 &&
         std::memcmp(&a.wear_cost_usd, &b.wear_cost_usd, sizeof(double)) == 0 &&
         a.policy_iterations == b.policy_iterations && a.converged == b.converged &&
         a.unique_distribution == b.unique_distribution;
}

TEST(BatteryBlockSolverTest, LanesMatchOneHouseholdAtATimeBitForBit) {
  FollowerParams p;
  std::vector<BatterySpec> batteries;
  for (int l = 0; l < 8; ++l) {
    batteries.push_back({9.3 + 0.6 * l, l == 2 ? 2.0 : 5.0, 0.95 - 0.01 * l, 0.95});
  }
  batteries[5] = {60.0, 5.0, 0.95, 0.95};  // cannot move: a non-unique lane
  constexpr int kDays = 3;
  std::vector<std::vector<DayData>> days(8);
  for (int l = 0; l < 8; ++l) {
    for (int d = 0; d < kDays; ++d) days[l].push_back(RandomDay(1000 + 10 * l + d));
  }
  // Reference: each household alone, days warm-started in order.
  std::vector<std::vector<HouseholdDayOutcome>> want(8);
  for (int l = 0; l < 8; ++l) {
    HouseholdSolver one(p);
    for (int d = 0; d < kDays; ++d) {
      HouseholdDayOutcome o;
      one.Solve(days[l][d].Input(), batteries[l], &o, d > 0);
      want[l].push_back(o);
    }
  }
  for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!KernelIsaSupported(isa)) continue;
    for (int n : {8, 5, 1}) {
      BatteryBlockSolver block(p, BatteryBlockSolver::kMaxLanes, isa);
      ASSERT_EQ(block.lanes(), 8);
      block.SetBatteries(batteries.data(), n);
      for (int d = 0; d < kDays; ++d) {
        std::vector<HouseholdDayInput> in;
        for (int l = 0; l < n; ++l) in.push_back(days[l][d].Input());
        HouseholdDayOutcome out[8];
        block.Solve(in.data(), out, d > 0);
        for (int l = 0; l < n; ++l) {
          EXPECT_TRUE(SameBits(out[l], want[l][d]))
              << KernelIsaName(isa) << " n=" << n << " lane " << l << " day " << d;
        }
      }
    }
  }
  EXPECT_FALSE(want[5][0].unique_distribution);
}

TEST(BatteryBlockSolverTest, ExploitabilityLanesMatchOneHouseholdAtATime) {
  FollowerParams p;
  std::vector<BatterySpec> batteries;
  std::vector<DayData> belief, realised;
  for (int l = 0; l < 8; ++l) {
    batteries.push_back({9.3 + 0.5 * l, 5.0, 0.95, 0.95});
    belief.push_back(RandomDay(50 + l));
    realised.push_back(belief.back());
    for (int h = 16; h < 22; ++h) realised.back().credit[h] *= 1.0 + 0.2 * l;
  }
  std::vector<Exploitability> want;
  for (int l = 0; l < 8; ++l) {
    HouseholdSolver one(p);
    want.push_back(one.MeasureExploitability(belief[l].Input(), realised[l].Input(), batteries[l]));
  }
  for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!KernelIsaSupported(isa)) continue;
    BatteryBlockSolver block(p, BatteryBlockSolver::kMaxLanes, isa);
    block.SetBatteries(batteries.data(), 8);
    const std::vector<HouseholdDayInput> b = Inputs(belief), r = Inputs(realised);
    Exploitability out[8];
    block.MeasureExploitability(b.data(), r.data(), out, false);
    for (int l = 0; l < 8; ++l) {
      EXPECT_EQ(std::memcmp(&out[l], &want[l], sizeof(Exploitability)), 0)
          << KernelIsaName(isa) << " lane " << l;
    }
  }
}

// MeasureExploitabilityFrom, given the policy sources a Solve() left, gives
// the bits MeasureExploitability gets by solving the belief problem again
// (with the same warm-start chain), on every instruction set, with padding
// lanes, on the default grid and a runtime one.
TEST(BatteryBlockSolverTest, ExploitabilityFromPolicySourcesMatchesSolvingAgain) {
  constexpr int kDays = 4;
  FollowerParams small_grid;
  small_grid.soc_levels = 6;
  small_grid.max_soc_steps_per_hour = 2;
  for (const FollowerParams& p : {FollowerParams{}, small_grid}) {
    for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
      if (!KernelIsaSupported(isa)) continue;
      for (int n : {8, 5}) {
        std::vector<BatterySpec> batteries;
        std::vector<std::vector<DayData>> belief(n), realised(n);
        for (int l = 0; l < n; ++l) {
          batteries.push_back({9.3 + 0.5 * l, 5.0, 0.95, 0.9});
          for (int d = 0; d < kDays; ++d) {
            belief[l].push_back(RandomDay(300 + 10 * l + d));
            realised[l].push_back(belief[l].back());
            for (int h = 15; h < 21; ++h) realised[l].back().credit[h] *= 1.1 + 0.1 * l;
          }
        }
        BatteryBlockSolver solve(p, BatteryBlockSolver::kMaxLanes, isa);
        BatteryBlockSolver replay(p, BatteryBlockSolver::kMaxLanes, isa);
        BatteryBlockSolver again(p, BatteryBlockSolver::kMaxLanes, isa);
        for (BatteryBlockSolver* s : {&solve, &replay, &again})
          s->SetBatteries(batteries.data(), n);
        std::vector<double> sources(static_cast<size_t>(n) * solve.soc_levels(), -1.0);
        for (int d = 0; d < kDays; ++d) {
          std::vector<HouseholdDayInput> b, r;
          for (int l = 0; l < n; ++l) {
            b.push_back(belief[l][d].Input());
            r.push_back(realised[l][d].Input());
          }
          HouseholdDayOutcome outcomes[8];
          solve.Solve(b.data(), outcomes, /*warm_start=*/d > 0);
          solve.CopyPolicySources(sources.data());
          Exploitability from[8], solved[8];
          replay.MeasureExploitabilityFrom(sources.data(), b.data(), r.data(), from);
          again.MeasureExploitability(b.data(), r.data(), solved, /*warm_start=*/d > 0);
          for (int l = 0; l < n; ++l) {
            EXPECT_GT(solved[l].plain, 0.0);
            EXPECT_EQ(std::memcmp(&from[l], &solved[l], sizeof(Exploitability)), 0)
                << KernelIsaName(isa) << " S=" << p.soc_levels << " n=" << n << " lane " << l
                << " day " << d << ": " << from[l].plain << " vs " << solved[l].plain;
          }
        }
      }
    }
  }
}

// ---- Households that follow given policy tables (issue 11's yardstick) ----

// A second, independent implementation of a followed policy's outcomes and
// exploitability, written from the definitions (household_solver.h) with
// dense loops and plain iteration: periodic values by iterating the day
// until it repeats, the midnight distribution by iterating it from an empty
// battery, best responses by (soft) value iteration.
struct PolicyReference {
  FollowerParams p;
  BatterySpec b;
  const DayData* day;
  int S, K, A;
  PolicyReference(const FollowerParams& params, const BatterySpec& battery, const DayData& d)
      : p(params),
        b(battery),
        day(&d),
        S(params.soc_levels),
        K(params.max_soc_steps_per_hour),
        A(2 * K + 1) {}
  double Power(int move) const {
    const double stored = move * b.capacity_kwh / (S - 1);
    return move > 0 ? stored / b.charge_efficiency : stored * b.discharge_efficiency;
  }
  bool Feasible(int s, int a) const {
    const int move = a - K;
    return s + move >= 0 && s + move < S && std::fabs(Power(move)) <= b.power_kw * (1 + 1e-12);
  }
  double Net(int h, int a) const { return day->demand[h] - day->pv[h] + Power(a - K); }
  double Reward(int h, int a) const {
    const double n = Net(h, a);
    const double bill = n > 0 ? day->rate[h] * n : day->credit[h] * n;
    return -(bill + p.battery_wear_usd_per_kwh * std::fabs(Power(a - K)));
  }
  double Pi(const std::vector<double>& t, int h, int s, int a) const {
    return t[(static_cast<size_t>(h) * S + s) * A + a];
  }
  // V_0 of the table: soft (with -tau log pi) or plain.
  std::vector<double> FollowedValues(const std::vector<double>& t, bool soft) const {
    std::vector<double> v0(S, 0.0);
    for (int day_it = 0; day_it < 3000; ++day_it) {
      std::vector<double> next = v0;
      for (int h = 23; h >= 0; --h) {
        std::vector<double> cur(S, 0.0);
        for (int s = 0; s < S; ++s) {
          for (int a = 0; a < A; ++a) {
            const double q = Pi(t, h, s, a);
            if (q == 0) continue;
            cur[s] += q * (Reward(h, a) - (soft ? p.temperature_usd * std::log(q) : 0.0) +
                           p.discount_per_hour * next[s + a - K]);
          }
        }
        next = cur;
      }
      v0 = next;
    }
    return v0;
  }
  std::vector<double> BestValues(bool soft) const {
    const double tau = p.temperature_usd;
    std::vector<double> v0(S, 0.0);
    for (int day_it = 0; day_it < 3000; ++day_it) {
      std::vector<double> next = v0;
      for (int h = 23; h >= 0; --h) {
        std::vector<double> cur(S);
        for (int s = 0; s < S; ++s) {
          double m = -1e300;
          for (int a = 0; a < A; ++a) {
            if (Feasible(s, a))
              m = std::max(m, Reward(h, a) + p.discount_per_hour * next[s + a - K]);
          }
          if (!soft) {
            cur[s] = m;
            continue;
          }
          double z = 0;
          for (int a = 0; a < A; ++a) {
            if (Feasible(s, a)) {
              z += std::exp((Reward(h, a) + p.discount_per_hour * next[s + a - K] - m) / tau);
            }
          }
          cur[s] = m + tau * std::log(z);
        }
        next = cur;
      }
      v0 = next;
    }
    return v0;
  }
  // Distribution at the start of each hour, from the midnight one reached
  // from an empty battery.
  std::vector<std::vector<double>> Distributions(const std::vector<double>& t) const {
    std::vector<double> mu(S, 0.0);
    mu[0] = 1.0;
    std::vector<std::vector<double>> by_hour(25, std::vector<double>(S));
    for (int day_it = 0; day_it < 3000; ++day_it) {
      by_hour[0] = mu;
      for (int h = 0; h < 24; ++h) {
        std::vector<double> next(S, 0.0);
        for (int s = 0; s < S; ++s) {
          for (int a = 0; a < A; ++a)
            next[std::clamp(s + a - K, 0, S - 1)] += by_hour[h][s] * Pi(t, h, s, a);
        }
        by_hour[h + 1] = next;
      }
      mu = by_hour[24];
    }
    return by_hour;
  }
};

// A random valid table: random weights on the feasible moves, about a fifth of
// them zero (idling always positive).
std::vector<double> RandomTable(const PolicyReference& ref, uint64_t seed) {
  CounterRng rng(seed, RngPurpose::kTest, 1);
  std::vector<double> t(static_cast<size_t>(24) * ref.S * ref.A, 0.0);
  for (int h = 0; h < 24; ++h) {
    for (int s = 0; s < ref.S; ++s) {
      double sum = 0;
      for (int a = 0; a < ref.A; ++a) {
        if (!ref.Feasible(s, a)) continue;
        double w = rng.Uniform(0.0, 1.0);
        if (a != ref.K && w < 0.2) w = 0.0;
        if (a == ref.K) w += 0.05;
        t[(static_cast<size_t>(h) * ref.S + s) * ref.A + a] = w;
        sum += w;
      }
      for (int a = 0; a < ref.A; ++a) t[(static_cast<size_t>(h) * ref.S + s) * ref.A + a] /= sum;
    }
  }
  return t;
}

TEST(PolicyTableTest, FollowAndExploitabilityMatchAnIndependentReference) {
  FollowerParams p = Params(0.02);
  p.battery_wear_usd_per_kwh = 0.01;
  p.discount_per_hour = 0.98;
  FollowerParams small_grid = p;
  small_grid.soc_levels = 6;
  small_grid.max_soc_steps_per_hour = 2;
  // 3.0 kW: charging three 1 kWh steps (3.16 kW at the grid) is beyond the limit.
  const std::vector<BatterySpec> batteries = {
      {10.0, 3.0, 0.95, 0.92}, {12.0, 5.0, 0.9, 0.9}, {9.3, 5.0, 1.0, 1.0}};
  for (const FollowerParams& params : {p, small_grid}) {
    for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
      if (!KernelIsaSupported(isa)) continue;
      BatteryBlockSolver block(params, BatteryBlockSolver::kMaxLanes, isa);
      const int n = static_cast<int>(batteries.size());
      block.SetBatteries(batteries.data(), n);
      std::vector<DayData> days;
      std::vector<PolicyReference> refs;
      std::vector<double> tables;
      for (int l = 0; l < n; ++l) days.push_back(RandomDay(700 + l));
      std::vector<HouseholdDayInput> in;
      for (int l = 0; l < n; ++l) {
        refs.emplace_back(params, batteries[l], days[l]);
        const std::vector<double> t = RandomTable(refs[l], 40 + l);
        ASSERT_TRUE(ValidatePolicyTable(params, batteries[l], t.data()).ok());
        tables.insert(tables.end(), t.begin(), t.end());
        in.push_back(days[l].Input());
      }
      ASSERT_EQ(tables.size(), n * block.policy_table_size());
      HouseholdDayOutcome out[8];
      Exploitability gains[8];
      block.Follow(tables.data(), in.data(), out);
      block.MeasurePolicyExploitability(tables.data(), in.data(), gains);
      for (int l = 0; l < n; ++l) {
        SCOPED_TRACE(std::string(KernelIsaName(isa)) + " S=" + std::to_string(params.soc_levels) +
                     " lane " + std::to_string(l));
        const PolicyReference& ref = refs[l];
        const std::vector<double> t(tables.begin() + l * block.policy_table_size(),
                                    tables.begin() + (l + 1) * block.policy_table_size());
        const auto dist = ref.Distributions(t);
        double bill = 0;
        for (int h = 0; h < 24; ++h) {
          double imp = 0, exp = 0, soc = 0;
          for (int s = 0; s < ref.S; ++s) {
            soc += dist[h][s] * s * batteries[l].capacity_kwh / (ref.S - 1);
            for (int a = 0; a < ref.A; ++a) {
              const double w = dist[h][s] * ref.Pi(t, h, s, a);
              imp += w * std::max(ref.Net(h, a), 0.0);
              exp += w * std::max(-ref.Net(h, a), 0.0);
            }
          }
          EXPECT_NEAR(out[l].import_kwh[h], imp, 1e-9) << "hour " << h;
          EXPECT_NEAR(out[l].export_kwh[h], exp, 1e-9) << "hour " << h;
          EXPECT_NEAR(out[l].soc_kwh[h], soc, 1e-9) << "hour " << h;
          bill += days[l].rate[h] * imp - days[l].credit[h] * exp;
        }
        EXPECT_NEAR(out[l].energy_bill_usd, bill, 1e-9);
        EXPECT_EQ(out[l].policy_iterations, 0);
        EXPECT_TRUE(out[l].unique_distribution);
        // Exploitability: (1 - gamma^24) sum_s mu(s) (V*(s) - V^pi(s)).
        const double per_day = 1 - std::pow(params.discount_per_hour, 24);
        const auto soft_pi = ref.FollowedValues(t, true), plain_pi = ref.FollowedValues(t, false);
        const auto soft_best = ref.BestValues(true), plain_best = ref.BestValues(false);
        double soft_gap = 0, plain_gap = 0;
        for (int s = 0; s < ref.S; ++s) {
          soft_gap += dist[0][s] * (soft_best[s] - soft_pi[s]);
          plain_gap += dist[0][s] * (plain_best[s] - plain_pi[s]);
        }
        EXPECT_GT(plain_gap * per_day, 0.05);  // a random table is far from optimal
        EXPECT_NEAR(gains[l].regularised, per_day * soft_gap, 1e-9);
        EXPECT_NEAR(gains[l].plain, per_day * plain_gap, 1e-9);
      }
    }
  }
}

// The best response's own table, followed: the same outcomes as solving, bit
// for bit, and the same exploitability as MeasureExploitability (up to how the
// entropy term is summed).
TEST(PolicyTableTest, TheSolvedPolicyFollowedIsTheSolution) {
  const FollowerParams p;
  std::vector<BatterySpec> batteries;
  std::vector<DayData> belief, realised;
  for (int l = 0; l < 8; ++l) {
    batteries.push_back({9.3 + 0.5 * l, 5.0, 0.95, 0.95});
    belief.push_back(RandomDay(900 + l));
    realised.push_back(belief.back());
    for (int h = 16; h < 22; ++h) realised.back().credit[h] *= 1.2 + 0.1 * l;
  }
  for (KernelIsa isa : {KernelIsa::kBaseline, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!KernelIsaSupported(isa)) continue;
    BatteryBlockSolver block(p, BatteryBlockSolver::kMaxLanes, isa);
    block.SetBatteries(batteries.data(), 8);
    const std::vector<HouseholdDayInput> b = Inputs(belief), r = Inputs(realised);
    HouseholdDayOutcome solved[8], followed[8];
    block.Solve(b.data(), solved, false);
    std::vector<double> tables(8 * block.policy_table_size());
    for (int l = 0; l < 8; ++l) {
      block.CopyPolicy(l, &tables[l * block.policy_table_size()]);
      EXPECT_TRUE(
          ValidatePolicyTable(p, batteries[l], &tables[l * block.policy_table_size()]).ok());
    }
    Exploitability want[8], got[8];
    block.MeasureExploitability(b.data(), r.data(), want, false);
    block.Follow(tables.data(), b.data(), followed);
    block.MeasurePolicyExploitability(tables.data(), r.data(), got);
    for (int l = 0; l < 8; ++l) {
      solved[l].policy_iterations = 0;
      EXPECT_TRUE(SameBits(followed[l], solved[l])) << KernelIsaName(isa) << " lane " << l;
      EXPECT_GT(want[l].plain, 0.0);
      EXPECT_NEAR(got[l].plain, want[l].plain, 1e-12) << KernelIsaName(isa) << " lane " << l;
      EXPECT_NEAR(got[l].regularised, want[l].regularised, 1e-12);
    }
  }
}

// A battery that always idles is a household without one, at an empty battery
// (no move is ever made, so every SoC level is its own closed class).
TEST(PolicyTableTest, AlwaysIdleIsNoBattery) {
  const FollowerParams p;
  const BatterySpec b{13.5, 5.0, 0.95, 0.95};
  BatteryBlockSolver block(p, 1);
  block.SetBatteries(&b, 1);
  const int S = p.soc_levels, A = 2 * p.max_soc_steps_per_hour + 1;
  std::vector<double> idle(block.policy_table_size(), 0.0);
  for (int h = 0; h < 24; ++h) {
    for (int s = 0; s < S; ++s) idle[(static_cast<size_t>(h) * S + s) * A + A / 2] = 1.0;
  }
  ASSERT_TRUE(ValidatePolicyTable(p, b, idle.data()).ok());
  const DayData d = RandomDay(3);
  const HouseholdDayInput in = d.Input();
  HouseholdDayOutcome followed, none;
  block.Follow(idle.data(), &in, &followed);
  NoBatteryOutcome(in, &none);
  for (int h = 0; h < 24; ++h) {
    EXPECT_DOUBLE_EQ(followed.import_kwh[h], none.import_kwh[h]);
    EXPECT_DOUBLE_EQ(followed.export_kwh[h], none.export_kwh[h]);
    EXPECT_EQ(followed.soc_kwh[h], 0.0);
    EXPECT_EQ(followed.battery_kw[h], 0.0);
  }
  EXPECT_NEAR(followed.energy_bill_usd, none.energy_bill_usd, 1e-12);
  EXPECT_FALSE(followed.unique_distribution);
}

// Sampled days (what a learner trains on) use the kernel's rewards, follow the
// table, and average to Follow's exact expected outcomes when they start from
// its midnight distribution.
TEST(PolicyTableTest, SampledDaysFollowTheTableAndAverageToItsOutcomes) {
  FollowerParams p = Params(0.02);
  p.battery_wear_usd_per_kwh = 0.01;
  const BatterySpec b{10.0, 3.0, 0.95, 0.92};  // +3 steps is beyond the power limit
  const DayData d = RandomDay(77);
  const PolicyReference ref(p, b, d);
  const std::vector<double> table = RandomTable(ref, 5);
  ASSERT_TRUE(ValidatePolicyTable(p, b, table.data()).ok());
  BatteryBlockSolver block(p, 1);
  block.SetBatteries(&b, 1);
  const HouseholdDayInput in = d.Input();
  HouseholdDayOutcome followed;
  block.Follow(table.data(), &in, &followed);
  const std::vector<double> mu = block.MidnightDistribution(0);

  constexpr int kDays = 20000;
  CounterRng rng(11, RngPurpose::kTest, 2), again(11, RngPurpose::kTest, 2);
  std::vector<double> imports(24, 0.0), imports_sq(24, 0.0);
  double cost = 0.0, cost_sq = 0.0;
  PolicyStep steps[24], replay[24];
  for (int n = 0; n < kDays; ++n) {
    const int start = rng.Categorical(mu.data(), ref.S);
    again.Categorical(mu.data(), ref.S);
    const absl::StatusOr<int> end = SampleDay(p, b, in, table.data(), start, &rng, steps);
    ASSERT_TRUE(end.ok()) << end.status();
    ASSERT_TRUE(SampleDay(p, b, in, table.data(), start, &again, replay).ok());
    double day_cost = 0.0;
    int s = start;
    for (int h = 0; h < 24; ++h) {
      const PolicyStep& st = steps[h];
      ASSERT_EQ(st.hour, h);
      ASSERT_EQ(st.soc_level, s);
      ASSERT_GT(ref.Pi(table, h, s, st.move + ref.K), 0.0) << "a move the table never takes";
      // The reference's own reward formula (docs/MODEL.md §5), not the kernel's code.
      ASSERT_NEAR(st.reward_usd, ref.Reward(h, st.move + ref.K), 1e-12);
      ASSERT_EQ(replay[h].move, st.move);  // the same rng state, the same day
      ASSERT_EQ(replay[h].reward_usd, st.reward_usd);
      const double imp = std::max(ref.Net(h, st.move + ref.K), 0.0);
      imports[h] += imp;
      imports_sq[h] += imp * imp;
      day_cost -= st.reward_usd;
      s += st.move;
    }
    EXPECT_EQ(*end, s);
    cost += day_cost;
    cost_sq += day_cost * day_cost;
  }
  // Means within 5 standard errors of the exact expectations (a fixed seed: the
  // test is deterministic).
  auto within = [](double sum, double sum_sq, double want, const std::string& what) {
    const double mean = sum / kDays;
    const double se = std::sqrt(std::max(sum_sq / kDays - mean * mean, 1e-18) / kDays);
    EXPECT_NEAR(mean, want, 5 * se + 1e-12) << what;
  };
  for (int h = 0; h < 24; ++h) {
    within(imports[h], imports_sq[h], followed.import_kwh[h], "import, hour " + std::to_string(h));
  }
  within(cost, cost_sq, followed.energy_bill_usd + followed.wear_cost_usd, "bill + wear");

  EXPECT_THAT(SampleDay(p, b, in, table.data(), ref.S, &rng, steps).status(),
              ::smfg::testing_util::StatusIs(absl::StatusCode::kInvalidArgument,
                                             ::testing::HasSubstr("start_level: 11")));
}

TEST(PolicyTableTest, InvalidTablesAreNamed) {
  using ::smfg::testing_util::StatusIs;
  using ::testing::HasSubstr;
  const FollowerParams p;                      // S = 11, K = 3
  const BatterySpec b{10.0, 3.0, 0.95, 0.95};  // +3 steps = 3.16 kW: beyond 3 kW
  const int S = p.soc_levels, A = 2 * p.max_soc_steps_per_hour + 1;
  std::vector<double> idle(static_cast<size_t>(24) * S * A, 0.0);
  for (int h = 0; h < 24; ++h) {
    for (int s = 0; s < S; ++s) idle[(static_cast<size_t>(h) * S + s) * A + 3] = 1.0;
  }
  EXPECT_TRUE(ValidatePolicyTable(p, b, idle.data()).ok());
  auto at = [&](int h, int s, int a) -> size_t { return (static_cast<size_t>(h) * S + s) * A + a; };
  {
    std::vector<double> t = idle;
    t[at(5, 4, 3)] = 0.5;
    t[at(5, 4, 6)] = 0.5;  // +3 steps
    EXPECT_THAT(ValidatePolicyTable(p, b, t.data()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("hour 5, SoC level 4, move +3: probability 0.5 on a move of "
                                   "3.158 kW, beyond the 3 kW limit")));
  }
  {
    std::vector<double> t = idle;
    t[at(0, 1, 3)] = 0.75;
    t[at(0, 1, 0)] = 0.25;  // -3 steps from level 1
    EXPECT_THAT(ValidatePolicyTable(p, b, t.data()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("hour 0, SoC level 1, move -3: probability 0.25 on a move off "
                                   "the SoC grid 0..10")));
  }
  {
    std::vector<double> t = idle;
    t[at(23, 10, 3)] = 0.9;
    EXPECT_THAT(ValidatePolicyTable(p, b, t.data()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("hour 23, SoC level 10: probabilities sum to 0.9")));
  }
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    std::vector<double> t = idle;
    t[at(7, 2, 4)] = bad;
    EXPECT_THAT(ValidatePolicyTable(p, b, t.data()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("hour 7, SoC level 2, move +1: probability")));
  }
}

}  // namespace
}  // namespace smfg::env
