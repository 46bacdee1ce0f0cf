// Exact softmax best response of one household for one day, and what it implies.
//
// Model (docs/MODEL.md §5). State: hour h in 0..23 and stored energy on a grid
// of S = soc_levels points, e_s = s * dE with dE = E / (S - 1). Action: move k in
// -K..K grid steps (K = max_soc_steps_per_hour). Grid-side battery power (kW,
// + = charging) p_k = k dE / eta_c for k > 0 and k dE eta_d for k < 0, so energy
// balance holds exactly on the grid. An action is feasible when
// 0 <= s + k <= S - 1 and |p_k| <= P (1 + 1e-12) (the power limit, with a
// relative slack so that a limit met exactly in decimal is not lost to rounding).
// Net grid energy in hour h:
//   n_hk = demand_h - pv_h + p_k  (kWh; > 0 imports, < 0 exports)
// Reward: r(h, k) = -(rate_h max(n, 0) - credit_h max(-n, 0) + wear |p_k|).
//
// The day repeats forever with discount gamma per hour (stationary periodic
// problem). Soft Bellman equation with temperature tau > 0:
//   Q_h(s, k) = r(h, k) + gamma V_{h+1}(s + k),   V_24 = V_0
//   V_h(s)    = tau log sum_k exp(Q_h(s, k) / tau)
//   pi_h(k|s) = exp((Q_h(s, k) - V_h(s)) / tau)
// Softmax weights exp((Q - max Q) / tau) below e^-40 are set to exactly zero.
// tau = 0 gives the plain (argmax) Bellman equation. The periodic fixed point is
// found by policy iteration (Newton's method on the soft Bellman operator): a
// backward sweep from V_0 gives the softmax policy of V_0; exact evaluation of
// a policy solves (I - gamma^24 M) V_0 = W, where M is the day's SoC transition
// matrix and W the discounted regularised reward over the day.
//
// Stopping rule and what is reported. Newton's method stops when the policy
// swept from the evaluated values V_0 differs from the evaluated policy by at
// most max(1e-10, 128 eps max|V_0| / tau) in every probability (every hour,
// state and action; the second term is what double precision can resolve at
// small tau). The reported policy, values and outcomes then all belong to the
// evaluated policy: V_0 is its exact value, and it is the softmax policy of V_0
// to that tolerance. (A residual test on V would not do: the soft Bellman
// residual is quadratic in the policy error.) For tau = 0 it stops when the
// greedy policy repeats or the residual max |T V_0 - V_0| < 1e-9 $.
//
// The SoC distribution at midnight is the long-run distribution of M started
// from an empty battery (markov_chain.h): the unique stationary distribution
// when M has one closed class, as it has whenever the battery can move; when it
// has several (no move feasible, or every weight but one cut off) the
// distribution reached from empty, reported as unique_distribution = false.
#ifndef SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_
#define SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rng.h"
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
  int policy_iterations = 0;  // backward sweeps used by Newton's method
  bool converged = true;
  // False when the day's transition matrix has several closed classes, so the
  // stationary SoC distribution is not unique and the one reached from an
  // empty battery is reported (see above).
  bool unique_distribution = true;
};

// Gain a household could get by deviating, $/day: (1 - gamma^24) times the gap
// in discounted value from midnight, averaged over its stationary SoC
// distribution. `regularised` uses the soft (entropy-regularised) objective,
// `plain` the objective without the entropy term against the argmax optimum.
struct Exploitability {
  double regularised = 0.0;
  double plain = 0.0;
};

// Instruction sets the block kernel is compiled for: x86-64 baseline (SSE2, 2
// lanes per register, fma() from libm), AVX2 + FMA (4 lanes) and the AVX-512
// subsets of x86-64-v4 (F, DQ, VL, BW: 8 lanes). All of them compute identical
// bits (lanes.h): the choice is a speed matter only. Other architectures use
// the baseline code.
enum class KernelIsa { kBaseline, kAvx2, kAvx512 };
bool KernelIsaSupported(KernelIsa isa);
// The widest supported one (SMFG_KERNEL_ISA=baseline|avx2|avx512 in the
// environment narrows it, e.g. to compare speeds).
KernelIsa BestKernelIsa();
const char* KernelIsaName(KernelIsa isa);

// Policy tables. A household that follows a given policy for a day (a learned
// one, instead of the best response) is described by 24 * S * A probabilities,
// A = 2K + 1, entry (h * S + s) * A + a the probability of moving k = a - K
// grid steps from SoC level s in hour h. A valid table (ValidatePolicyTable)
// has entries in [0, 1], rows summing to 1 within kPolicyTableSumTolerance,
// and zero probability on every move that leaves the SoC grid or exceeds the
// battery's power limit (as defined above).
inline constexpr double kPolicyTableSumTolerance = 1e-9;
// Whether a household with `battery` may move `move` grid steps from SoC level
// `soc_level`: on the grid and within the power limit (the rule above, which
// the kernel and ValidatePolicyTable apply).
bool MoveFeasible(const FollowerParams& params, const BatterySpec& battery, int soc_level,
                  int move);
// InvalidArgument naming the hour, SoC level and move of the first entry that
// breaks a rule, or the row whose sum is off.
absl::Status ValidatePolicyTable(const FollowerParams& params, const BatterySpec& battery,
                                 const double* table);

// One hour of a household following a policy table, as a learner samples it
// (issue 11): the SoC level at the start of the hour, the move drawn from the
// table's row, and the kernel's own reward for it, r(h, s, move) = -(bill +
// wear) in $ (docs/MODEL.md §5: imports billed at the rate, exports credited,
// wear on grid-side power), the same formula and the same bits as the kernel's.
struct PolicyStep {
  int hour = 0;
  int soc_level = 0;
  int move = 0;  // SoC grid steps, in [-K, K]
  double reward_usd = 0.0;
};

// Samples one day of a household with `battery` following `table` from SoC
// level `start_level` (24 steps into `steps`), each move drawn with
// rng->Categorical over its row; returns the SoC level after hour 23. The
// expected outcomes over start levels drawn from the table's midnight
// distribution are BatteryBlockSolver::Follow's. Deterministic for a given rng
// state. The table must pass ValidatePolicyTable (a precondition: it is not
// re-checked per day); INVALID_ARGUMENT names `start_level` outside [0, S).
absl::StatusOr<int> SampleDay(const FollowerParams& params, const BatterySpec& battery,
                              const HouseholdDayInput& in, const double* table, int start_level,
                              CounterRng* rng, PolicyStep* steps);

// Solves up to lanes() battery households' days together, one per SIMD lane
// (struct-of-arrays blocks; 8 logical lanes run as 4, 2 or 1 kernels of the
// instruction set's width). Every lane runs exactly the computation a
// one-lane solver would run for that household alone: a lane that has
// converged is frozen while the others finish, so a household's results do
// not depend on which households share its block, on the lane count or on
// the instruction set, to the last bit. Not thread-safe (one per thread).
class BatteryBlockSolver {
 public:
  static constexpr int kMaxLanes = 8;
  // lanes: 1 or kMaxLanes (reduced to 1 when the SoC grid is too large for
  // 8-lane buffers, see lanes()).
  BatteryBlockSolver(const FollowerParams& params, int lanes = kMaxLanes,
                     KernelIsa isa = BestKernelIsa());
  ~BatteryBlockSolver();
  BatteryBlockSolver(const BatteryBlockSolver&) = delete;
  BatteryBlockSolver& operator=(const BatteryBlockSolver&) = delete;

  int lanes() const;
  KernelIsa isa() const { return isa_; }
  const FollowerParams& params() const { return params_; }

  // Batteries of lanes 0..n-1 (1 <= n <= lanes(), capacity_kwh > 0); the
  // remaining lanes are padding. Forgets the warm start.
  void SetBatteries(const BatterySpec* batteries, int n);

  // Softmax best response, long-run SoC distribution and expected outcomes of
  // in[l] into out[l], l < n. With warm_start, Newton's method starts from
  // each lane's previous Solve() values (same batteries): the fixed point is
  // the same to the tolerance, reached in fewer iterations. Callers keep
  // results deterministic by warm-starting only from work they redo
  // themselves (the same household's previous day within one shard).
  void Solve(const HouseholdDayInput* in, HouseholdDayOutcome* out, bool warm_start);

  // Best response to `belief` prices, then the gain each household could get
  // under `realised` prices (same demand/PV) by deviating. With warm_start
  // the belief problem starts from the previous call's belief values.
  void MeasureExploitability(const HouseholdDayInput* belief, const HouseholdDayInput* realised,
                             Exploitability* out, bool warm_start);

  // After Solve(): the values each lane's returned policy was swept from (its
  // "policy source"), S per lane, lane l's at out + l * soc_levels(), for the
  // lanes 0..n-1 of SetBatteries. Together with the day's input they determine
  // that policy, bit for bit: MeasureExploitabilityFrom replays one sweep and
  // one evaluation from them instead of solving again.
  void CopyPolicySources(double* out) const;
  int soc_levels() const;

  // MeasureExploitability where the belief problem's answer is known: lane
  // l's policy is the one a Solve() of belief[l] returned, given by its policy
  // source (policy_sources + l * soc_levels(), from CopyPolicySources after that
  // Solve). Identical bits to MeasureExploitability with the warm start of that
  // Solve, at the cost of one sweep and one evaluation for the belief policy.
  void MeasureExploitabilityFrom(const double* policy_sources, const HouseholdDayInput* belief,
                                 const HouseholdDayInput* realised, Exploitability* out);

  // Households that follow given policies instead of optimising (learning
  // followers, issue 11; see "Policy tables" above the class). Lane l's table
  // is at tables + l * policy_table_size() and must pass ValidatePolicyTable
  // for its battery (a precondition: the kernel does not check).
  size_t policy_table_size() const;
  // Expected outcomes of following the tables on days `in` (midnight
  // distribution and outcomes exactly as for Solve()'s policy;
  // policy_iterations = 0).
  void Follow(const double* tables, const HouseholdDayInput* in, HouseholdDayOutcome* out);
  // What each household could gain under `realised` prices by deviating from
  // its table, regularised (the table's own entropy counted at the
  // temperature) and plain, as MeasureExploitability's gains.
  void MeasurePolicyExploitability(const double* tables, const HouseholdDayInput* realised,
                                   Exploitability* out);
  // After Solve(): lane l's returned (softmax) policy as a table.
  void CopyPolicy(int lane, double* table) const;

  // After Solve() (or MeasureExploitability's belief solve): lane l's V_0(s)
  // and midnight SoC distribution, S values each.
  std::vector<double> MidnightValues(int lane) const;
  std::vector<double> MidnightDistribution(int lane) const;

  struct Impl;

 private:
  FollowerParams params_;
  KernelIsa isa_;
  std::unique_ptr<Impl> impl_;
};

// One household at a time: a one-lane BatteryBlockSolver (identical results),
// plus households without a decision. Not thread-safe (one per thread).
class HouseholdSolver {
 public:
  explicit HouseholdSolver(const FollowerParams& params);

  // Battery households: softmax best response, long-run SoC distribution and
  // expected outcomes. Households without a battery (capacity 0) or myopic
  // followers simply never charge. warm_start as in BatteryBlockSolver::Solve
  // (the previous Solve() must have been for the same battery).
  void Solve(const HouseholdDayInput& in, const BatterySpec& battery, HouseholdDayOutcome* out,
             bool warm_start = false);

  // Computes the best response to `belief` prices, then measures how much the
  // household could gain under `realised` prices (same demand/PV) by deviating.
  Exploitability MeasureExploitability(const HouseholdDayInput& belief,
                                       const HouseholdDayInput& realised,
                                       const BatterySpec& battery);

  int num_actions() const { return 2 * params_.max_soc_steps_per_hour + 1; }
  // After Solve() of a battery household: V_0(s) and the midnight distribution.
  const std::vector<double>& midnight_values() const { return v0_; }
  const std::vector<double>& midnight_distribution() const { return mu_; }

 private:
  FollowerParams params_;
  BatteryBlockSolver block_;
  BatterySpec battery_;  // of block_'s lane
  std::vector<double> v0_, mu_;
};

// Outcome of a household that never uses storage: it imports demand - pv when
// positive and exports the rest.
void NoBatteryOutcome(const HouseholdDayInput& in, HouseholdDayOutcome* out);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_HOUSEHOLD_SOLVER_H_
