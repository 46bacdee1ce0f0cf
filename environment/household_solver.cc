#include "environment/household_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/linear_solve.h"

namespace smfg::env {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
// Newton's method reaches this residual ($ of discounted value) in a handful of
// iterations; it is far below a cent and well above double round-off at the
// values involved (tens of dollars).
constexpr double kPolicyTolerance = 1e-9;
constexpr int kMaxPolicyIterations = 60;
// Softmax weights below exp(-40) = 4e-18 are set to exactly zero: they are under
// 1/50 of an ulp of the probabilities they are summed with, so the result is
// unchanged to double precision, and the zeros let Evaluate() skip the action.
constexpr double kMinLogWeight = -40.0;

}  // namespace

HouseholdSolver::HouseholdSolver(const FollowerParams& params) : params_(params) {
  S_ = params.soc_levels;
  K_ = params.max_soc_steps_per_hour;
  A_ = 2 * K_ + 1;
  gamma_day_ = std::pow(params.discount_per_hour, kHoursPerDay);
  action_power_kw_.resize(A_);
  action_ok_.resize(A_);
  first_action_.resize(S_);
  end_action_.resize(S_);
  reward_.resize(kHoursPerDay * A_);
  policy_.resize(kHoursPerDay * S_ * A_);
  log_policy_.resize(kHoursPerDay * S_ * A_);
  swept_policy_.resize(kHoursPerDay * S_ * A_);
  swept_log_policy_.resize(kHoursPerDay * S_ * A_);
  v0_.resize(S_);
  v_next_.resize(S_);
  v_cur_.resize(S_);
  q_.resize(A_);
  w_next_.resize(S_);
  w_cur_.resize(S_);
  b_next_.resize(S_ * S_);
  b_cur_.resize(S_ * S_);
  day_matrix_.resize(S_ * S_);
  v0_eval_.resize(S_);
  mu_.resize(S_);
  lin_.resize(S_ * S_);
}

void HouseholdSolver::Prepare(const BatterySpec& battery) {
  const double step_kwh = battery.capacity_kwh / (S_ - 1);
  // A relative slack so that a limit hit exactly (e.g. 5 kW with dE chosen to
  // match) is not lost to rounding.
  const double limit = battery.power_kw * (1.0 + 1e-12);
  for (int a = 0; a < A_; ++a) {
    const int k = a - K_;
    const double stored = k * step_kwh;
    const double p =
        k > 0 ? stored / battery.charge_efficiency : stored * battery.discharge_efficiency;
    action_power_kw_[a] = p;
    action_ok_[a] = std::fabs(p) <= limit;
  }
  // |p_k| grows with |k|, so the actions within the power limit form a
  // contiguous range around k = 0; the SoC bounds cut it further per state.
  for (int s = 0; s < S_; ++s) {
    int lo = K_, hi = K_ + 1;
    while (lo > 0 && action_ok_[lo - 1] && s + (lo - 1) - K_ >= 0) --lo;
    while (hi < A_ && action_ok_[hi] && s + hi - K_ < S_) ++hi;
    first_action_[s] = lo;
    end_action_[s] = hi;
  }
  // Entries outside a state's range are never written by Sweep().
  for (auto* p : {&policy_, &swept_policy_}) std::fill(p->begin(), p->end(), 0.0);
  for (auto* p : {&log_policy_, &swept_log_policy_}) std::fill(p->begin(), p->end(), kNegInf);
}

void HouseholdSolver::ComputeRewards(const HouseholdDayInput& in) {
  const double wear = params_.battery_wear_usd_per_kwh;
  for (int h = 0; h < kHoursPerDay; ++h) {
    const double base = in.demand_kwh[h] - in.pv_kwh[h];
    const double rate = in.import_rate_per_kwh[h];
    const double credit = in.export_credit_per_kwh[h];
    for (int a = 0; a < A_; ++a) {
      const double p = action_power_kw_[a];
      const double n = base + p;
      const double bill = n > 0 ? rate * n : credit * n;
      reward_[h * A_ + a] = -(bill + wear * std::fabs(p));
    }
  }
}

double HouseholdSolver::Sweep(double tau) {
  const double gamma = params_.discount_per_hour;
  const double inv_tau = tau > 0 ? 1.0 / tau : 0.0;
  std::copy(v0_.begin(), v0_.end(), v_next_.begin());
  for (int h = kHoursPerDay - 1; h >= 0; --h) {
    const double* r = &reward_[h * A_];
    for (int s = 0; s < S_; ++s) {
      // Feasible actions of state s are the contiguous range [lo, hi).
      const int lo = first_action_[s], hi = end_action_[s];
      double* __restrict pi = &swept_policy_[(h * S_ + s) * A_];
      double* __restrict log_pi = &swept_log_policy_[(h * S_ + s) * A_];
      const double* __restrict v = v_next_.data() + s;  // v[a - K] = V_{h+1}(s + a - K)
      double m = kNegInf;
      int best = lo;
      for (int a = lo; a < hi; ++a) {
        q_[a] = r[a] + gamma * v[a - K_];
        // Strict '>' keeps the lowest index among ties: a deterministic argmax.
        if (q_[a] > m) m = q_[a], best = a;
      }
      if (tau > 0) {
        double z = 0;
        for (int a = lo; a < hi; ++a) {
          log_pi[a] = (q_[a] - m) * inv_tau;
          pi[a] = log_pi[a] < kMinLogWeight ? 0.0 : std::exp(log_pi[a]);
          z += pi[a];
        }
        // Keeping log pi from the sweep spares Evaluate() a log per action.
        const double inv = 1.0 / z, log_z = std::log(z);
        for (int a = lo; a < hi; ++a) {
          pi[a] *= inv;
          log_pi[a] -= log_z;
        }
        v_cur_[s] = m + tau * log_z;
      } else {
        for (int a = lo; a < hi; ++a) {
          pi[a] = a == best ? 1.0 : 0.0;
          log_pi[a] = a == best ? 0.0 : kNegInf;
        }
        v_cur_[s] = m;
      }
    }
    std::swap(v_cur_, v_next_);
  }
  double residual = 0;
  for (int s = 0; s < S_; ++s) residual = std::max(residual, std::fabs(v_next_[s] - v0_[s]));
  return residual;
}

void HouseholdSolver::Evaluate(double entropy_tau) {
  const double gamma = params_.discount_per_hour;
  std::fill(w_next_.begin(), w_next_.end(), 0.0);
  std::fill(b_next_.begin(), b_next_.end(), 0.0);
  for (int s = 0; s < S_; ++s) b_next_[s * S_ + s] = 1.0;
  for (int h = kHoursPerDay - 1; h >= 0; --h) {
    const double* r = &reward_[h * A_];
    for (int s = 0; s < S_; ++s) {
      const int lo = first_action_[s], hi = end_action_[s];
      const double* pi = &policy_[(h * S_ + s) * A_];
      const double* log_pi = &log_policy_[(h * S_ + s) * A_];
      double w = 0;
      double* __restrict row = &b_cur_[s * S_];
      std::fill(row, row + S_, 0.0);
      for (int a = lo; a < hi; ++a) {
        const double p = pi[a];
        if (p == 0.0) continue;
        const int s2 = s + a - K_;
        const double entropy = entropy_tau > 0 ? entropy_tau * log_pi[a] : 0.0;
        w += p * (r[a] - entropy + gamma * w_next_[s2]);
        // Row s of B_h = sum_a pi(a|s) * row (s + k) of B_{h+1}.
        const double* __restrict next_row = &b_next_[s2 * S_];
        for (int j = 0; j < S_; ++j) row[j] += p * next_row[j];
      }
      w_cur_[s] = w;
    }
    std::swap(w_cur_, w_next_);
    std::swap(b_cur_, b_next_);
  }
  std::copy(b_next_.begin(), b_next_.end(), day_matrix_.begin());
  // V = W + gamma^24 M V  <=>  (I - gamma^24 M) V = W.
  for (int i = 0; i < S_; ++i) {
    for (int j = 0; j < S_; ++j) {
      lin_[i * S_ + j] = (i == j ? 1.0 : 0.0) - gamma_day_ * day_matrix_[i * S_ + j];
    }
    v0_eval_[i] = w_next_[i];
  }
  // I - gamma^24 M is strictly diagonally dominant (M is stochastic, gamma < 1).
  SolveLinearSystem(S_, lin_.data(), v0_eval_.data());
}

int HouseholdSolver::SolvePolicy(double tau, bool warm_start) {
  if (!warm_start) std::fill(v0_.begin(), v0_.end(), 0.0);
  for (int it = 1; it <= kMaxPolicyIterations; ++it) {
    const double residual = Sweep(tau);
    // v0_ is the exact value of policy_ (from iteration 2 on); a small residual
    // says policy_ is already optimal to the tolerance, and its transition
    // matrix is at hand, so the greedy policy just swept need not be evaluated.
    if (it > 1 && residual < kPolicyTolerance) return it;
    std::swap(policy_, swept_policy_);
    std::swap(log_policy_, swept_log_policy_);
    Evaluate(tau);
    std::copy(v0_eval_.begin(), v0_eval_.end(), v0_.begin());
  }
  return -kMaxPolicyIterations;
}

void HouseholdSolver::StationaryDistribution() {
  // mu^T M = mu^T with sum(mu) = 1: rows 0..S-2 of (M^T - I), then all ones.
  for (int i = 0; i < S_; ++i) {
    for (int j = 0; j < S_; ++j) {
      lin_[i * S_ + j] = i == S_ - 1 ? 1.0 : day_matrix_[j * S_ + i] - (i == j ? 1.0 : 0.0);
    }
    mu_[i] = i == S_ - 1 ? 1.0 : 0.0;
  }
  SolveLinearSystem(S_, lin_.data(), mu_.data());
  double total = 0;
  for (double& m : mu_) {
    m = std::max(m, 0.0);  // round-off can leave -1e-17 on unreachable states
    total += m;
  }
  for (double& m : mu_) m /= total;
}

double HouseholdSolver::StationaryValue() const {
  double v = 0;
  for (int s = 0; s < S_; ++s) v += mu_[s] * v0_[s];
  return v;
}

void HouseholdSolver::NoBatteryOutcome(const HouseholdDayInput& in,
                                       HouseholdDayOutcome* out) const {
  *out = HouseholdDayOutcome{};
  for (int h = 0; h < kHoursPerDay; ++h) {
    const double n = in.demand_kwh[h] - in.pv_kwh[h];
    out->import_kwh[h] = std::max(n, 0.0);
    out->export_kwh[h] = std::max(-n, 0.0);
    out->energy_bill_usd += in.import_rate_per_kwh[h] * out->import_kwh[h] -
                            in.export_credit_per_kwh[h] * out->export_kwh[h];
  }
}

void HouseholdSolver::Solve(const HouseholdDayInput& in, const BatterySpec& battery,
                            HouseholdDayOutcome* out, bool warm_start) {
  if (battery.capacity_kwh <= 0 || params_.myopic) {
    NoBatteryOutcome(in, out);
    return;
  }
  *out = HouseholdDayOutcome{};
  Prepare(battery);
  ComputeRewards(in);
  const int its = SolvePolicy(params_.temperature_usd, warm_start);
  out->policy_iterations = std::abs(its);
  out->converged = its > 0;
  StationaryDistribution();

  const double step_kwh = battery.capacity_kwh / (S_ - 1);
  const double wear = params_.battery_wear_usd_per_kwh;
  std::vector<double>& mu = v_cur_;  // scratch: distribution at the current hour
  std::vector<double>& next = v_next_;
  std::copy(mu_.begin(), mu_.end(), mu.begin());
  for (int h = 0; h < kHoursPerDay; ++h) {
    std::fill(next.begin(), next.end(), 0.0);
    const double base = in.demand_kwh[h] - in.pv_kwh[h];
    double imp = 0, exp = 0, charge = 0, discharge = 0, soc = 0;
    for (int s = 0; s < S_; ++s) {
      soc += mu[s] * s * step_kwh;
      const double* pi = &policy_[(h * S_ + s) * A_];
      for (int a = 0; a < A_; ++a) {
        const double w = mu[s] * pi[a];
        if (w == 0.0) continue;
        const double p = action_power_kw_[a];
        const double n = base + p;
        imp += w * std::max(n, 0.0);
        exp += w * std::max(-n, 0.0);
        (p > 0 ? charge : discharge) += w * std::fabs(p);
        next[s + a - K_] += w;
      }
    }
    out->import_kwh[h] = imp;
    out->export_kwh[h] = exp;
    out->charge_kw[h] = charge;
    out->discharge_kw[h] = discharge;
    out->battery_kw[h] = charge - discharge;
    out->soc_kwh[h] = soc;
    out->energy_bill_usd += in.import_rate_per_kwh[h] * imp - in.export_credit_per_kwh[h] * exp;
    out->wear_cost_usd += wear * (charge + discharge);
    std::swap(mu, next);
  }
}

Exploitability HouseholdSolver::MeasureExploitability(const HouseholdDayInput& belief,
                                                      const HouseholdDayInput& realised,
                                                      const BatterySpec& battery) {
  if (battery.capacity_kwh <= 0 || params_.myopic) return {};
  const double tau = params_.temperature_usd;
  Prepare(battery);
  ComputeRewards(belief);
  SolvePolicy(tau, false);
  StationaryDistribution();

  ComputeRewards(realised);
  Evaluate(tau);
  v0_ = v0_eval_;
  const double soft_followed = StationaryValue();
  Evaluate(0.0);
  v0_ = v0_eval_;
  const double plain_followed = StationaryValue();

  SolvePolicy(tau, false);
  const double soft_best = StationaryValue();
  SolvePolicy(0.0, false);
  const double plain_best = StationaryValue();
  const double per_day = 1.0 - gamma_day_;
  return {per_day * (soft_best - soft_followed), per_day * (plain_best - plain_followed)};
}

}  // namespace smfg::env
