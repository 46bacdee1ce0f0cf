// The coordinator's Prometheus metrics (text exposition format 0.0.4), served
// on GET /metrics when --metrics_port is not -1 (docs/OPERATIONS.md "Metrics").
#ifndef SMFG_COORDINATOR_METRICS_TEXT_H_
#define SMFG_COORDINATOR_METRICS_TEXT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coordinator/worker_pool.h"

namespace smfg::coordinator {

struct CoordinatorMetrics {
  // Status name (ExperimentStatusName) -> number of experiments.
  std::map<std::string, int64_t> experiments_by_status;
  // Sum over experiments of the outer iterations with stored metrics.
  int64_t outer_iterations_completed = 0;
  int live_workers = 0;
  // WorkerPool::worker_waits().
  int64_t worker_waits = 0;
  // WorkerPool::Workers(), including dead ones.
  std::vector<WorkerCounters> workers;
  // WorkerPool::Totals(): bytes to/from workers, barrier wait.
  PoolTotals pool;
  // ExperimentManager::EquilibriumEndTotals(): follower equilibria by end.
  int64_t equilibria_converged = 0;
  int64_t equilibria_stalled = 0;
  int64_t equilibria_out_of_iterations = 0;
};

// The metrics as Prometheus text; rows in a fixed order (statuses and workers
// sorted), label values escaped. Seconds are printed with 9 significant
// digits; smfg_worker_seconds_per_shard is compute_seconds / shards_completed
// (0 before the worker's first accepted shard).
std::string FormatPrometheus(const CoordinatorMetrics& metrics);

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_METRICS_TEXT_H_
