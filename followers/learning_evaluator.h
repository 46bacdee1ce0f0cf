// A PopulationEvaluator whose battery households learn (issue 11): they follow
// the shared FollowerPolicy, trained with PPO at the start of each equilibrium
// solve (PopulationEvaluator::BeginSolve), and the market clears on their
// exact expected response to the policy's tables (ShardKernel::EvaluateShard
// with a PolicyTableWriter), so the mean-field loop, its determinism and the
// leader's loop run unchanged over either learner.
//
// A PPO phase at (tariff, belief m), policy version v:
//   1. every shard's episodes are sampled with parameters theta_v
//      (FollowerPolicy::SampleRollouts, phase = the count of phases so far);
//   2. epochs_per_phase times: every shard's gradient at the current
//      parameters is computed (one policy replica per thread), the gradients
//      are summed in shard order and divided by the total step count, and
//      Adam (rl::AdamStep) steps the flat parameters; version += 1. The step
//      size decays linearly over the solve's phases_per_solve x
//      epochs_per_phase updates from learning_rate to a tenth of it
//      (rl::ScheduledLearningRate), so each solve ends on a settled policy.
// The parameters, Adam's state and the phase counter persist across solves
// (warm start across outer iterations). Results are the same bits for any
// thread count: each shard's rollouts and gradient are a function of (scenario,
// parameters, phase) only, reduced in shard order.
//
// Thread safety: one caller at a time (the equilibrium loop).
#ifndef SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_
#define SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "environment/population_evaluator.h"
#include "followers/follower_policy.h"
#include "rl/ppo_math.h"

namespace smfg::followers {

// What training did, cumulative (phases, updates, seconds) or of the last
// update (the PPO diagnostics, means over its steps).
struct FollowerTrainingStats {
  int64_t phases = 0;
  int64_t updates = 0;  // Adam steps = the policy version
  int64_t steps_last_phase = 0;
  double mean_daily_reward_usd = 0.0;  // last phase's episodes, kernel reward per day
  double mean_entropy = 0.0;           // last phase, nats per visited row
  double policy_loss = 0.0;
  double value_loss = 0.0;
  double approx_kl = 0.0;
  double clip_fraction = 0.0;
  double seconds_rollouts = 0.0;
  double seconds_gradients = 0.0;
};

class LearningPopulationEvaluator final : public env::PopulationEvaluator {
 public:
  // For a validated scenario with follower.learner = kPpo; threads = 0 uses
  // every core.
  static absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> Create(
      const env::Scenario& scenario, int threads);

  absl::StatusOr<env::PopulationStats> Evaluate(const env::Tariff& tariff,
                                                const env::PriceBelief& belief) override;
  // The learned policy's exploitability.
  absl::StatusOr<env::ExploitabilityStats> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override;
  bool learned_followers() const override { return true; }
  absl::StatusOr<int> BeginSolve() override;
  absl::StatusOr<env::ExploitabilityStats> BestResponseExploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override;

  // One PPO phase at (tariff, belief) (module comment); Evaluate runs it
  // while the solve's budget lasts.
  absl::Status TrainPhase(const env::Tariff& tariff, const env::PriceBelief& belief);

  const env::ShardKernel& kernel() const { return kernel_; }
  const env::ShardKernel* in_process_kernel() const override { return &kernel_; }
  const FollowerPolicy& policy() const { return *replicas_[0]; }
  std::vector<double> parameters() const { return parameters_; }
  FollowerTrainingStats training_stats() const { return stats_; }

 private:
  LearningPopulationEvaluator(const env::Scenario& scenario, int threads);
  // A policy replica for this thread's work, returned by the guard.
  FollowerPolicy* Acquire();
  void Release(FollowerPolicy* replica);
  absl::Status SetAll(const std::vector<double>& parameters);

  env::ShardKernel kernel_;
  int threads_;
  std::vector<std::unique_ptr<FollowerPolicy>> replicas_;  // one per thread
  absl::Mutex mu_;
  std::vector<FollowerPolicy*> free_ ABSL_GUARDED_BY(mu_);
  std::vector<double> parameters_;
  rl::AdamState adam_;
  int phases_left_ = 0;
  uint64_t updates_in_solve_ = 0;
  FollowerTrainingStats stats_;
};

}  // namespace smfg::followers

#endif  // SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_
