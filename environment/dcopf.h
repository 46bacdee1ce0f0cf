// Hourly lossless DC optimal power flow, solved with COIN-OR Clp.
//
//   min  sum_g (a_g p_g^2 + b_g p_g) + VOLL * sum_n shed_n
//   s.t. sum_{g at n} p_g + shed_n - sum_{l out of n} f_l + sum_{l into n} f_l = load_n
//        f_l = base_mva (theta_from(l) - theta_to(l) - phi_l) / x_l,  |f_l| <= limit_l
//        pmin_g <= p_g <= available_g(hour),  0 <= shed_n <= max(load_n, 0),
//        theta_0 = 0 (slack/reference bus 0)
// x_l may be negative (series compensation) and phi_l is the line's phase
// shift (MATPOWER's makeBdc: b = 1 / (x * tap), f = b (theta_f - theta_t - phi)).
// LMP_n = dual of bus n's balance row ($/MWh): the cost of serving one more MW there
// (so positive in normal cases; with quadratic costs, 2 a p + b of a marginal unit).
//
// What is checked, and with which tolerances
// ------------------------------------------
// Clp's answer is never trusted as is. Every answer goes through a KKT check
// recomputed from the network data (sufficient for optimality of this convex
// problem). Clp works to a primal tolerance tau_p and a dual tolerance tau_d
// (both 1e-7 by default, read from the solver) on its *internally scaled*
// model; unscaled, a violation it considers zero can be larger by the row and
// column scale factors (e.g. a line row with coefficients base_mva / x = 1000).
// With S = max(1 MW, largest |load_n|, largest |unit bound| this hour):
//   * active tolerance     eps_a = tau_p * S: a value within eps_a of a bound,
//     or beyond it, is *at* that bound (Clp's own notion, unscaled);
//   * feasibility tolerance eps_f = kFeasibilityFactor * tau_p * S
//     (kFeasibilityFactor = 100, so 1e-5 S): the largest violation of a unit or
//     shedding bound, a line limit or a bus balance (recomputed from the angles)
//     that is accepted;
//   * dual tolerance eps_d = kDualFactor * tau_d * (1 + sum of |terms|)
//     (kDualFactor = 10, so 1e-6 relative): the largest wrong-sign reduced cost
//     accepted for a unit or a shedding column (>= 0 unless at its upper bound,
//     <= 0 unless at its lower bound), and for a line limit's dual (nonzero only
//     when the line is at its limit, with the sign of the side it binds on).
//     Angle columns are free in the problem (their box is a numerical aid, see
//     dcopf.cc), so their reduced costs must vanish to eps_d even at the box.
// An answer within these tolerances is the exact KKT point of a problem whose
// bounds, limits and loads differ from ours by at most eps_f (and its marginal
// costs by at most eps_d): it is accepted.
// Its reported generation, shedding and flows are then clamped into their
// bounds (so no reported flow exceeds its limit), and the LMPs and shadow prices
// are Clp's duals of the balance and limit rows, unchanged: exact duals of that
// nearby problem. Where the LMP jumps (a line starting to bind while the unit
// that relieves it is at a bound, docs/MODEL.md §4) the two sides are both
// within tolerance; the answer reports one of them. DispatchResult says whether
// anything was clamped and the largest residuals accepted.
//
// Fallback chain
// --------------
// An answer outside tolerance, or a Clp status other than optimal, sends the
// hour to the next method of the chain, each started from a fresh copy of the
// model as built (no warm start: an hour's answer is a pure function of its
// data, docs/DECISIONS.md "DC-OPF without warm starts"):
//   quadratic costs: QP primal (Clp's reduced gradient), the same unscaled, the
//                    same with geometric scaling, barrier with crossover;
//   linear costs:    dual simplex, primal simplex, both unscaled, barrier with
//                    crossover.
// method_names() lists them; DispatchResult::method says which one answered
// (0 = the first), so callers can count fallbacks (MarketClearing does).
// If every method fails, Solve returns INTERNAL naming the hour and what each
// method returned.
#ifndef SMFG_ENVIRONMENT_DCOPF_H_
#define SMFG_ENVIRONMENT_DCOPF_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "environment/network.h"

namespace smfg::env {

struct DispatchResult {
  std::vector<double> lmp_per_mwh;        // per bus
  std::vector<double> generation_mw;      // per generator, within its bounds this hour
  std::vector<double> flow_mw;            // per line, positive from -> to, |flow| <= limit
  std::vector<double> line_shadow_price;  // per line, $/MWh, >= 0; 0 if not binding
  std::vector<double> load_shed_mw;       // per bus
  double generation_cost_per_hour = 0.0;  // sum of generator costs, excludes shedding
  double total_shed_mw = 0.0;

  // How the answer was obtained (see the top of this file).
  int method = 0;  // index into DcOpf::method_names(); > 0 means a fallback answered
  // Largest violation of a bound, limit or balance in the accepted answer
  // (before clamping), MW, and largest wrong-sign reduced cost, $/MWh.
  double primal_residual_mw = 0.0;
  double dual_residual_per_mwh = 0.0;
  // True if a generation, shedding or flow value was moved into its bounds.
  bool clamped = false;
};

// Keeps one Clp model per network; every hour is solved from a fresh copy of
// it with that hour's bounds. Not thread-safe: use one DcOpf per thread.
class DcOpf {
 public:
  // INVALID_ARGUMENT if ValidateNetwork fails, or if a number is outside what
  // the solver represents reliably: VOLL, |pmin|, pmax, |costs| and finite
  // line limits up to 1e9, base_mva / |reactance_pu| in [1e-9, 1e9], or if the
  // network's susceptance matrix is singular (negative reactances that cancel
  // positive ones; "lines: ...").
  static absl::StatusOr<std::unique_ptr<DcOpf>> Create(const Network& network);
  ~DcOpf();

  // load_mw has one entry per bus (may be negative: net injection from
  // prosumers). hour in [0, 24) selects renewable availability; a unit's
  // lower bound this hour is min(pmin, available).
  // Errors: INVALID_ARGUMENT for a wrong-sized/non-finite load (or one above
  // 1e9 MW) or bad hour; INTERNAL if no method of the chain returns an answer
  // within tolerance, with each method's failure. Shedding covers any
  // shortage, but the model has no spill: an hour whose net injection cannot
  // be absorbed (total load below the units' minimum output, or surplus
  // trapped behind line limits) is infeasible and returns INTERNAL with
  // "Clp status 1 (primal infeasible)". The DcOpf stays usable after any error.
  absl::StatusOr<DispatchResult> Solve(absl::Span<const double> load_mw, int hour);

  const Network& network() const { return network_; }
  // The fallback chain of this network's problem (QP or LP), in order.
  const std::vector<std::string>& method_names() const;

  // Test hook, called after each method's solve and before the check with
  // (method index, Clp's column values, Clp's row duals). Columns are p_g per
  // generator, shed_n per bus, then theta_n (radians) for buses 1..N-1; rows
  // are the N bus balances, then one row per line with a finite limit, in line
  // order. Lets tests perturb an answer to exercise tolerance handling and the
  // fallback chain. Pass nullptr to remove.
  using SolutionHook =
      std::function<void(int method, absl::Span<double> columns, absl::Span<double> row_duals)>;
  void SetSolutionHookForTesting(SolutionHook hook);

 private:
  explicit DcOpf(const Network& network);
  struct Impl;
  Network network_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_DCOPF_H_
