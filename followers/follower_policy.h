// The learning followers' shared battery policy (issue 11; docs/MODEL.md §5
// "Learning followers"): one network for the whole population,
//   pi_theta(move k | x(household, day, hour), s)
// over the moves k = -K..K of the discretised model (household_solver.h), with
// the infeasible moves of SoC level s masked to probability exactly 0, and a
// value network V_phi(x, s) of the same shape for the advantages. x is the
// household's own features (battery capacity, power and efficiencies, PV size,
// mean demand, income group), the day's demand and PV scales, the hour, and
// the 24 hours ahead of import rates, export credits and net demand, rotated so
// that entry 0 is the current hour (FollowerFeatures below; scales fixed, not
// learned). Both networks are tanh MLPs (FollowerParams::Ppo::hidden_sizes).
//
// Training (PPO with the soft objective the exact followers solve): an episode
// starts a household-day at a uniformly drawn SoC level and repeats the day
// episode_days times, each move drawn from the policy's table
// (env::SampleDay); the reward of a step is the kernel's r(h, s, k) plus the
// entropy bonus -tau log pi_old(k | h, s) (tau = the temperature), so the
// soft-optimal policy is the exact softmax best response. GAE from rl/ with
// the per-hour discount, bootstrapped with V at the episode's end; advantages
// normalised per shard (rl::NormalizeAdvantages). A shard's loss is the sum
// over its steps of
//   -min(rho A, clip(rho, 1 - eps, 1 + eps) A) + value_coef (V/kValueScale - R/kValueScale)^2
// with rho = pi_theta(k) / pi_old(k); the trainer divides the summed shard
// gradients by the total step count and steps Adam (rl::AdamStep).
//
// Parameters travel as one flat vector of doubles (policy layers then value
// layers, each weight row-major then bias), so a coordinator can sum
// gradients and step Adam without LibTorch.
//
// Determinism: initial parameters are a function of the scenario seed;
// sampled episodes of (seed, phase, household, day, episode); every tensor is
// float64 and torch runs on one thread, so a table, a rollout and a gradient
// are the same bits in any process on the same machine and library build.
// Errors: torch exceptions are caught and returned as INTERNAL; bad
// parameters (size, non-finite) are INVALID_ARGUMENT.
// Thread safety: WriteTables may be called from several threads at once;
// SetParameters, SampleRollouts and Gradient may not (use one FollowerPolicy
// per thread; Clone() makes one).
#ifndef SMFG_FOLLOWERS_FOLLOWER_POLICY_H_
#define SMFG_FOLLOWERS_FOLLOWER_POLICY_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environment/population_evaluator.h"
#include "environment/scenario.h"
#include "followers/policy_types.h"

namespace smfg::followers {

// Width of x (without the SoC input): 6 household features, one per income
// group, 2 day scales, 24 hour indicators, 3 x 24 hours ahead.
int ContextSize(int income_groups);
// x of `day` at `hour` into out[0 .. ContextSize).
void FollowerFeatures(const env::FollowerDay& day, int hour, int income_groups, double* out);

// Value outputs are in units of this many $ (the discounted returns of a
// household are tens of $; the network's output layer works near 1).
inline constexpr double kValueScaleUsd = 10.0;

// The sampled experience of one shard under the policy at one parameter
// version: per step, which household-day (index into `days`), hour, SoC
// level, move, its log-probability under the sampling policy, the normalised
// advantage and the return (the value target, $).
struct ShardRollouts {
  std::vector<env::FollowerDay> days;
  std::vector<int32_t> day_index, hour, soc_level, move;
  std::vector<double> old_log_prob, advantage, value_target;
  // Diagnostics: mean of the episodes' undiscounted kernel reward per day,
  // $ (without the entropy bonus), and mean entropy of the visited rows, nats.
  double mean_daily_reward_usd = 0.0;
  double mean_entropy = 0.0;
  int64_t steps() const { return static_cast<int64_t>(move.size()); }
};

class FollowerPolicy final : public env::PolicyTableWriter {
 public:
  // Seeded networks for a validated scenario with learner = kPpo.
  static absl::StatusOr<std::unique_ptr<FollowerPolicy>> Create(const env::Scenario& scenario);
  ~FollowerPolicy() override;
  FollowerPolicy(const FollowerPolicy&) = delete;
  FollowerPolicy& operator=(const FollowerPolicy&) = delete;

  // A policy with the same parameters (for another thread).
  absl::StatusOr<std::unique_ptr<FollowerPolicy>> Clone() const;

  int64_t parameter_count() const;
  std::vector<double> Parameters() const;
  // INVALID_ARGUMENT naming the size or the first non-finite index; the
  // parameters are unchanged then.
  absl::Status SetParameters(const std::vector<double>& parameters);

  size_t table_size() const;  // 24 * S * (2K + 1)
  absl::Status WriteTables(const env::FollowerDay* days, int n, double* tables) const override;

  // Episodes of every day in `days` sampled with the current parameters
  // (module comment), phase `phase` of the stream.
  absl::StatusOr<ShardRollouts> SampleRollouts(std::vector<env::FollowerDay> days,
                                               uint64_t phase) const;
  // The gradient of the loss over `rollouts` at the current parameters.
  absl::StatusOr<ShardGradient> Gradient(const ShardRollouts& rollouts) const;

  struct Impl;

 private:
  explicit FollowerPolicy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smfg::followers

#endif  // SMFG_FOLLOWERS_FOLLOWER_POLICY_H_
