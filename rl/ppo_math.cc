#include "rl/ppo_math.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace smfg::rl {

GaeResult ComputeGae(const std::vector<double>& rewards, const std::vector<double>& values,
                     const std::vector<uint8_t>& dones, double last_value, double gamma,
                     double lambda) {
  const size_t n = rewards.size();
  GaeResult result;
  result.advantages.assign(n, 0.0);
  result.returns.assign(n, 0.0);
  double next_value = last_value;
  double next_advantage = 0.0;
  // Backwards, so each A_t can reuse A_{t+1}.
  for (size_t i = n; i-- > 0;) {
    const double not_done = dones[i] ? 0.0 : 1.0;
    const double delta = rewards[i] + gamma * next_value * not_done - values[i];
    const double advantage = delta + gamma * lambda * not_done * next_advantage;
    result.advantages[i] = advantage;
    result.returns[i] = advantage + values[i];
    next_value = values[i];
    next_advantage = advantage;
  }
  return result;
}

void NormalizeAdvantages(std::vector<double>* advantages) {
  std::vector<double>& a = *advantages;
  if (a.empty()) return;
  const double n = static_cast<double>(a.size());
  double sum = 0.0;
  for (double x : a) sum += x;
  const double mean = sum / n;
  // Two-pass variance: no cancellation when the mean is large relative to the spread.
  double squares = 0.0;
  for (double x : a) squares += (x - mean) * (x - mean);
  const double std_dev = std::sqrt(squares / n);
  const double scale = std::max(std_dev, kAdvantageStdEpsilon);
  for (double& x : a) x = (x - mean) / scale;
}

double ClippedSurrogate(double ratio, double advantage, double epsilon) {
  const double clipped = std::clamp(ratio, 1.0 - epsilon, 1.0 + epsilon);
  return std::min(ratio * advantage, clipped * advantage);
}

bool ClipActive(double ratio, double advantage, double epsilon) {
  return (advantage > 0.0 && ratio > 1.0 + epsilon) || (advantage < 0.0 && ratio < 1.0 - epsilon);
}

double ApproxKl(const std::vector<double>& old_log_probs,
                const std::vector<double>& new_log_probs) {
  if (old_log_probs.empty()) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < old_log_probs.size(); ++i) {
    const double log_ratio = new_log_probs[i] - old_log_probs[i];
    // expm1 keeps the tiny-difference case accurate: (r - 1) - log r ~ log_ratio^2 / 2.
    sum += std::expm1(log_ratio) - log_ratio;
  }
  return sum / static_cast<double>(old_log_probs.size());
}

bool KlEarlyStop(double kl, double target_kl) { return target_kl > 0.0 && kl > target_kl; }

double ScheduleProgress(int updates, uint64_t n) {
  if (updates <= 0) return 1.0;
  return static_cast<double>(std::min<uint64_t>(n, static_cast<uint64_t>(updates))) / updates;
}

double ScheduledLearningRate(double rate, double final_fraction, int updates, uint64_t n) {
  if (updates <= 0) return rate;
  return rate * (1.0 - (1.0 - final_fraction) * ScheduleProgress(updates, n));
}

void AdamStep(const AdamParams& adam, const std::vector<double>& grad, AdamState* state,
              std::vector<double>* params) {
  const size_t n = grad.size();
  if (state->m.empty()) {
    state->m.assign(n, 0.0);
    state->v.assign(n, 0.0);
  }
  state->steps += 1;
  const double t = static_cast<double>(state->steps);
  const double correction1 = 1.0 - std::pow(adam.beta1, t);
  const double correction2 = 1.0 - std::pow(adam.beta2, t);
  for (size_t i = 0; i < n; ++i) {
    const double g = grad[i];
    state->m[i] = adam.beta1 * state->m[i] + (1.0 - adam.beta1) * g;
    state->v[i] = adam.beta2 * state->v[i] + (1.0 - adam.beta2) * g * g;
    const double m_hat = state->m[i] / correction1;
    const double v_hat = state->v[i] / correction2;
    (*params)[i] -= adam.rate * m_hat / (std::sqrt(v_hat) + adam.epsilon);
  }
}

}  // namespace smfg::rl
