// The learning followers' work on one logical shard, wherever it runs: in the
// coordinator's process (LocalFollowerBackend) or on a worker (the worker's
// WorkerCore for WORK_KIND_POLICY_GRADIENT and policy-carrying EVALUATE and
// EXPLOITABILITY items). One implementation serves both, so a shard's
// statistics, exploitability and gradient are the same bits wherever they are
// computed (DESIGN §4): each is a function of (scenario, shard, tariff,
// belief, parameters[, phase, sampling parameters]) only.
//
// A gradient's episodes are sampled with the sampling parameters (the phase's
// theta_old) and kept per shard under a caller's key, so a phase's later epochs
// reuse them; a miss (another worker computed the shard before, a restart)
// samples them again, to the same bits.
//
// Thread-safe: every method may be called from several threads at once (each
// call takes one of `replicas` policy replicas, waiting for a free one).
#ifndef SMFG_FOLLOWERS_SHARD_WORK_H_
#define SMFG_FOLLOWERS_SHARD_WORK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "environment/population_evaluator.h"
#include "followers/follower_policy.h"

namespace smfg::followers {

class FollowerShardWork {
 public:
  // `kernel`'s scenario must be validated with learner = kPpo.
  static absl::StatusOr<std::unique_ptr<FollowerShardWork>> Create(
      std::shared_ptr<const env::ShardKernel> kernel, int replicas);

  const env::ShardKernel& kernel() const { return *kernel_; }
  int64_t parameter_count() const { return parameter_count_; }
  // The scenario's seeded initial parameters (version 0).
  std::vector<double> InitialParameters() const { return initial_; }

  // INVALID_ARGUMENT for a shard out of range or parameters that do not fit
  // (named), else the kernel's and the policy's errors.
  absl::StatusOr<env::PopulationStats> Evaluate(int shard, const env::Tariff& tariff,
                                                const env::PriceBelief& belief,
                                                const std::vector<double>& parameters);
  absl::StatusOr<env::ExploitabilityStats> Exploitability(int shard, const env::Tariff& tariff,
                                                          const env::PriceBelief& belief,
                                                          const env::PriceBelief& realised,
                                                          const std::vector<double>& parameters);
  // The gradient at `current` of the loss over episodes sampled with
  // `sampling` in phase `phase`; `rollout_key` names those episodes (equal
  // keys must mean equal tariff, belief, phase and sampling parameters).
  absl::StatusOr<ShardGradient> Gradient(int shard, const env::Tariff& tariff,
                                         const env::PriceBelief& belief, uint64_t phase,
                                         const std::vector<double>& sampling,
                                         const std::vector<double>& current, uint64_t rollout_key);

  // Gradients whose episodes came from the cache (observability only).
  int64_t rollout_cache_hits() const;

 private:
  explicit FollowerShardWork(std::shared_ptr<const env::ShardKernel> kernel);
  class Lease;
  absl::Status CheckShard(int shard) const;

  std::shared_ptr<const env::ShardKernel> kernel_;
  int64_t parameter_count_ = 0;
  std::vector<double> initial_;
  std::vector<std::unique_ptr<FollowerPolicy>> replicas_;
  mutable absl::Mutex mu_;
  std::vector<FollowerPolicy*> free_ ABSL_GUARDED_BY(mu_);
  struct CachedRollouts {
    uint64_t key = 0;
    std::shared_ptr<const ShardRollouts> rollouts;
  };
  std::map<int, CachedRollouts> rollouts_ ABSL_GUARDED_BY(mu_);  // by shard
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace smfg::followers

#endif  // SMFG_FOLLOWERS_SHARD_WORK_H_
