// Test helpers for the DC-OPF (header-only, tests only): a solver-independent
// KKT check, GLPK as an independent second LP solver on a different
// formulation.
#ifndef SMFG_ENVIRONMENT_DCOPF_TESTING_H_
#define SMFG_ENVIRONMENT_DCOPF_TESTING_H_

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_matchers.h"
#include "environment/dcopf.h"
#include "environment/network.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env::testing {

// The project's status matchers (common/status_matchers.h).
using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

inline Generator MakeGen(int bus, double pmax, double linear, double quadratic = 0.0) {
  Generator g;
  g.name = absl::StrCat("g", bus);
  g.bus = bus;
  g.pmax_mw = pmax;
  g.cost_linear = linear;
  g.cost_quadratic = quadratic;
  return g;
}

// Linear DC flows without any solver: flow_l = sum_n ptdf[l][n] P_n + shift_flow[l]
// for net injections P (MW, summing to zero; bus 0 absorbs the balance), from a
// dense Gauss-Jordan inverse of the reduced susceptance matrix. shift_flow is
// what the phase shifters drive with no injection (makeBdc's Pfinj/Pbusinj).
struct DcSensitivity {
  std::vector<std::vector<double>> ptdf;
  std::vector<double> shift_flow;
};

inline DcSensitivity Sensitivity(const Network& net) {
  const int n = static_cast<int>(net.buses.size());
  const int m = n - 1;
  std::vector<std::vector<double>> a(m, std::vector<double>(2 * m, 0.0));
  for (int i = 0; i < m; ++i) a[i][m + i] = 1.0;
  for (const Line& line : net.lines) {
    const double b = net.base_mva / line.reactance_pu;
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
  // Angle of `bus` per MW injected at `inj` (and withdrawn at bus 0).
  auto z = [&](int bus, int inj) { return (bus == 0 || inj == 0) ? 0.0 : a[bus - 1][m + inj - 1]; };
  DcSensitivity s;
  s.ptdf.assign(net.lines.size(), std::vector<double>(n));
  // Phase shifters as injections: B theta = P + shift_injection.
  std::vector<double> shift_injection(n, 0.0);
  for (const Line& line : net.lines) {
    const double bphi = net.base_mva / line.reactance_pu * line.phase_shift_rad;
    shift_injection[line.from_bus] += bphi;
    shift_injection[line.to_bus] -= bphi;
  }
  s.shift_flow.assign(net.lines.size(), 0.0);
  for (size_t l = 0; l < net.lines.size(); ++l) {
    const Line& line = net.lines[l];
    const double b = net.base_mva / line.reactance_pu;
    for (int k = 0; k < n; ++k) {
      s.ptdf[l][k] = b * (z(line.from_bus, k) - z(line.to_bus, k));
      s.shift_flow[l] += s.ptdf[l][k] * shift_injection[k];
    }
    s.shift_flow[l] -= b * line.phase_shift_rad;
  }
  return s;
}

// Checks the KKT conditions of the QP in dcopf.h for `r` without trusting any
// solver: primal feasibility, reduced-cost signs of generators and shedding,
// flows equal to the PTDF flows of the dispatch, complementarity of line
// limits, and LMP_n = LMP_0 - sum_l nu_l PTDF[l][n] with nu_l the signed
// shadow price. These are sufficient for optimality of a convex QP, so they
// verify dispatch and duals. `tol` is in MW, `price_tol` in $/MWh (relative
// above 1 $/MWh).
inline void ExpectKkt(const Network& net, const DcSensitivity& sens,
                      const std::vector<double>& load, int hour, const DispatchResult& r,
                      double tol, double price_tolerance) {
  const int n = static_cast<int>(net.buses.size());
  ASSERT_EQ(r.lmp_per_mwh.size(), static_cast<size_t>(n));
  std::vector<double> injection(n, 0.0);
  auto price_tol = [&](double price) { return price_tolerance * std::max(1.0, std::abs(price)); };
  for (size_t g = 0; g < net.generators.size(); ++g) {
    const Generator& gen = net.generators[g];
    const double p = r.generation_mw[g];
    const double upper = gen.AvailableMw(hour);
    const double lower = std::min(gen.pmin_mw, upper);
    EXPECT_GE(p, lower - tol) << "gen " << g;
    EXPECT_LE(p, upper + tol) << "gen " << g;
    injection[gen.bus] += p;
    const double mc = 2 * gen.cost_quadratic * p + gen.cost_linear;
    const double reduced = mc - r.lmp_per_mwh[gen.bus];
    if (p > lower + tol) {
      EXPECT_LE(reduced, price_tol(mc)) << "gen " << g;
    }
    if (p < upper - tol) {
      EXPECT_GE(reduced, -price_tol(mc)) << "gen " << g;
    }
  }
  for (int b = 0; b < n; ++b) {
    const double shed = r.load_shed_mw[b];
    const double upper = std::max(load[b], 0.0);
    EXPECT_GE(shed, -tol);
    EXPECT_LE(shed, upper + tol);
    injection[b] += shed - load[b];
    const double voll = net.value_of_lost_load_per_mwh;
    const double reduced = voll - r.lmp_per_mwh[b];
    if (shed > tol) {
      EXPECT_LE(reduced, price_tol(voll)) << "bus " << b;
    }
    if (shed < upper - tol) {
      EXPECT_GE(reduced, -price_tol(voll)) << "bus " << b;
    }
  }
  double total = 0.0;
  for (double v : injection) total += v;
  EXPECT_NEAR(total, 0.0, tol);
  std::vector<double> nu(net.lines.size(), 0.0);
  for (size_t l = 0; l < net.lines.size(); ++l) {
    double flow = sens.shift_flow[l];
    for (int b = 0; b < n; ++b) flow += sens.ptdf[l][b] * injection[b];
    EXPECT_NEAR(r.flow_mw[l], flow, tol) << "line " << l;
    const double limit = net.lines[l].limit_mw;
    EXPECT_LE(std::abs(r.flow_mw[l]), limit) << "line " << l;  // clamped: never above
    EXPECT_LE(std::abs(flow), limit + tol) << "line " << l;
    EXPECT_GE(r.line_shadow_price[l], 0.0);
    if (r.line_shadow_price[l] > price_tolerance) {
      const bool at_upper = flow >= limit - tol;
      const bool at_lower = flow <= -limit + tol;
      EXPECT_TRUE(at_upper || at_lower) << "priced line " << l << " not binding";
      nu[l] = at_upper ? r.line_shadow_price[l] : -r.line_shadow_price[l];
    }
  }
  for (int b = 0; b < n; ++b) {
    double expected = r.lmp_per_mwh[0];
    for (size_t l = 0; l < net.lines.size(); ++l) expected -= nu[l] * sens.ptdf[l][b];
    EXPECT_NEAR(r.lmp_per_mwh[b], expected, price_tol(expected)) << "bus " << b;
  }
}

inline void ExpectKkt(const Network& net, const DcSensitivity& sens,
                      const std::vector<double>& load, int hour, const DispatchResult& r,
                      double tol) {
  ExpectKkt(net, sens, load, hour, r, tol, tol);
}

inline void ExpectKkt(const Network& net, const std::vector<double>& load, int hour,
                      const DispatchResult& r, double tol) {
  ExpectKkt(net, Sensitivity(net), load, hour, r, tol, tol);
}

// GLPK as an independent second solver of the linear problem (quadratic costs
// ignored).
struct GlpkSolution {
  bool feasible = true;
  double objective = 0.0;
  std::vector<double> lmp;
  std::vector<double> shadow;  // |reduced cost| of each line's flow column
  bool degenerate = false;     // a basic variable sits on a bound
};

// A deliberately different formulation of the same LP: explicit flow columns
// bounded by the limits, one definition row per line
// (f - b (theta_f - theta_t) = -b phi), balance rows written with flows
// instead of angles, and every angle column free (bus 0's fixed at 0).
inline GlpkSolution SolveWithGlpk(const Network& net, const std::vector<double>& load, int hour) {
  const int n = static_cast<int>(net.buses.size());
  const int ng = static_cast<int>(net.generators.size());
  const int nl = static_cast<int>(net.lines.size());
  constexpr double kInf = std::numeric_limits<double>::infinity();
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
  for (int b = 0; b < n; ++b) glp_set_row_bnds(lp, b + 1, GLP_FX, load[b], load[b]);
  for (int g = 0; g < ng; ++g) {
    const Generator& gen = net.generators[g];
    const double upper = gen.AvailableMw(hour);
    const double lower = std::min(gen.pmin_mw, upper);
    glp_set_col_bnds(lp, g + 1, lower < upper ? GLP_DB : GLP_FX, lower, upper);
    glp_set_obj_coef(lp, g + 1, gen.cost_linear);
    add(gen.bus + 1, g + 1, 1.0);
  }
  for (int b = 0; b < n; ++b) {
    const double upper = std::max(load[b], 0.0);
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
    glp_set_row_bnds(lp, n + l + 1, GLP_FX, -b * line.phase_shift_rad, -b * line.phase_shift_rad);
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
      hi = gen.AvailableMw(hour);
      lo = std::min(gen.pmin_mw, hi);
    } else if (j < flow0) {
      lo = 0.0;
      hi = std::max(load[j - shed0], 0.0);
    } else {
      hi = net.lines[j - flow0].limit_mw;
      lo = -hi;
    }
    if (at_bound(glp_get_col_prim(lp, j), lo, hi)) s.degenerate = true;
  }
  glp_delete_prob(lp);
  return s;
}

}  // namespace smfg::env::testing

#endif  // SMFG_ENVIRONMENT_DCOPF_TESTING_H_
