// A PopulationEvaluator whose battery households learn (issue 11): they follow
// the shared FollowerPolicy, trained with PPO at the start of each equilibrium
// solve (PopulationEvaluator::BeginSolve), and the market clears on their
// exact expected response to the policy's tables (ShardKernel::EvaluateShard
// with a PolicyTableWriter), so the mean-field loop, its determinism and the
// leader's loop run unchanged over either learner.
//
// A PPO phase at (tariff, belief m), policy version v:
//   1. theta_old = theta_v samples every shard's episodes (phase = the count
//      of phases so far);
//   2. epochs_per_phase times: every shard's gradient at the current
//      parameters is computed (FollowerShardWork, in this process or on the
//      workers: the backend), the gradients are summed in shard order and
//      divided by the total step count, and Adam (rl::AdamStep) steps the
//      flat parameters; version += 1. A gradient computed at another version
//      is refused (INTERNAL here; the remote backend rejects and counts it
//      before it gets this far). The step size decays linearly over the
//      solve's phases x epochs_per_phase updates from learning_rate
//      to a tenth of it (rl::ScheduledLearningRate), so each solve ends on a
//      settled policy.
// The parameters, Adam's state and the phase counter persist across solves
// (warm start across outer iterations): the first solve trains
// phases_per_solve phases, every later one phases_per_warm_solve. Results are the same bits for any
// thread or worker count: each shard's work is a function of (scenario,
// parameters, phase) only, and Adam runs here on the shard-ordered sum.
//
// Thread safety: one caller at a time (the equilibrium loop).
#ifndef SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_
#define SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/population_evaluator.h"
#include "followers/follower_policy.h"
#include "followers/shard_work.h"
#include "rl/ppo_math.h"

namespace smfg::followers {

// Where the learning followers' shard work runs. Each method returns one
// entry per logical shard, in shard order.
class FollowerShardBackend {
 public:
  virtual ~FollowerShardBackend() = default;
  virtual absl::StatusOr<std::vector<env::PopulationStats>> Evaluate(
      const env::Tariff& tariff, const env::PriceBelief& belief, const PolicyVersion& policy) = 0;
  // With `policy` null, the exact best response's exploitability.
  virtual absl::StatusOr<std::vector<env::ExploitabilityStats>> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised,
      const PolicyVersion* policy) = 0;
  virtual absl::StatusOr<std::vector<ShardGradient>> Gradients(const env::Tariff& tariff,
                                                               const env::PriceBelief& belief,
                                                               uint64_t phase,
                                                               const PolicyVersion& sampling,
                                                               const PolicyVersion& current) = 0;
  virtual const env::ShardKernel* in_process_kernel() const { return nullptr; }
  virtual env::EvaluatorCounters Counters() const { return {}; }
};

// Shards on `threads` threads of this process (0 = every core).
absl::StatusOr<std::unique_ptr<FollowerShardBackend>> LocalFollowerBackend(
    const env::Scenario& scenario, int threads);

// The scenario's seeded initial policy parameters (FollowerPolicy::Create).
absl::StatusOr<std::vector<double>> InitialFollowerParameters(const env::Scenario& scenario);

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
  double seconds_training = 0.0;  // phases' wall time (rollouts and gradients)
};

class LearningPopulationEvaluator final : public env::PopulationEvaluator {
 public:
  // For a validated scenario with follower.learner = kPpo.
  static absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> Create(
      const env::Scenario& scenario, std::unique_ptr<FollowerShardBackend> backend);
  // With LocalFollowerBackend(scenario, threads).
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
  const env::ShardKernel* in_process_kernel() const override {
    return backend_->in_process_kernel();
  }
  env::EvaluatorCounters Counters() const override { return backend_->Counters(); }
  std::optional<env::LearnerState> SaveLearnerState() const override;
  absl::Status RestoreLearnerState(const env::LearnerState& state) override;

  // Called after every PPO phase Evaluate runs, with the stats after it and
  // the phase's place in its solve (1-based) and the solve's phase count;
  // for progress lines only (never influences a result).
  using PhaseProgress = std::function<void(const FollowerTrainingStats&, int, int)>;
  void set_phase_progress(PhaseProgress progress) { phase_progress_ = std::move(progress); }

  // One PPO phase at (tariff, belief) (module comment); Evaluate runs it
  // while the solve's budget lasts.
  absl::Status TrainPhase(const env::Tariff& tariff, const env::PriceBelief& belief);

  const std::vector<double>& parameters() const { return *policy_.values; }
  uint64_t policy_version() const { return policy_.version; }
  FollowerTrainingStats training_stats() const { return stats_; }

 private:
  LearningPopulationEvaluator(const env::Scenario& scenario,
                              std::unique_ptr<FollowerShardBackend> backend);

  env::FollowerParams::Ppo ppo_;
  std::unique_ptr<FollowerShardBackend> backend_;
  PolicyVersion policy_;
  rl::AdamState adam_;
  int phases_left_ = 0;
  int phases_per_solve_ = 0;  // this solve's: phases_per_solve, then phases_per_warm_solve
  int64_t solves_ = 0;
  uint64_t updates_in_solve_ = 0;
  FollowerTrainingStats stats_;
  PhaseProgress phase_progress_;
};

}  // namespace smfg::followers

#endif  // SMFG_FOLLOWERS_LEARNING_EVALUATOR_H_
