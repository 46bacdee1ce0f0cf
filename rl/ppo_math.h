// The scalar mathematics of PPO shared by every learner in smfg (the leader's
// tariff policy, leader/ppo.h; the followers' battery policy, issue 11):
// Schulman et al. 2017, "Proximal Policy Optimization Algorithms"; GAE from
// Schulman et al. 2016. Plain C++, no LibTorch, so it is tested against
// hand-computed numbers (rl/ppo_math_test.cc); the learners use ComputeGae,
// NormalizeAdvantages and the schedules directly and implement the tensor
// versions of the surrogate, the clip indicator and the KL estimator with
// exactly the formulas below.
//
// Thread safety: pure functions. Errors: none (preconditions are stated).
#ifndef SMFG_RL_PPO_MATH_H_
#define SMFG_RL_PPO_MATH_H_

#include <cstdint>
#include <vector>

namespace smfg::rl {

struct GaeResult {
  std::vector<double> advantages;  // A_t, one per step
  std::vector<double> returns;     // A_t + V_t: the value-function regression target
};

// Generalised advantage estimation over one rollout of T steps (t = 0..T-1):
//   delta_t = r_t + gamma * V_{t+1} * (1 - done_t) - V_t
//   A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0
//   returns_t = A_t + V_t
// with V_T = last_value (the value of the state after the last step; ignored when
// done_{T-1} is set). done_t = 1 means the episode ended with step t, so neither the
// bootstrap value nor later advantages flow back across it.
// Special cases: lambda = 0 gives the one-step TD errors A_t = delta_t; lambda = 1,
// gamma = 1 gives the Monte-Carlo return to the end of the episode minus V_t.
// Preconditions: rewards, values and dones have the same length (an empty rollout
// gives empty results).
GaeResult ComputeGae(const std::vector<double>& rewards, const std::vector<double>& values,
                     const std::vector<uint8_t>& dones, double last_value, double gamma,
                     double lambda);

// Smallest divisor used by NormalizeAdvantages.
inline constexpr double kAdvantageStdEpsilon = 1e-8;

// In place: A_i <- (A_i - mean) / max(std, 1e-8), with the population standard
// deviation std = sqrt(mean((A - mean)^2)). Using max(std, eps) rather than the
// common std + eps keeps the result exactly unit-variance (to rounding) for every
// non-degenerate input, while a constant vector (std = 0) maps to zeros instead of
// NaN. An empty vector is left alone.
void NormalizeAdvantages(std::vector<double>* advantages);

// PPO's clipped surrogate objective for one sample (to be maximised):
//   L = min(ratio * A, clip(ratio, 1 - epsilon, 1 + epsilon) * A)
// where ratio = pi_new(a|s) / pi_old(a|s).
double ClippedSurrogate(double ratio, double advantage, double epsilon);

// True iff the clipped term is the one min() selects in ClippedSurrogate and it
// differs from the unclipped term, i.e. the sample contributes no policy gradient:
//   advantage > 0 and ratio > 1 + epsilon, or advantage < 0 and ratio < 1 - epsilon.
// The boundaries themselves (ratio == 1 +- epsilon) are not active. This is the
// definition behind UpdateStats::clip_fraction.
bool ClipActive(double ratio, double advantage, double epsilon);

// Approximate KL(pi_old || pi_new) from per-sample log-probabilities of the actions
// taken under pi_old, with the "k3" estimator (Schulman, "Approximating KL
// Divergence", 2020):
//   KL ~= mean_i[(r_i - 1) - log r_i],   log r_i = new_i - old_i
// Each term is >= 0 (since log r <= r - 1), so the estimate never goes negative and
// can be compared against a threshold on any minibatch; it is unbiased, with lower
// variance than mean(old - new). Empty input gives 0.
// Precondition: equal lengths.
double ApproxKl(const std::vector<double>& old_log_probs, const std::vector<double>& new_log_probs);

// The early-stop rule of PpoLearner::Update: stop iff target_kl > 0 and
// kl > target_kl (strictly; KL exactly at the threshold continues). target_kl = 0
// disables the rule.
bool KlEarlyStop(double kl, double target_kl);

// Progress of a schedule over its first `updates` updates at update count n
// (0-based): min(n, N) / N, and 1 when N <= 0 (no schedule: at its end).
double ScheduleProgress(int updates, uint64_t n);

// A learning rate decayed linearly over the first `updates` updates (N; N = 0
// means no schedule, the rate as given):
//   ScheduledLearningRate = rate * (1 - (1 - final_fraction) * min(n, N) / N)
// the usual PPO annealing.
double ScheduledLearningRate(double rate, double final_fraction, int updates, uint64_t n);

// Adam (Kingma & Ba 2015) on a flat parameter vector, as torch::optim::Adam
// computes it without weight decay or AMSGrad: for step t = 1, 2, ...
//   m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
//   theta <- theta - rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
// Plain doubles in one order, so whoever steps it (one process or a coordinator
// summing workers' gradients) gets the same bits. An empty state (steps = 0)
// is sized on the first step. Preconditions: grad and params have equal
// lengths, and the state's vectors that length or empty.
struct AdamState {
  std::vector<double> m, v;
  int64_t steps = 0;
};
struct AdamParams {
  double rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
};
void AdamStep(const AdamParams& adam, const std::vector<double>& grad, AdamState* state,
              std::vector<double>* params);

}  // namespace smfg::rl

#endif  // SMFG_RL_PPO_MATH_H_
