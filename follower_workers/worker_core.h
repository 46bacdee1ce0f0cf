// The worker's computation, independent of any transport: turns a WorkItem
// (proto/smfg/v1/worker.proto) into per-shard results with env::ShardKernel,
// and for learning followers with followers::FollowerShardWork (policy
// statistics, exploitability and PPO gradients, one torch thread per shard).
//
// Kernels are cached per scenario fingerprint because building one (drawing
// the population, day conditions) costs far more than a shard evaluation; the
// scenario travels only when the coordinator learns the worker lacks it
// (GetWorkRequest.known_scenario_fingerprints). Everything a worker holds can be
// rebuilt from the scenario (DESIGN §3), so dropping the cache is always safe.
//
// Untrusted input: every field of the item is checked (scenario validity and
// fingerprint, shard ids, payload shapes) before the kernel runs, so a bad item
// yields INVALID_ARGUMENT / FAILED_PRECONDITION, never a crash.
#ifndef SMFG_FOLLOWER_WORKERS_WORKER_CORE_H_
#define SMFG_FOLLOWER_WORKERS_WORKER_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/population_evaluator.h"
#include "followers/shard_work.h"
#include "smfg/v1/worker.pb.h"

namespace smfg::workers {

class WorkerCore {
 public:
  // `threads` >= 1 shards of one item are computed concurrently (results do
  // not depend on it). At most `max_cached_scenarios` kernels are kept; the
  // oldest is dropped first.
  explicit WorkerCore(int threads, int max_cached_scenarios = 4);

  // Fingerprints of the scenarios whose kernels are cached, for
  // GetWorkRequest.known_scenario_fingerprints.
  std::vector<uint64_t> KnownFingerprints() const;

  // Computes every shard of `item`, one ShardResult per shard in the item's
  // order. `cancelled` (optional) is polled between shards; when it returns
  // true the computation stops with CANCELLED. Errors:
  //   FAILED_PRECONDITION  the item omits its scenario and none is cached for
  //                        the fingerprint (poll again listing what we have);
  //   INVALID_ARGUMENT     anything malformed (message names the field).
  // Thread-safe.
  absl::StatusOr<std::vector<v1::ShardResult>> Compute(
      const v1::WorkItem& item, const std::function<bool()>& cancelled = nullptr);

 private:
  absl::StatusOr<std::shared_ptr<const env::ShardKernel>> KernelFor(const v1::WorkItem& item);
  // The learning followers' work for a cached kernel (created on first use).
  absl::StatusOr<std::shared_ptr<followers::FollowerShardWork>> WorkFor(
      uint64_t fingerprint, std::shared_ptr<const env::ShardKernel> kernel);

  const int threads_;
  const int max_cached_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<const env::ShardKernel>> kernels_;  // guarded by mu_
  std::deque<uint64_t> insertion_order_;                                 // guarded by mu_
  // Learning followers' policy replicas and episode caches, per fingerprint.
  std::map<uint64_t, std::shared_ptr<followers::FollowerShardWork>> works_;  // guarded by mu_
};

}  // namespace smfg::workers

#endif  // SMFG_FOLLOWER_WORKERS_WORKER_CORE_H_
