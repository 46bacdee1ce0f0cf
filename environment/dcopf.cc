// DC-OPF on COIN-OR Clp.
//
// Model layout (one ClpSimplex per DcOpf, built once; every method of every
// Solve() starts from a copy of it with only row and column bounds changed, so
// an hour's answer depends on that hour's data alone):
//   columns: p_g (one per generator), shed_n (one per bus, upper bound
//            max(load_n, 0) so buses without positive load cannot shed),
//            theta_n for buses 1..N-1 (bus 0 is the reference; leaving its
//            column out fixes its angle at 0 without a fixed column).
//   rows:    one balance row per bus, in MW, with g_l = b_l (theta_from - theta_to)
//            and b_l = base_mva / x_l:
//              sum p + shed - sum_{l out of n} g_l + sum_{l into n} g_l
//                  = load_n - sum_{l out of n} b_l phi_l + sum_{l into n} b_l phi_l
//            (the flow is f_l = g_l - b_l phi_l; the phase-shift term is a
//            constant and moves to the right-hand side, as MATPOWER's Pbusinj);
//            then one row per line with a finite limit whose activity is g_l,
//            bounded by [-limit + b_l phi_l, limit + b_l phi_l]. Unlimited
//            lines need no row: their flow is recomputed from the angles.
// Clp minimises with reduced costs d = c - A^T y, so the dual y_n of a balance
// row is d(cost)/d(load_n): the LMP, positive in normal cases. A limit row's dual
// is the cost change per MW of extra limit; its absolute value is the shadow
// price.
//
// Quadratic costs: Clp's own QP (loadQuadraticObjective + primal(), the
// reduced-gradient method in ClpSimplexNonlinear). Its row duals at the end are
// those of the objective linearised at the optimum, i.e. exact KKT multipliers:
// LMP = 2 a p + b of the marginal unit. Linear networks (all a = 0) never load
// a quadratic objective and use dual simplex first.
//
// Why the checks and the fallback chain (dcopf.h states them). Found by
// dcopf_test's random and GLPK cross-checks and by MATPOWER's cases:
//  * with free angle columns, dual simplex from a slack basis reported
//    "primal infeasible" on a few feasible 3-6 bus LPs;
//  * the scaled QP primal stops early on case118 at most load levels (a unit
//    left 0.0006 MW above its lower bound with a reduced cost of 10 $/MWh, so
//    the dispatch and the LMPs are those of a not-quite-optimal point); the
//    same method unscaled, with geometric scaling, or barrier solve those;
//  * on the default three-bus network, the scaled QP returned 25.00008 MW on a
//    25 MW line (Clp's secondary status 2: "scaled problem optimal, unscaled
//    problem has primal infeasibilities"): the line row's coefficients are
//    base_mva / x = 1000, so Clp's 1e-7 scaled tolerance is ~1e-4 MW
//    unscaled. That answer is the exact optimum of the problem with a
//    25.00008 MW limit; a check at Clp's scaled tolerance rejected it and
//    aborted a training run.
// Angle columns get a box that is never active at an optimum, because free
// columns trouble the simplex. Lossless DC flows on positive reactances without
// phase shifters are acyclic, so no line carries more than the total injection
// F <= sum_g |p_g| + sum_n |load_n|, and every bus is reached from bus 0 by a
// path of reactance at most sum_l x_l, so |theta_n| <= F * sum_l x_l /
// base_mva; we use twice that. With a negative reactance or a phase shifter,
// flows can circulate, so the bound comes from the reduced susceptance matrix
// instead: theta = Z P with Z = B_r^-1, |theta_n| <= max|Z| * sum_n |P_n|
// (computed once, densely, up to kMaxDenseBuses buses; larger such networks
// get free angle columns). The check treats angle columns as free, so a box
// that were active would fail it rather than pass silently.
#include "environment/dcopf.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ClpSimplex.hpp"
#include "CoinError.hpp"
#include "CoinFinite.hpp"
#include "CoinPackedMatrix.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/status.h"
#include "environment/network.h"

namespace smfg::env {
namespace {

constexpr int kHoursPerDay = 24;

// Multiples of Clp's own tolerances (dcopf.h explains each).
constexpr double kFeasibilityFactor = 100.0;
constexpr double kDualFactor = 10.0;
// Duals this small are solver noise on a non-binding limit row.
constexpr double kDualNoise = 1e-9;
// Clp aborts (assert) on objective coefficients >= 1e25 and loses accuracy
// long before; real networks sit many orders of magnitude inside this.
constexpr double kMaxMagnitude = 1e9;
// Largest network (buses) whose angle bound is computed from the dense inverse
// of its susceptance matrix when it has negative reactances or phase shifters.
constexpr int kMaxDenseBuses = 2000;
// A pivot this small relative to the largest susceptance makes B_r singular.
constexpr double kSingularPivot = 1e-10;

enum class Algorithm { kDualSimplex, kPrimalSimplex, kBarrier };

// Clp's scaling modes (ClpModel::scaling): 0 off, 2 geometric; kScalingDefault
// leaves the model's own setting (Clp's default, automatic) untouched.
constexpr int kScalingDefault = -1;
constexpr int kScalingOff = 0;
constexpr int kScalingGeometric = 2;

struct Method {
  const char* name;
  Algorithm algorithm;
  int scaling;
};

// The fallback chains (dcopf.h). The first entry of each is the method used
// before fallbacks existed, so hours it solves are answered bit for bit as
// before.
constexpr Method kQuadraticChain[] = {
    {"QP primal", Algorithm::kPrimalSimplex, kScalingDefault},
    {"QP primal, unscaled", Algorithm::kPrimalSimplex, kScalingOff},
    {"QP primal, geometric scaling", Algorithm::kPrimalSimplex, kScalingGeometric},
    {"QP barrier + crossover", Algorithm::kBarrier, kScalingDefault},
};
constexpr Method kLinearChain[] = {
    {"dual simplex", Algorithm::kDualSimplex, kScalingDefault},
    {"primal simplex", Algorithm::kPrimalSimplex, kScalingDefault},
    {"dual simplex, unscaled", Algorithm::kDualSimplex, kScalingOff},
    {"primal simplex, unscaled", Algorithm::kPrimalSimplex, kScalingOff},
    {"barrier + crossover", Algorithm::kBarrier, kScalingDefault},
};

const char* ClpStatusName(int status) {
  switch (status) {
    case 0:
      return "optimal";
    case 1:
      return "primal infeasible";
    case 2:
      return "dual infeasible (unbounded)";
    case 3:
      return "stopped on iterations or time";
    case 4:
      return "stopped due to errors";
    case 5:
      return "stopped by event handler";
    default:
      return "unknown";
  }
}

absl::Status CheckMagnitude(absl::string_view path, double value) {
  if (std::abs(value) > kMaxMagnitude) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": magnitude must be <= ", kMaxMagnitude,
                                                   " for the solver, got ", value));
  }
  return absl::OkStatus();
}

// Ranges the solver can represent, beyond what ValidateNetwork requires.
absl::Status CheckSolverRange(const Network& network) {
  SMFG_RETURN_IF_ERROR(
      CheckMagnitude("value_of_lost_load_per_mwh", network.value_of_lost_load_per_mwh));
  for (size_t g = 0; g < network.generators.size(); ++g) {
    const Generator& gen = network.generators[g];
    const std::string p = absl::StrCat("generators[", g, "]");
    SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".pmin_mw", gen.pmin_mw));
    SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".pmax_mw", gen.pmax_mw));
    SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".cost_linear", gen.cost_linear));
    SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".cost_quadratic", gen.cost_quadratic));
  }
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const Line& line = network.lines[l];
    const std::string p = absl::StrCat("lines[", l, "]");
    if (std::isfinite(line.limit_mw)) {
      SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".limit_mw", line.limit_mw));
    }
    const double b = network.base_mva / std::abs(line.reactance_pu);
    if (!(b <= kMaxMagnitude && b >= 1.0 / kMaxMagnitude)) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, ".reactance_pu: base_mva / |reactance_pu| must be in [",
                       1.0 / kMaxMagnitude, ", ", kMaxMagnitude, "] for the solver, got ", b));
    }
    // The shifted flow b * phi must stay representable too.
    SMFG_RETURN_IF_ERROR(CheckMagnitude(p + ".phase_shift_rad", b * line.phase_shift_rad));
  }
  return absl::OkStatus();
}

// max_{n,k} |(B_r^-1)_{nk}| in radians per MW, B_r the susceptance matrix
// (MW per radian) without bus 0's row and column, by Gauss-Jordan with partial
// pivoting. INVALID_ARGUMENT if B_r is singular.
absl::StatusOr<double> MaxAngleSensitivity(const Network& network,
                                           const std::vector<double>& susceptance_mw) {
  const int m = static_cast<int>(network.buses.size()) - 1;
  if (m <= 0) return 0.0;
  std::vector<double> a(static_cast<size_t>(m) * 2 * m, 0.0);
  auto at = [&](int r, int c) -> double& { return a[static_cast<size_t>(r) * 2 * m + c]; };
  for (int i = 0; i < m; ++i) at(i, m + i) = 1.0;
  double largest = 0.0;
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const double b = susceptance_mw[l];
    largest = std::max(largest, std::abs(b));
    const int f = network.lines[l].from_bus - 1, t = network.lines[l].to_bus - 1;
    if (f >= 0) at(f, f) += b;
    if (t >= 0) at(t, t) += b;
    if (f >= 0 && t >= 0) {
      at(f, t) -= b;
      at(t, f) -= b;
    }
  }
  for (int c = 0; c < m; ++c) {
    int pivot = c;
    for (int r = c + 1; r < m; ++r) {
      if (std::abs(at(r, c)) > std::abs(at(pivot, c))) pivot = r;
    }
    if (!(std::abs(at(pivot, c)) > kSingularPivot * largest)) {
      return absl::InvalidArgumentError(
          "lines: the network's susceptance matrix is singular (negative reactances cancel "
          "positive ones), so its DC flows are not determined by the injections");
    }
    if (pivot != c) {
      for (int k = 0; k < 2 * m; ++k) std::swap(at(c, k), at(pivot, k));
    }
    const double d = at(c, c);
    for (int k = 0; k < 2 * m; ++k) at(c, k) /= d;
    for (int r = 0; r < m; ++r) {
      const double factor = at(r, c);
      if (r == c || factor == 0.0) continue;
      for (int k = 0; k < 2 * m; ++k) at(r, k) -= factor * at(c, k);
    }
  }
  double max_abs = 0.0;
  for (int r = 0; r < m; ++r) {
    for (int k = m; k < 2 * m; ++k) max_abs = std::max(max_abs, std::abs(at(r, k)));
  }
  return max_abs;
}

// One hour's bounds, as applied to the model and checked by Check().
struct HourBounds {
  absl::Span<const double> load_mw;
  std::vector<double> gen_lower;
  std::vector<double> gen_upper;
  // S of dcopf.h: largest load or unit bound, at least 1 MW.
  double scale = 1.0;
};

// The outcome of checking one answer (dcopf.h "What is checked").
struct CheckResult {
  absl::Status status;  // the first violation beyond tolerance, if any
  double primal_residual_mw = 0.0;
  double dual_residual_per_mwh = 0.0;
};

}  // namespace

struct DcOpf::Impl {
  ClpSimplex model;
  bool quadratic = false;
  int num_buses = 0;
  int num_gens = 0;
  int shed_col0 = 0;
  int theta_col0 = 0;
  std::vector<int> line_row;           // -1 for unlimited lines
  std::vector<double> susceptance_mw;  // b_l = base_mva / x_l, per line (may be < 0)
  std::vector<double> shift_mw;        // b_l phi_l, per line
  // Constant right-hand-side term of each balance row from the phase shifters:
  // -sum_{l out of n} b_l phi_l + sum_{l into n} b_l phi_l.
  std::vector<double> balance_shift_mw;
  double total_abs_shift_mw = 0.0;
  // Positive reactances and no phase shifter: sum_l x_l / base_mva, radians
  // per MW along the longest possible path. Otherwise max|B_r^-1|, or 0 for
  // free angle columns (see the top of this file).
  bool acyclic_flows = true;
  double radians_per_mw = 0.0;
  // This hour's box on the angle columns (COIN_DBL_MAX: free).
  double theta_bound = 0.0;
  std::vector<std::string> method_names;
  absl::Span<const Method> chain;
  SolutionHook hook;
  // The model as built, never solved: every method starts from a copy.
  std::unique_ptr<ClpSimplex> pristine;

  int ThetaCol(int bus) const { return bus == 0 ? -1 : theta_col0 + bus - 1; }

  // Sets this hour's bounds on `model`.
  void ApplyBounds(const HourBounds& bounds);

  // Re-checks Clp's answer against the KKT conditions from the network data
  // with the tolerances of dcopf.h.
  CheckResult Check(const Network& network, const HourBounds& bounds) const;
};

void DcOpf::Impl::ApplyBounds(const HourBounds& bounds) {
  for (int g = 0; g < num_gens; ++g) {
    model.setColumnBounds(g, bounds.gen_lower[g], bounds.gen_upper[g]);
  }
  for (int n = 0; n < num_buses; ++n) {
    const double rhs = bounds.load_mw[n] + balance_shift_mw[n];
    model.setRowBounds(n, rhs, rhs);
    model.setColumnBounds(shed_col0 + n, 0.0, std::max(bounds.load_mw[n], 0.0));
  }
  for (int n = 1; n < num_buses; ++n) {
    model.setColumnBounds(ThetaCol(n), -theta_bound, theta_bound);
  }
}

CheckResult DcOpf::Impl::Check(const Network& network, const HourBounds& bounds) const {
  const double* x = model.primalColumnSolution();
  const double* y = model.dualRowSolution();
  const double* col_lower = model.columnLower();
  const double* col_upper = model.columnUpper();
  const double active_tol = model.primalTolerance() * bounds.scale;
  const double feasibility_tol = kFeasibilityFactor * active_tol;
  const double dual_factor = kDualFactor * model.dualTolerance();
  CheckResult result;
  auto primal = [&](double violation, auto&& describe) {
    result.primal_residual_mw = std::max(result.primal_residual_mw, violation);
    if (violation > feasibility_tol && result.status.ok()) {
      result.status = absl::InternalError(describe());
    }
  };

  // Primal, recomputed from the network rather than Clp's row activities.
  std::vector<double> imbalance(bounds.load_mw.begin(), bounds.load_mw.end());
  for (int g = 0; g < num_gens; ++g) imbalance[network.generators[g].bus] -= x[g];
  for (int n = 0; n < num_buses; ++n) imbalance[n] -= x[shed_col0 + n];
  for (int col = 0; col < theta_col0; ++col) {
    primal(std::max({col_lower[col] - x[col], x[col] - col_upper[col], 0.0}), [&] {
      return absl::StrCat("Clp returned column ", col, " at ", x[col], ", outside [",
                          col_lower[col], ", ", col_upper[col], "]");
    });
  }
  auto angle = [&](int bus) { return bus == 0 ? 0.0 : x[ThetaCol(bus)]; };
  std::vector<double> flow(network.lines.size());
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const Line& line = network.lines[l];
    flow[l] = susceptance_mw[l] * (angle(line.from_bus) - angle(line.to_bus)) - shift_mw[l];
    primal(std::max(std::abs(flow[l]) - line.limit_mw, 0.0), [&] {
      return absl::StrCat("Clp returned ", flow[l], " MW on line ", l, " (", line.name,
                          "), above its limit ", line.limit_mw);
    });
    imbalance[line.from_bus] += flow[l];
    imbalance[line.to_bus] -= flow[l];
  }
  for (int n = 0; n < num_buses; ++n) {
    primal(std::abs(imbalance[n]), [&] {
      return absl::StrCat("Clp returned a dispatch that leaves ", imbalance[n],
                          " MW unbalanced at bus ", n);
    });
  }

  // Dual: d = grad f(x) - A^T y must be >= 0 unless at the upper bound, <= 0
  // unless at the lower bound (so free for a fixed column), and 0 for the
  // angles, which are free in the problem.
  const CoinPackedMatrix* a = model.matrix();
  const CoinBigIndex* start = a->getVectorStarts();
  const int* length = a->getVectorLengths();
  const int* row = a->getIndices();
  const double* element = a->getElements();
  auto dual = [&](double violation, double magnitude, auto&& describe) {
    result.dual_residual_per_mwh = std::max(result.dual_residual_per_mwh, violation);
    if (violation > dual_factor * (1.0 + magnitude) && result.status.ok()) {
      result.status = absl::InternalError(describe());
    }
  };
  for (int col = 0; col < model.numberColumns(); ++col) {
    double gradient = 0.0;
    if (col < num_gens) {
      const Generator& gen = network.generators[col];
      gradient = 2.0 * gen.cost_quadratic * x[col] + gen.cost_linear;
    } else if (col < theta_col0) {
      gradient = network.value_of_lost_load_per_mwh;
    }
    double reduced = gradient;
    double magnitude = std::abs(gradient);
    for (CoinBigIndex k = start[col]; k < start[col] + length[col]; ++k) {
      reduced -= element[k] * y[row[k]];
      magnitude += std::abs(element[k] * y[row[k]]);
    }
    double violation = std::abs(reduced);
    if (col < theta_col0) {
      const bool at_lower = x[col] <= col_lower[col] + active_tol;
      const bool at_upper = x[col] >= col_upper[col] - active_tol;
      violation = std::max(at_lower ? 0.0 : reduced, at_upper ? 0.0 : -reduced);
      violation = std::max(violation, 0.0);
    }
    dual(violation, magnitude, [&] {
      return absl::StrCat("Clp returned inconsistent duals: column ", col, " at ", x[col],
                          " has reduced cost ", reduced, (col < num_gens ? " (generator " : ""),
                          (col < num_gens ? network.generators[col].name : ""),
                          (col < num_gens ? ")" : ""));
    });
  }
  // A limit row's dual y = d(cost)/d(bound) is <= 0 only at its upper bound and
  // >= 0 only at its lower bound.
  for (size_t l = 0; l < network.lines.size(); ++l) {
    if (line_row[l] < 0) continue;
    const double mu = y[line_row[l]];
    const double limit = network.lines[l].limit_mw;
    const double violation = std::max(flow[l] >= limit - active_tol ? 0.0 : -mu,
                                      flow[l] <= -limit + active_tol ? 0.0 : mu);
    dual(std::max(violation, 0.0), std::abs(mu), [&] {
      return absl::StrCat("Clp returned shadow price ", mu, " on line ", l, " carrying ", flow[l],
                          " MW of its ", limit, " MW limit");
    });
  }
  return result;
}

DcOpf::DcOpf(const Network& network) : network_(network), impl_(std::make_unique<Impl>()) {}

DcOpf::~DcOpf() = default;

const std::vector<std::string>& DcOpf::method_names() const { return impl_->method_names; }

void DcOpf::SetSolutionHookForTesting(SolutionHook hook) { impl_->hook = std::move(hook); }

absl::StatusOr<std::unique_ptr<DcOpf>> DcOpf::Create(const Network& network) {
  SMFG_RETURN_IF_ERROR(ValidateNetwork(network));
  SMFG_RETURN_IF_ERROR(CheckSolverRange(network));
  std::unique_ptr<DcOpf> opf(new DcOpf(network));
  Impl& m = *opf->impl_;
  m.num_buses = static_cast<int>(network.buses.size());
  m.num_gens = static_cast<int>(network.generators.size());
  m.shed_col0 = m.num_gens;
  m.theta_col0 = m.num_gens + m.num_buses;
  const int num_cols = m.theta_col0 + m.num_buses - 1;

  int num_rows = m.num_buses;
  m.line_row.assign(network.lines.size(), -1);
  m.susceptance_mw.resize(network.lines.size());
  m.shift_mw.resize(network.lines.size());
  m.balance_shift_mw.assign(m.num_buses, 0.0);
  double total_reactance_per_mw = 0.0;
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const Line& line = network.lines[l];
    m.susceptance_mw[l] = network.base_mva / line.reactance_pu;
    m.shift_mw[l] = m.susceptance_mw[l] * line.phase_shift_rad;
    m.balance_shift_mw[line.from_bus] -= m.shift_mw[l];
    m.balance_shift_mw[line.to_bus] += m.shift_mw[l];
    m.total_abs_shift_mw += std::abs(m.shift_mw[l]);
    total_reactance_per_mw += 1.0 / m.susceptance_mw[l];
    if (line.reactance_pu < 0.0 || line.phase_shift_rad != 0.0) m.acyclic_flows = false;
    if (std::isfinite(line.limit_mw)) m.line_row[l] = num_rows++;
  }
  if (m.acyclic_flows) {
    m.radians_per_mw = total_reactance_per_mw;
  } else if (m.num_buses <= kMaxDenseBuses) {
    SMFG_ASSIGN_OR_RETURN(m.radians_per_mw, MaxAngleSensitivity(network, m.susceptance_mw));
  }

  // Several lines (parallel ones included) hit the same (angle, row) entry, so
  // accumulate per column before handing Clp a duplicate-free matrix.
  std::vector<std::map<int, double>> columns(num_cols);
  for (int g = 0; g < m.num_gens; ++g) columns[g][network.generators[g].bus] += 1.0;
  for (int n = 0; n < m.num_buses; ++n) columns[m.shed_col0 + n][n] += 1.0;
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const Line& line = network.lines[l];
    const double b = m.susceptance_mw[l];
    for (const auto& [bus, sign] :
         {std::pair<int, double>{line.from_bus, 1.0}, std::pair<int, double>{line.to_bus, -1.0}}) {
      const int col = m.ThetaCol(bus);
      if (col < 0) continue;
      // Flow leaves the from bus and enters the to bus.
      columns[col][line.from_bus] -= sign * b;
      columns[col][line.to_bus] += sign * b;
      if (m.line_row[l] >= 0) columns[col][m.line_row[l]] += sign * b;
    }
  }
  CoinPackedMatrix matrix(/*colordered=*/true, 0, 0);
  matrix.setDimensions(num_rows, 0);
  for (const auto& column : columns) {
    std::vector<int> rows;
    std::vector<double> values;
    for (const auto& [row, value] : column) {
      if (value == 0.0) continue;
      rows.push_back(row);
      values.push_back(value);
    }
    matrix.appendCol(static_cast<int>(rows.size()), rows.data(), values.data());
  }

  std::vector<double> col_lower(num_cols, -COIN_DBL_MAX);
  std::vector<double> col_upper(num_cols, COIN_DBL_MAX);
  std::vector<double> objective(num_cols, 0.0);
  for (int g = 0; g < m.num_gens; ++g) {
    const Generator& gen = network.generators[g];
    col_lower[g] = gen.pmin_mw;
    col_upper[g] = gen.pmax_mw;
    objective[g] = gen.cost_linear;
    if (gen.cost_quadratic > 0.0) m.quadratic = true;
  }
  m.chain = m.quadratic ? absl::MakeConstSpan(kQuadraticChain) : absl::MakeConstSpan(kLinearChain);
  for (const Method& method : m.chain) m.method_names.emplace_back(method.name);
  for (int n = 0; n < m.num_buses; ++n) {
    col_lower[m.shed_col0 + n] = 0.0;
    col_upper[m.shed_col0 + n] = 0.0;
    objective[m.shed_col0 + n] = network.value_of_lost_load_per_mwh;
  }
  std::vector<double> row_lower(num_rows, 0.0);
  std::vector<double> row_upper(num_rows, 0.0);
  for (size_t l = 0; l < network.lines.size(); ++l) {
    if (m.line_row[l] < 0) continue;
    row_lower[m.line_row[l]] = -network.lines[l].limit_mw + m.shift_mw[l];
    row_upper[m.line_row[l]] = network.lines[l].limit_mw + m.shift_mw[l];
  }

  try {
    m.model.setLogLevel(0);
    m.model.loadProblem(matrix, col_lower.data(), col_upper.data(), objective.data(),
                        row_lower.data(), row_upper.data());
    if (m.quadratic) {
      // Clp's quadratic term is 0.5 x^T Q x, so Q_gg = 2 a_g.
      std::vector<CoinBigIndex> start(num_cols + 1, 0);
      std::vector<int> index;
      std::vector<double> element;
      for (int col = 0; col < num_cols; ++col) {
        start[col] = static_cast<CoinBigIndex>(index.size());
        if (col < m.num_gens && network.generators[col].cost_quadratic > 0.0) {
          index.push_back(col);
          element.push_back(2.0 * network.generators[col].cost_quadratic);
        }
      }
      start[num_cols] = static_cast<CoinBigIndex>(index.size());
      m.model.loadQuadraticObjective(num_cols, start.data(), index.data(), element.data());
    }
    m.pristine = std::make_unique<ClpSimplex>(m.model);
  } catch (const CoinError& e) {
    return absl::InternalError(absl::StrCat("Clp rejected the DC-OPF model: ", e.className(),
                                            "::", e.methodName(), ": ", e.message()));
  }
  return opf;
}

absl::StatusOr<DispatchResult> DcOpf::Solve(absl::Span<const double> load_mw, int hour) {
  Impl& m = *impl_;
  if (static_cast<int>(load_mw.size()) != m.num_buses) {
    return absl::InvalidArgumentError(absl::StrCat("load_mw: expected one value per bus (",
                                                   m.num_buses, "), got ", load_mw.size()));
  }
  for (size_t n = 0; n < load_mw.size(); ++n) {
    if (!std::isfinite(load_mw[n])) {
      return absl::InvalidArgumentError(
          absl::StrCat("load_mw[", n, "]: must be finite, got ", load_mw[n]));
    }
    SMFG_RETURN_IF_ERROR(CheckMagnitude(absl::StrCat("load_mw[", n, "]"), load_mw[n]));
  }
  if (hour < 0 || hour >= kHoursPerDay) {
    return absl::InvalidArgumentError(
        absl::StrCat("hour: must be in [0, ", kHoursPerDay, "), got ", hour));
  }

  HourBounds bounds;
  bounds.load_mw = load_mw;
  bounds.gen_lower.resize(m.num_gens);
  bounds.gen_upper.resize(m.num_gens);
  double total_gen_bound = 0.0;
  double total_abs_load = 0.0;
  double total_load = 0.0;
  double total_lower = 0.0;
  for (double load : load_mw) {
    total_abs_load += std::abs(load);
    total_load += load;
    bounds.scale = std::max(bounds.scale, std::abs(load));
  }
  for (int g = 0; g < m.num_gens; ++g) {
    const Generator& gen = network_.generators[g];
    const double upper = gen.AvailableMw(hour);
    // A unit with a must-run minimum cannot be forced above what its resource
    // allows this hour, so availability wins over pmin.
    const double lower = std::min(gen.pmin_mw, upper);
    bounds.gen_lower[g] = lower;
    bounds.gen_upper[g] = upper;
    total_gen_bound += std::max(std::abs(lower), std::abs(upper));
    total_lower += lower;
    bounds.scale = std::max({bounds.scale, std::abs(upper), std::abs(lower)});
  }
  // Never binding (see the top of this file); keeps Clp off free columns.
  // A function of this hour's data only, like everything else in a solve.
  if (m.radians_per_mw == 0.0) {
    m.theta_bound = COIN_DBL_MAX;
  } else if (m.acyclic_flows) {
    m.theta_bound = 2.0 * (total_gen_bound + total_abs_load) * m.radians_per_mw;
  } else {
    m.theta_bound = 2.0 * (total_gen_bound + 2.0 * total_abs_load + 2.0 * m.total_abs_shift_mw) *
                    m.radians_per_mw;
  }

  // Every method starts from the model as built, never from the previous
  // hour's basis or from another method's end point: a warm start made the
  // answer depend, in its last bits, on which hour was solved before, and the
  // determinism contract (DESIGN §4) needs clearing to be a function of this
  // hour's data alone (a resumed or re-distributed run clears hours in a
  // different order).
  std::vector<std::string> failures;
  int solved_by = -1;
  CheckResult accepted;
  for (size_t i = 0; i < m.chain.size() && solved_by < 0; ++i) {
    const Method& method = m.chain[i];
    try {
      m.model = *m.pristine;
      if (method.scaling != kScalingDefault) m.model.scaling(method.scaling);
      m.ApplyBounds(bounds);
      switch (method.algorithm) {
        case Algorithm::kDualSimplex:
          m.model.dual();
          break;
        case Algorithm::kPrimalSimplex:
          m.model.primal();
          break;
        case Algorithm::kBarrier:
          m.model.barrier(/*crossover=*/true);
          break;
      }
    } catch (const CoinError& e) {
      failures.push_back(absl::StrCat(method.name, ": Clp failed: ", e.className(),
                                      "::", e.methodName(), ": ", e.message()));
      continue;
    }
    const int status = m.model.status();
    if (status != 0) {
      failures.push_back(absl::StrCat(method.name, ": Clp status ", status, " (",
                                      ClpStatusName(status), "), secondary status ",
                                      m.model.secondaryStatus()));
      continue;
    }
    if (m.hook) {
      m.hook(static_cast<int>(i),
             absl::MakeSpan(m.model.primalColumnSolution(), m.model.numberColumns()),
             absl::MakeSpan(m.model.dualRowSolution(), m.model.numberRows()));
    }
    CheckResult check = m.Check(network_, bounds);
    if (!check.status.ok()) {
      failures.push_back(absl::StrCat(method.name, ": ", check.status.message()));
      continue;
    }
    accepted = check;
    solved_by = static_cast<int>(i);
  }
  if (solved_by < 0) {
    std::string why;
    if (total_load < total_lower) {
      why = absl::StrCat(" (net load ", total_load, " MW is below the units' minimum output ",
                         total_lower, " MW this hour; the model has no spill)");
    }
    return absl::InternalError(absl::StrCat("hour ", hour, ": no method solved the DC-OPF", why,
                                            ": ", absl::StrJoin(failures, "; ")));
  }

  // Accepted within tolerance: report values clamped into their bounds and
  // Clp's duals unchanged (dcopf.h).
  const double* x = m.model.primalColumnSolution();
  const double* y = m.model.dualRowSolution();
  const double active_tol = m.model.primalTolerance() * bounds.scale;
  DispatchResult result;
  result.method = solved_by;
  result.primal_residual_mw = accepted.primal_residual_mw;
  result.dual_residual_per_mwh = accepted.dual_residual_per_mwh;
  auto clamp = [&](double value, double lower, double upper) {
    const double clamped = std::min(std::max(value, lower), upper);
    if (std::abs(clamped - value) > active_tol) result.clamped = true;
    return clamped;
  };
  result.lmp_per_mwh.assign(y, y + m.num_buses);
  result.generation_mw.resize(m.num_gens);
  for (int g = 0; g < m.num_gens; ++g) {
    const Generator& gen = network_.generators[g];
    const double p = clamp(x[g], bounds.gen_lower[g], bounds.gen_upper[g]);
    result.generation_mw[g] = p;
    result.generation_cost_per_hour +=
        gen.cost_quadratic * p * p + gen.cost_linear * p + gen.cost_fixed;
  }
  result.load_shed_mw.resize(m.num_buses);
  for (int n = 0; n < m.num_buses; ++n) {
    const double shed = clamp(x[m.shed_col0 + n], 0.0, std::max(load_mw[n], 0.0));
    result.load_shed_mw[n] = shed;
    result.total_shed_mw += shed;
  }
  const size_t num_lines = network_.lines.size();
  result.flow_mw.resize(num_lines);
  result.line_shadow_price.assign(num_lines, 0.0);
  auto angle = [&](int bus) { return bus == 0 ? 0.0 : x[m.ThetaCol(bus)]; };
  for (size_t l = 0; l < num_lines; ++l) {
    const Line& line = network_.lines[l];
    const double flow =
        m.susceptance_mw[l] * (angle(line.from_bus) - angle(line.to_bus)) - m.shift_mw[l];
    result.flow_mw[l] = clamp(flow, -line.limit_mw, line.limit_mw);
    if (m.line_row[l] >= 0) {
      const double mu = std::abs(y[m.line_row[l]]);
      result.line_shadow_price[l] = mu > kDualNoise ? mu : 0.0;
    }
  }
  return result;
}

}  // namespace smfg::env
