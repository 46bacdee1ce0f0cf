// What a training run will need, estimated before it starts, so that a spec
// too large for the machine is refused at Submit with the estimate in the
// error instead of taking the process down (a leader network of 100 layers of
// 4,096 units once got the coordinator OOM-killed without a log line).
//
// The estimate is an upper-bound model, not a measurement (docs/OPERATIONS.md
// "Limits" gives the formulas): it counts the big arrays a run holds on the
// coordinator — the leader's two networks with gradients, Adam moments and
// the copies a transactional update and a checkpoint make (64 bytes per
// parameter), the price beliefs and market results (days x 24 x buses, lines
// and generators), the per-shard population statistics a distributed
// evaluation collects (shards x days x 24 x buses, ...) — and, when the
// population is evaluated in the coordinator's own process, the households.
#ifndef SMFG_TRAINING_RESOURCES_H_
#define SMFG_TRAINING_RESOURCES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "training/trainer.h"

namespace smfg::training {

struct ResourceEstimate {
  int64_t leader_parameters = 0;  // both networks
  int64_t leader_bytes = 0;
  int64_t loop_bytes = 0;         // beliefs, market results, history
  int64_t shard_stats_bytes = 0;  // per-shard statistics of one evaluation
  int64_t population_bytes = 0;   // 0 unless evaluated in process
  int64_t total_bytes() const {
    return leader_bytes + loop_bytes + shard_stats_bytes + population_bytes;
  }
  // "leader networks 8,707 parameters: 0.6 MB, loop 3.1 MB, ..."
  std::string Describe() const;
};

// For a validated `params`; `population_in_process`: the coordinator
// evaluates the households itself (--local_threads), not on workers.
ResourceEstimate EstimateResources(const TrainerParams& params, bool population_in_process);

// OK when the estimate fits `budget_bytes`; else INVALID_ARGUMENT naming the
// spec field behind the largest term ("learner.hidden_sizes",
// "scenario.shards", "scenario.days" or "scenario.classes") with the estimate
// and the budget.
absl::Status CheckResources(const TrainerParams& params, bool population_in_process,
                            int64_t budget_bytes);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_RESOURCES_H_
