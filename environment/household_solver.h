// Exact softmax best response of one household for one day, and what it implies.
//
// Model (docs/MODEL.md §Follower decision). State: hour h in 0..23 and stored
// energy on a grid of S = soc_levels points, e_s = s * dE with dE = E / (S - 1).
// Action: move k in -K..K grid steps (K = max_soc_steps_per_hour). Grid-side
// battery power (kW, + = charging) p_k = k dE / eta_c for k > 0 and k dE eta_d for
// k < 0, so energy balance holds exactly on the grid. An action is feasible when
// 0 <= s + k <= S - 1 and |p_k| <= P (the power limit). Net grid energy in hour h:
//   n_hk = demand_h - pv_h + p_k  (kWh; > 0 imports, < 0 exports)
// Reward: r(h, k) = -(rate_h max(n, 0) - credit_h max(-n, 0) + wear |p_k|).
//
// The day repeats forever with discount gamma per hour (stationary periodic
// problem). Soft Bellman equation with temperature tau > 0:
//   Q_h(s, k) = r(h, k) + gamma V_{h+1}(s + k),   V_24 = V_0
//   V_h(s)    = tau log sum_k exp(Q_h(s, k) / tau)
//   pi_h(k|s) = exp((Q_h(s, k) - V_h(s)) / tau)
// tau = 0 gives the plain (argmax) Bellman equation. The periodic fixed point is
// found by policy iteration (Newton's method on the soft Bellman operator): exact
// evaluation of the day's policy solves (I - gamma^24 M) V = W, where M is the
// day's SoC transition matrix and W the discounted regularised reward over the day.
// The SoC distribution at midnight is the stationary distribution of M (unique:
// every feasible action has positive probability under the softmax).
#ifndef SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_
#define SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_

#include <array>
#include <vector>

#include "environment/scenario.h"

namespace smfg::env {

struct BatterySpec {
  double capacity_kwh = 0.0;
  double power_kw = 0.0;
  double charge_efficiency = 1.0;
  double discharge_efficiency = 1.0;
};

// Inputs for one household-day; arrays of 24 values.
struct HouseholdDayInput {
  const double* demand_kwh;
  const double* pv_kwh;
  const double* import_rate_per_kwh;
  const double* export_credit_per_kwh;
};

using HourlyArray = std::array<double, kHoursPerDay>;

// Expected outcomes under the policy and the stationary SoC distribution.
struct HouseholdDayOutcome {
  HourlyArray import_kwh{};
  HourlyArray export_kwh{};
  HourlyArray battery_kw{};      // grid side, + charging (= charge_kw - discharge_kw)
  HourlyArray charge_kw{};       // grid-side energy into the battery
  HourlyArray discharge_kw{};    // energy delivered by the battery
  HourlyArray soc_kwh{};         // stored energy at the start of the hour
  double energy_bill_usd = 0.0;  // sum_h rate import - credit export
  double wear_cost_usd = 0.0;
  int policy_iterations = 0;
  bool converged = true;
};

// Gain a household could get by deviating, $/day: (1 - gamma^24) times the gap
// in discounted value from midnight, averaged over its stationary SoC
// distribution. `regularised` uses the soft (entropy-regularised) objective,
// `plain` the objective without the entropy term against the argmax optimum.
struct Exploitability {
  double regularised = 0.0;
  double plain = 0.0;
};

// Reuses scratch buffers across calls; not thread-safe (one per thread).
class HouseholdSolver {
 public:
  explicit HouseholdSolver(const FollowerParams& params);

  // Battery households: softmax best response, stationary distribution and
  // expected outcomes. Households without a battery (capacity 0) or myopic
  // followers simply never charge. With warm_start, Newton's method starts from
  // the previous Solve()'s V_0 (which must be for the same battery): the fixed
  // point is the same to the tolerance, reached in fewer iterations. Callers
  // keep results deterministic by warm-starting only from work they redo
  // themselves (the same household's previous day within one shard).
  void Solve(const HouseholdDayInput& in, const BatterySpec& battery, HouseholdDayOutcome* out,
             bool warm_start = false);

  // Computes the best response to `belief` prices, then measures how much the
  // household could gain under `realised` prices (same demand/PV) by deviating.
  Exploitability MeasureExploitability(const HouseholdDayInput& belief,
                                       const HouseholdDayInput& realised,
                                       const BatterySpec& battery);

  int num_actions() const { return 2 * params_.max_soc_steps_per_hour + 1; }
  // After Solve() of a battery household: V_0(s) and the stationary distribution.
  const std::vector<double>& midnight_values() const { return v0_; }
  const std::vector<double>& midnight_distribution() const { return mu_; }

 private:
  struct Grid;
  void Prepare(const BatterySpec& battery);
  void ComputeRewards(const HouseholdDayInput& in);
  // Solves the periodic problem at temperature tau into policy_; returns
  // iterations used, or -iterations if not converged.
  int SolvePolicy(double tau, bool warm_start);
  // One backward pass from V_24 = v0_ into swept_policy_; returns the residual
  // max |T v0_ - v0_|.
  double Sweep(double tau);
  // Exact evaluation of policy_ with entropy weight tau into v0_eval_ and day
  // transition matrix into day_matrix_.
  void Evaluate(double entropy_tau);
  void StationaryDistribution();
  void NoBatteryOutcome(const HouseholdDayInput& in, HouseholdDayOutcome* out) const;
  double StationaryValue() const;

  FollowerParams params_;
  int S_ = 0, K_ = 0, A_ = 0;
  double gamma_day_ = 0.0;                      // gamma^24
  std::vector<double> action_power_kw_;         // grid-side power per action
  std::vector<uint8_t> action_ok_;              // power limit satisfied
  std::vector<int> first_action_, end_action_;  // feasible range per state
  std::vector<double> reward_;                  // [h][a]
  std::vector<double> policy_;                  // [h][s][a]
  std::vector<double> log_policy_;              // log of policy_, -inf where 0
  // The greedy policy of the latest sweep, before it is accepted.
  std::vector<double> swept_policy_, swept_log_policy_;
  std::vector<double> v0_;  // V_0 guess / result, [s]
  std::vector<double> v_next_, v_cur_, q_;
  std::vector<double> w_next_, w_cur_;  // evaluation: discounted reward to go
  std::vector<double> b_next_, b_cur_;  // evaluation: transition products [s][s']
  std::vector<double> day_matrix_;      // M [s][s']
  std::vector<double> v0_eval_;
  std::vector<double> mu_;   // stationary distribution at midnight
  std::vector<double> lin_;  // scratch for the linear solves
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_
