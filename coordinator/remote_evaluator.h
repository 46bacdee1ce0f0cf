// env::PopulationEvaluator over remote workers (DESIGN §3, §4).
//
// Each call becomes one WorkerPool job over all logical shards of the
// scenario; workers compute shards with env::ShardKernel, and the per-shard
// results are reduced with env::ReduceShards, as env::LocalPopulationEvaluator
// does. The totals are therefore bit-identical to the local evaluator's for
// any number of workers, any assignment of shards, and any reassignment after
// failures.
#ifndef SMFG_COORDINATOR_REMOTE_EVALUATOR_H_
#define SMFG_COORDINATOR_REMOTE_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/worker_pool.h"
#include "environment/population_evaluator.h"
#include "followers/learning_evaluator.h"

namespace smfg::coordinator {

struct RemoteEvaluatorOptions {
  std::string experiment_id = "default";
  // How long a call waits with no live worker before returning UNAVAILABLE.
  absl::Duration worker_wait_timeout = absl::Minutes(5);
  // Called whenever a call starts waiting for a worker to register (after
  // the waiting message is logged); e.g. to export a metric.
  std::function<void()> on_waiting_for_workers;
};

class RemotePopulationEvaluator final : public env::PopulationEvaluator {
 public:
  // `pool` must outlive the evaluator. `scenario` must be valid; it is sent to
  // workers as smfg.v1.Scenario (config::FromScenario), which round-trips.
  RemotePopulationEvaluator(WorkerPool* pool, const env::Scenario& scenario,
                            RemoteEvaluatorOptions options = {});

  // Errors: INVALID_ARGUMENT when the kernel could not read the tariff or
  // belief (workers::CheckKernelInputs), before anything is sent; UNAVAILABLE
  // when no worker was live for options.worker_wait_timeout; ABORTED when a
  // shard kept failing (WorkerPoolOptions::max_shard_failures).
  absl::StatusOr<env::PopulationStats> Evaluate(const env::Tariff& tariff,
                                                const env::PriceBelief& belief) override;
  absl::StatusOr<env::ExploitabilityStats> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override;

  // Sums of every completed call's JobStats: bytes as they are; seconds as
  // the mean over the workers that took part in the call (a failed call adds
  // nothing). Thread-safe.
  env::EvaluatorCounters Counters() const override;

  uint64_t scenario_fingerprint() const { return fingerprint_; }

  // One job of `kind` over every shard with `payload` (its payload field set
  // for the kind), counted in Counters(). For POLICY_GRADIENT jobs the
  // parameter count and version every gradient must quote.
  absl::StatusOr<JobResults> RunShards(v1::WorkKind kind,
                                       std::shared_ptr<const v1::WorkItem> payload,
                                       int64_t policy_parameters = 0, uint64_t policy_version = 0);
  // workers::CheckKernelInputs for this scenario.
  absl::Status CheckInputs(const env::Tariff& tariff, const env::PriceBelief& belief) const;

 private:
  JobSpec BaseJob() const;
  JobWaitOptions WaitOptions() const;
  void AddJobStats(const JobStats& stats);

  WorkerPool* pool_;
  const RemoteEvaluatorOptions options_;
  const int shards_;
  const workers::StatsShape shape_;
  std::shared_ptr<const v1::Scenario> wire_scenario_;
  uint64_t fingerprint_ = 0;
  mutable absl::Mutex counters_mu_;
  env::EvaluatorCounters counters_ ABSL_GUARDED_BY(counters_mu_);
};

// The learning followers' shard work on the workers (issue 11): policy
// parameters go down in EVALUATE / EXPLOITABILITY / POLICY_GRADIENT items,
// per-shard statistics and gradients come up, and followers::
// LearningPopulationEvaluator reduces them in shard order and steps Adam
// here. A gradient quoting another policy version than the job's is rejected
// by the pool, counted (PoolTotals::stale_gradients) and its shards
// reassigned, so results are the same bits for any number of workers and
// through worker failures.
class RemoteFollowerBackend final : public followers::FollowerShardBackend {
 public:
  // `pool` must outlive the backend; `parameter_count` is the policy's.
  RemoteFollowerBackend(WorkerPool* pool, const env::Scenario& scenario, int64_t parameter_count,
                        RemoteEvaluatorOptions options = {});

  absl::StatusOr<std::vector<env::PopulationStats>> Evaluate(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const followers::PolicyVersion& policy) override;
  absl::StatusOr<std::vector<env::ExploitabilityStats>> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised,
      const followers::PolicyVersion* policy) override;
  absl::StatusOr<std::vector<followers::ShardGradient>> Gradients(
      const env::Tariff& tariff, const env::PriceBelief& belief, uint64_t phase,
      const followers::PolicyVersion& sampling, const followers::PolicyVersion& current) override;
  env::EvaluatorCounters Counters() const override { return remote_.Counters(); }

 private:
  RemotePopulationEvaluator remote_;
  int64_t parameter_count_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_REMOTE_EVALUATOR_H_
