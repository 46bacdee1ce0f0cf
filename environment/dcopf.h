// Hourly lossless DC optimal power flow, solved with COIN-OR Clp.
//
//   min  sum_g (a_g p_g^2 + b_g p_g) + VOLL * sum_n shed_n
//   s.t. sum_{g at n} p_g + shed_n - sum_{l out of n} f_l + sum_{l into n} f_l = load_n
//        f_l = base_mva (theta_from(l) - theta_to(l)) / x_l,  |f_l| <= limit_l
//        pmin_g <= p_g <= available_g(hour),  0 <= shed_n <= max(load_n, 0),
//        theta_0 = 0 (slack/reference bus 0)
// LMP_n = dual of bus n's balance row ($/MWh): the cost of serving one more MW there
// (so positive in normal cases; with quadratic costs, 2 a p + b of a marginal unit).
#ifndef SMFG_ENVIRONMENT_DCOPF_H_
#define SMFG_ENVIRONMENT_DCOPF_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "environment/network.h"

namespace smfg::env {

struct DispatchResult {
  std::vector<double> lmp_per_mwh;        // per bus
  std::vector<double> generation_mw;      // per generator
  std::vector<double> flow_mw;            // per line, positive from -> to
  std::vector<double> line_shadow_price;  // per line, $/MWh, >= 0; 0 if not binding
  std::vector<double> load_shed_mw;       // per bus
  double generation_cost_per_hour = 0.0;  // sum of generator costs, excludes shedding
  double total_shed_mw = 0.0;
};

// Keeps one Clp model per network and changes only bounds between hours, so
// repeated solves are warm-started (plus an unsolved copy to restart from if
// Clp fails). Every answer is checked against the KKT conditions before it is
// returned. Not thread-safe: use one DcOpf per thread.
class DcOpf {
 public:
  // INVALID_ARGUMENT if ValidateNetwork fails, or if a number is outside what
  // the solver represents reliably: VOLL, |pmin|, pmax, |costs| and finite
  // line limits up to 1e9, base_mva / reactance_pu in [1e-9, 1e9].
  static absl::StatusOr<std::unique_ptr<DcOpf>> Create(const Network& network);
  ~DcOpf();

  // load_mw has one entry per bus (may be negative: net injection from
  // prosumers). hour in [0, 24) selects renewable availability; a unit's
  // lower bound this hour is min(pmin, available).
  // Errors: INVALID_ARGUMENT for a wrong-sized/non-finite load (or one above
  // 1e9 MW) or bad hour; INTERNAL with Clp's status if the solver fails.
  // Shedding covers any shortage, but the model has no spill: an hour whose
  // net injection cannot be absorbed (total load below the units' minimum
  // output, or surplus trapped behind line limits) is infeasible and returns
  // INTERNAL "Clp status 1 (primal infeasible)". The DcOpf stays usable after
  // any error.
  absl::StatusOr<DispatchResult> Solve(absl::Span<const double> load_mw, int hour);

  const Network& network() const { return network_; }

 private:
  explicit DcOpf(const Network& network);
  struct Impl;
  Network network_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_DCOPF_H_
