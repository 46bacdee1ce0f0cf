// DC-OPF on COIN-OR Clp.
//
// Model layout (one ClpSimplex per DcOpf, built once; Solve() copies it and
// changes only row and column bounds, so every hour starts from the same model
// and its answer depends on that hour's data alone):
//   columns: p_g (one per generator), shed_n (one per bus, upper bound
//            max(load_n, 0) so buses without positive load cannot shed),
//            theta_n for buses 1..N-1 (bus 0 is the reference; leaving its
//            column out fixes its angle at 0 without a fixed column).
//   rows:    one balance row per bus, in MW:
//              sum p + shed - sum_l b_l (theta_from - theta_to) [out of n]
//                          + sum_l b_l (theta_from - theta_to) [into n] = load_n,
//            with b_l = base_mva / x_l; then one row per line with a finite
//            limit whose activity is the flow b_l (theta_from - theta_to) in MW,
//            bounded by +-limit. Unlimited lines need no row: their flow is
//            recomputed from the angles.
// Clp minimises with reduced costs d = c - A^T y, so the dual y_n of a balance
// row is d(cost)/d(load_n): the LMP, positive in normal cases. A limit row's dual
// is the cost change per MW of extra limit; its absolute value is the shadow
// price.
//
// Quadratic costs: we use Clp's own QP (loadQuadraticObjective + primal(), the
// reduced-gradient method in ClpSimplexNonlinear). Its row duals at the end are
// those of the objective linearised at the optimum, i.e. exact KKT multipliers:
// LMP = 2 a p + b of the marginal unit. dcopf_test checks them against
// hand-derived values, and against an independent KKT check (reduced-cost
// signs, PTDF-consistent congestion components) on 1000 random congested
// networks (20000 once by hand), so no second method is needed for the duals.
// Linear networks (all a = 0) never load a quadratic objective and use dual
// simplex.
//
// Clp is nevertheless not trusted blindly. Found by dcopf_test's random and
// GLPK cross-checks:
//  * with free angle columns, dual simplex from a slack basis reported
//    "primal infeasible" on a few feasible 3-6 bus LPs;
//  * after an infeasible hour, the warm-started QP sometimes reported a
//    feasible hour infeasible, or "optimal" with a dispatch leaving 0.2 MW
//    unbalanced, and a slack-basis restart on the same object did not help.
// Hence: (1) angle columns get a box that is never active: lossless DC flows
// are acyclic, so no line carries more than the total injection
// F <= sum_g |p_g| + sum_n |load_n|, and every bus is reached from bus 0 by a
// path of reactance at most sum_l x_l, so |theta_n| <= F * sum_l x_l /
// base_mva; we use twice that. (2) Every answer goes through Verify(), a full
// KKT check from the network data (sufficient for optimality of this convex
// problem). (3) Every solve starts from a copy of the unsolved model (no warm
// start: see Solve()), and a failed or unverified LP solve is retried with the
// other simplex, so an error is exactly what a newly created DcOpf would
// report: INTERNAL, e.g. for a truly infeasible hour (net injection the network
// cannot absorb; the model has no spill).
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
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/status.h"
#include "environment/network.h"

namespace smfg::env {
namespace {

constexpr int kHoursPerDay = 24;

// Reduced-cost tolerance of the post-solve check, relative to the magnitude of
// the terms summed into it; Clp's own dual tolerance is 1e-7 on scaled values.
constexpr double kStationarityTolerance = 1e-6;
// Allowed bound/balance violation, relative to the largest load or capacity
// (Clp's own primal tolerance is 1e-7 on the scaled problem).
constexpr double kFeasibilityTolerance = 1e-7;
// Duals this small are solver noise on a non-binding limit row.
constexpr double kDualNoise = 1e-9;
// Clp aborts (assert) on objective coefficients >= 1e25 and loses accuracy
// long before; real networks sit many orders of magnitude inside this.
constexpr double kMaxMagnitude = 1e9;

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
    const double b = network.base_mva / line.reactance_pu;
    if (!(b <= kMaxMagnitude && b >= 1.0 / kMaxMagnitude)) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, ".reactance_pu: base_mva / reactance_pu must be in [",
                       1.0 / kMaxMagnitude, ", ", kMaxMagnitude, "] for the solver, got ", b));
    }
  }
  return absl::OkStatus();
}

// One hour's bounds, as applied to the model and checked by Verify().
struct HourBounds {
  absl::Span<const double> load_mw;
  std::vector<double> gen_lower;
  std::vector<double> gen_upper;
  // Largest load or capacity, the scale for primal tolerances.
  double scale = 1.0;
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
  std::vector<double> susceptance_mw;  // b_l = base_mva / x_l, per line
  // sum_l x_l / base_mva: radians per MW along the longest possible path.
  double total_reactance_per_mw = 0.0;
  // This hour's box on the angle columns.
  double theta_bound = 0.0;
  // The model as built, never solved: every solve starts from a copy.
  std::unique_ptr<ClpSimplex> pristine;

  int ThetaCol(int bus) const { return bus == 0 ? -1 : theta_col0 + bus - 1; }

  // Sets this hour's bounds on `model`.
  void ApplyBounds(const HourBounds& bounds);

  // Re-checks Clp's answer against the KKT conditions, which are sufficient
  // for optimality of this convex problem: primal feasibility from the
  // network data (bounds, bus balances, line limits), reduced-cost signs of
  // every column, and limit duals only on binding rows. INTERNAL otherwise.
  absl::Status Verify(const Network& network, const HourBounds& bounds) const;
};

void DcOpf::Impl::ApplyBounds(const HourBounds& bounds) {
  for (int g = 0; g < num_gens; ++g) {
    model.setColumnBounds(g, bounds.gen_lower[g], bounds.gen_upper[g]);
  }
  for (int n = 0; n < num_buses; ++n) {
    model.setRowBounds(n, bounds.load_mw[n], bounds.load_mw[n]);
    model.setColumnBounds(shed_col0 + n, 0.0, std::max(bounds.load_mw[n], 0.0));
  }
  for (int n = 1; n < num_buses; ++n) {
    model.setColumnBounds(ThetaCol(n), -theta_bound, theta_bound);
  }
}

absl::Status DcOpf::Impl::Verify(const Network& network, const HourBounds& bounds) const {
  const double* x = model.primalColumnSolution();
  const double* y = model.dualRowSolution();
  const double* col_lower = model.columnLower();
  const double* col_upper = model.columnUpper();
  const double tol = kFeasibilityTolerance * bounds.scale;

  // Primal, recomputed from the network rather than Clp's row activities.
  std::vector<double> imbalance(bounds.load_mw.begin(), bounds.load_mw.end());
  for (int g = 0; g < num_gens; ++g) imbalance[network.generators[g].bus] -= x[g];
  for (int n = 0; n < num_buses; ++n) imbalance[n] -= x[shed_col0 + n];
  for (int col = 0; col < model.numberColumns(); ++col) {
    if (x[col] < col_lower[col] - tol || x[col] > col_upper[col] + tol) {
      return absl::InternalError(absl::StrCat("Clp returned column ", col, " at ", x[col],
                                              ", outside [", col_lower[col], ", ", col_upper[col],
                                              "]"));
    }
  }
  auto angle = [&](int bus) { return bus == 0 ? 0.0 : x[ThetaCol(bus)]; };
  std::vector<double> flow(network.lines.size());
  for (size_t l = 0; l < network.lines.size(); ++l) {
    const Line& line = network.lines[l];
    flow[l] = susceptance_mw[l] * (angle(line.from_bus) - angle(line.to_bus));
    if (std::abs(flow[l]) > line.limit_mw + tol) {
      return absl::InternalError(absl::StrCat("Clp returned ", flow[l], " MW on line ", l,
                                              ", above its limit ", line.limit_mw));
    }
    imbalance[line.from_bus] += flow[l];
    imbalance[line.to_bus] -= flow[l];
  }
  for (int n = 0; n < num_buses; ++n) {
    if (std::abs(imbalance[n]) > tol) {
      return absl::InternalError(absl::StrCat("Clp returned a dispatch that leaves ", imbalance[n],
                                              " MW unbalanced at bus ", n));
    }
  }

  // Dual: d = grad f(x) - A^T y must be >= 0 at a lower bound, <= 0 at an
  // upper bound and 0 in between (both for a fixed column).
  const CoinPackedMatrix* a = model.matrix();
  const CoinBigIndex* start = a->getVectorStarts();
  const int* length = a->getVectorLengths();
  const int* row = a->getIndices();
  const double* element = a->getElements();
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
    const double dual_tol = kStationarityTolerance * (1.0 + magnitude);
    const bool at_lower = x[col] <= col_lower[col] + tol;
    const bool at_upper = x[col] >= col_upper[col] - tol;
    if ((reduced > dual_tol && !at_lower) || (reduced < -dual_tol && !at_upper)) {
      return absl::InternalError(absl::StrCat(
          "Clp returned inconsistent duals: column ", col, " at ", x[col], " has reduced cost ",
          reduced, (col < num_gens ? " (generator " : ""),
          (col < num_gens ? network.generators[col].name : ""), (col < num_gens ? ")" : "")));
    }
  }
  // A limit row's dual y = d(cost)/d(bound) is <= 0 only at its upper bound and
  // >= 0 only at its lower bound.
  for (size_t l = 0; l < network.lines.size(); ++l) {
    if (line_row[l] < 0) continue;
    const double mu = y[line_row[l]];
    const double limit = network.lines[l].limit_mw;
    const double dual_tol = kStationarityTolerance * (1.0 + std::abs(mu));
    if ((mu < -dual_tol && flow[l] < limit - tol) || (mu > dual_tol && flow[l] > -limit + tol)) {
      return absl::InternalError(absl::StrCat("Clp returned shadow price ", mu, " on line ", l,
                                              " carrying ", flow[l], " MW of its ", limit,
                                              " MW limit"));
    }
  }
  return absl::OkStatus();
}

DcOpf::DcOpf(const Network& network) : network_(network), impl_(std::make_unique<Impl>()) {}

DcOpf::~DcOpf() = default;

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
  for (size_t l = 0; l < network.lines.size(); ++l) {
    m.susceptance_mw[l] = network.base_mva / network.lines[l].reactance_pu;
    m.total_reactance_per_mw += 1.0 / m.susceptance_mw[l];
    if (std::isfinite(network.lines[l].limit_mw)) m.line_row[l] = num_rows++;
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
  for (int n = 0; n < m.num_buses; ++n) {
    col_lower[m.shed_col0 + n] = 0.0;
    col_upper[m.shed_col0 + n] = 0.0;
    objective[m.shed_col0 + n] = network.value_of_lost_load_per_mwh;
  }
  std::vector<double> row_lower(num_rows, 0.0);
  std::vector<double> row_upper(num_rows, 0.0);
  for (size_t l = 0; l < network.lines.size(); ++l) {
    if (m.line_row[l] < 0) continue;
    row_lower[m.line_row[l]] = -network.lines[l].limit_mw;
    row_upper[m.line_row[l]] = network.lines[l].limit_mw;
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
  for (double load : load_mw) {
    total_abs_load += std::abs(load);
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
    bounds.scale = std::max(bounds.scale, std::abs(upper));
  }
  // Never binding (see the top of this file); keeps Clp off free columns.
  // A function of this hour's data only, like everything else in a solve.
  m.theta_bound = 2.0 * (total_gen_bound + total_abs_load) * m.total_reactance_per_mw;

  // Every solve starts from the model as built, never from the previous
  // hour's basis: a warm start made the answer depend, in its last bits, on
  // which hour was solved before, and the determinism contract (DESIGN §4)
  // needs clearing to be a function of this hour's data alone (a resumed or
  // re-distributed run clears hours in a different order). For LP, dual
  // simplex first, then primal.
  static constexpr bool kLinearPrimal[] = {false, true};
  static constexpr bool kQuadraticPrimal[] = {true};
  const absl::Span<const bool> attempts =
      m.quadratic ? absl::MakeConstSpan(kQuadraticPrimal) : absl::MakeConstSpan(kLinearPrimal);

  absl::Status solve_status;
  bool solved = false;
  try {
    for (size_t i = 0; i < attempts.size() && !solved; ++i) {
      m.model = *m.pristine;
      m.ApplyBounds(bounds);
      if (attempts[i]) {
        m.model.primal();
      } else {
        m.model.dual();
      }
      const int status = m.model.status();
      if (status != 0) {
        solve_status = absl::InternalError(
            absl::StrCat("Clp status ", status, " (", ClpStatusName(status), "), secondary status ",
                         m.model.secondaryStatus(), ", hour ", hour));
        continue;
      }
      solve_status = m.Verify(network_, bounds);
      if (!solve_status.ok()) {
        solve_status = smfg::Annotate(solve_status, absl::StrCat("hour ", hour));
      }
      solved = solve_status.ok();
    }
  } catch (const CoinError& e) {
    return absl::InternalError(
        absl::StrCat("Clp failed: ", e.className(), "::", e.methodName(), ": ", e.message()));
  }
  if (!solved) return solve_status;

  const double* x = m.model.primalColumnSolution();
  const double* y = m.model.dualRowSolution();
  DispatchResult result;
  result.lmp_per_mwh.assign(y, y + m.num_buses);
  result.generation_mw.assign(x, x + m.num_gens);
  for (int g = 0; g < m.num_gens; ++g) {
    const Generator& gen = network_.generators[g];
    const double p = x[g];
    result.generation_cost_per_hour +=
        gen.cost_quadratic * p * p + gen.cost_linear * p + gen.cost_fixed;
  }
  result.load_shed_mw.resize(m.num_buses);
  for (int n = 0; n < m.num_buses; ++n) {
    // Clp may leave a basic column a hair below its bound.
    const double shed = std::max(0.0, x[m.shed_col0 + n]);
    result.load_shed_mw[n] = shed;
    result.total_shed_mw += shed;
  }
  const size_t num_lines = network_.lines.size();
  result.flow_mw.resize(num_lines);
  result.line_shadow_price.assign(num_lines, 0.0);
  auto angle = [&](int bus) { return bus == 0 ? 0.0 : x[m.ThetaCol(bus)]; };
  for (size_t l = 0; l < num_lines; ++l) {
    const Line& line = network_.lines[l];
    result.flow_mw[l] = m.susceptance_mw[l] * (angle(line.from_bus) - angle(line.to_bus));
    if (m.line_row[l] >= 0) {
      const double mu = std::abs(y[m.line_row[l]]);
      result.line_shadow_price[l] = mu > kDualNoise ? mu : 0.0;
    }
  }
  return result;
}

}  // namespace smfg::env
