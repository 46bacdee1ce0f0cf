// The coordinator's side of the worker protocol (proto/smfg/v1/worker.proto):
// the registry of workers and the queue of shard work. No gRPC types: the thin
// gRPC service over it is coordinator/worker_service.h.
//
// Model. A job is one population computation (Evaluate or Exploitability) over
// all logical shards of a scenario. Its shards wait in a pending set; a worker
// that long-polls GetWork receives the lowest pending shards, at most
// ceil(job shards / live workers) of them, as one work item with a fresh work
// id. A work item ends in exactly one of three ways:
//   - its result is accepted (SubmitResult with matching worker, work id,
//     shard list, sizes, finite values);
//   - it is taken back: the worker reported an error, sent an invalid result,
//     missed the item's deadline (Options::work_deadline) or missed its
//     heartbeat (Options::heartbeat_timeout, which also marks it dead). Its
//     shards return to the pending set; the worker's `reassignments` and
//     `failures` counters grow;
//   - the same worker calls GetWork again: a worker computes one item at a
//     time, so it has lost the item (e.g. the response missed its deadline);
//     the item is taken back without counting a failure;
//   - its job ends (finished, or failed).
// A result quoting a work id that has ended is stale (FAILED_PRECONDITION) and
// changes nothing. Because results are kept per shard and reduced in shard-id
// order by the caller, who computed which shard never changes a bit of the
// totals (DESIGN §4).
//
// Time is WorkerPoolOptions::clock (absl::Now by default); liveness is checked
// whenever a job waits, a worker polls or a caller asks about workers, so no
// background thread is needed.
//
// Where a job's time goes (JobStats, WorkerCounters::compute_seconds,
// PoolTotals), all in seconds of coordinator wall time unless stated:
//   - compute: what the worker reports in SubmitResultRequest.compute_seconds
//     for an accepted item (its own wall time inside the computation; 0 from
//     workers that do not report it; negative or non-finite reports count 0);
//   - communication of an accepted item: (time its result was accepted) −
//     (time it was assigned) − compute, floored at 0. It covers serialising,
//     sending and parsing the item and the result, gRPC queueing, and waiting
//     for the pool's lock;
//   - barrier wait of a worker in a job: (time the job's last shard was
//     accepted) − (time this worker's last result in the job was accepted);
//     the worker that delivered last waits 0. When several jobs run at once a
//     worker may spend this time on another job's items, so it is idle time
//     only with one job at a time (one experiment).
// For each worker that had at least one accepted item in a job:
//   first assignment − job start  +  Σ (compute + communication)
//     +  gaps between its items  +  barrier wait  =  job end − job start,
// where job end is the acceptance of the last shard (RunJob returns right
// after) and the "gaps" (a worker's next GetWork reaching the pool after its
// SubmitResult) plus time spent on items that were taken back are not
// attributed. Bytes are protobuf payload sizes (ByteSizeLong): every
// GetWorkResponse that carried an item, every SubmitResultRequest received;
// gRPC/HTTP2 framing, Register, Heartbeat and empty long polls are not
// counted.
#ifndef SMFG_COORDINATOR_WORKER_POOL_H_
#define SMFG_COORDINATOR_WORKER_POOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "environment/population_stats.h"
#include "follower_workers/wire_convert.h"
#include "smfg/v1/worker.pb.h"

namespace smfg::coordinator {

struct WorkerPoolOptions {
  // A worker not heard from (any RPC) for this long is dead.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  // Heartbeat period asked of workers; well below heartbeat_timeout.
  absl::Duration heartbeat_interval = absl::Seconds(3);
  // Time a worker has to return a work item before it is reassigned.
  absl::Duration work_deadline = absl::Minutes(10);
  // Longest server-side wait of one GetWork long poll.
  absl::Duration max_long_poll = absl::Seconds(20);
  // A job fails (ABORTED) once one of its shards has been taken back this
  // many times for a failure (error report, invalid result, missed deadline,
  // worker death), so a shard that no worker can compute cannot loop forever.
  int max_shard_failures = 5;
  // The pool's clock for liveness, deadlines and time accounting. Empty:
  // absl::Now. Tests inject a fake one (waits still take real time, bounded
  // by what the fake clock says is left).
  std::function<absl::Time()> clock;
};

// Per-worker counters (kept after a worker dies, for metrics).
struct WorkerCounters {
  std::string worker_id;
  std::string name;
  bool live = false;
  int64_t items_assigned = 0;
  int64_t items_completed = 0;
  int64_t shards_completed = 0;
  // Items taken back from this worker and put up for reassignment.
  int64_t reassignments = 0;
  // Missed deadlines or heartbeats, error reports, invalid results.
  int64_t failures = 0;
  // SubmitResult calls refused (stale, not owned, invalid).
  int64_t rejected_results = 0;
  // Compute seconds the worker reported for its accepted items, summed (see
  // the header comment); compute_seconds / shards_completed is its time per
  // shard.
  double compute_seconds = 0;
};

// Pool-wide totals since the pool was created (every job, every worker).
struct PoolTotals {
  // Serialised GetWorkResponse sizes of every item handed out, bytes.
  int64_t bytes_to_workers = 0;
  // Serialised SubmitResultRequest sizes of every result received (accepted,
  // rejected or stale), bytes.
  int64_t bytes_from_workers = 0;
  // Barrier wait summed over successful jobs and their participating workers.
  double barrier_wait_seconds = 0;
  // Learning followers' gradients refused because they were taken at
  // another policy version than the job's (the item is reassigned).
  int64_t stale_gradients = 0;
};

// One worker's part in one job (only workers with an accepted item).
struct WorkerJobTime {
  std::string worker_id;
  int items = 0;   // accepted items
  int shards = 0;  // shards of those items
  double compute_seconds = 0;
  double communication_seconds = 0;
  double barrier_seconds = 0;
};

// Where one successful job's time and traffic went (header comment).
struct JobStats {
  // RunJob call to return, seconds.
  double wall_seconds = 0;
  // GetWorkResponse sizes of this job's items, including items later taken
  // back, bytes.
  int64_t bytes_to_workers = 0;
  // SubmitResultRequest sizes quoting an outstanding item of this job
  // (accepted, rejected or error reports), bytes.
  int64_t bytes_from_workers = 0;
  // Sorted by worker id.
  std::vector<WorkerJobTime> workers;
};

// One population computation over shards [0, shards) of a scenario.
struct JobSpec {
  std::string experiment_id;
  uint64_t scenario_fingerprint = 0;
  // Sent with an item when the worker does not hold the fingerprint.
  std::shared_ptr<const v1::Scenario> scenario;
  int shards = 0;
  // Expected shape of each shard's PopulationStats (EVALUATE jobs).
  workers::StatsShape shape;
  v1::WorkKind kind = v1::WORK_KIND_UNSPECIFIED;
  // Carries the payload (evaluate / exploitability / policy_gradient) shared
  // by all items.
  std::shared_ptr<const v1::WorkItem> payload;
  // POLICY_GRADIENT jobs: the parameter count and the version every gradient
  // must quote (a result quoting another is rejected and counted in
  // PoolTotals::stale_gradients).
  int64_t policy_parameters = 0;
  uint64_t policy_version = 0;
};

// Per-shard results, indexed by shard id; one of the three is filled.
struct JobResults {
  std::vector<env::PopulationStats> population;
  std::vector<env::ExploitabilityStats> exploitability;
  std::vector<followers::ShardGradient> gradients;
  JobStats stats;
};

struct JobWaitOptions {
  // How long the job may go without any live worker before it fails with
  // UNAVAILABLE.
  absl::Duration no_worker_timeout = absl::Minutes(5);
  // Called (without locks held) each time the job starts waiting for a worker
  // to register, after the waiting message is logged to stderr.
  std::function<void()> on_waiting_for_workers;
};

class WorkerPool {
 public:
  explicit WorkerPool(WorkerPoolOptions options = {});
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // RPC cores. Worker ids are "w<n>-<8 hex digits of this pool>", never
  // reused by this or any other pool. NOT_FOUND: unknown or dead worker id
  // (the worker re-registers).
  v1::RegisterResponse Register(const v1::RegisterRequest& request);
  absl::Status Heartbeat(const v1::HeartbeatRequest& request);
  // Waits until an item is available, for at most `max_wait` (and
  // Options::max_long_poll), until Shutdown(), or until `cancelled()` (polled
  // at least every second), and returns the item or an empty response.
  absl::StatusOr<v1::GetWorkResponse> GetWork(const v1::GetWorkRequest& request,
                                              absl::Duration max_wait,
                                              const std::function<bool()>& cancelled = nullptr);
  // FAILED_PRECONDITION: stale/unknown work id or an item owned by another
  // worker (nothing changes), or a result for a shard the item does not hold
  // (the item is reassigned). INVALID_ARGUMENT: results that do not decode or
  // do not fit the item (the item is reassigned). NOT_FOUND: unknown worker.
  // A non-empty error_message is accepted (OK) and reassigns the item.
  absl::Status SubmitResult(const v1::SubmitResultRequest& request);

  // Runs a job to completion on the registered workers; blocks. UNAVAILABLE
  // when no worker was live for wait.no_worker_timeout, or after Shutdown();
  // ABORTED when a shard failed Options::max_shard_failures times.
  // Thread-safe: several jobs may run at once and are served oldest first.
  absl::StatusOr<JobResults> RunJob(const JobSpec& job, const JobWaitOptions& wait);

  // Ends every running job of `experiment_id`: its RunJob returns CANCELLED
  // at once (also while it waits for a worker to register); results still
  // out at workers become stale.
  void CancelJobs(const std::string& experiment_id);

  // Wakes every waiter; later GetWork return empty and RunJob UNAVAILABLE.
  void Shutdown();

  // These three first declare silent workers dead (as every call that
  // touches workers does), so they never report a worker that is past its
  // heartbeat timeout as live.
  std::vector<WorkerCounters> Workers();
  int LiveWorkers();
  // Waits until at least `n` workers are live; false after `timeout`.
  bool WaitForLiveWorkers(int n, absl::Duration timeout);
  PoolTotals Totals() const;
  // Number of times a job had to wait for a worker to register.
  int64_t worker_waits() const;

 private:
  struct Worker {
    WorkerCounters counters;
    absl::Time last_seen;
  };
  struct Assignment {
    uint64_t job_id = 0;
    std::string worker_id;
    std::vector<int> shards;
    absl::Time assigned;
    absl::Time deadline;
  };
  struct Job {
    JobSpec spec;
    std::set<int> pending;
    int remaining = 0;
    JobResults results;
    std::map<int, int> shard_failures;
    absl::Status failure;  // set when the job must end unsuccessfully
    absl::Time started;
    absl::Time finished;  // when the last shard was accepted
    int64_t bytes_to_workers = 0, bytes_from_workers = 0;
    // By worker id; barrier_seconds is filled when the job ends.
    std::map<std::string, WorkerJobTime> worker_times;
    std::map<std::string, absl::Time> last_accepted;
  };

  absl::Time Now() const;
  // Waits on changed_ until `deadline` (on the pool's clock) at the latest.
  void WaitUntilLocked(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the assignment's shards to its job's pending set. `failure`
  // (non-OK) counts against the shards and, unless `worker_already_charged`,
  // the worker.
  void RequeueLocked(uint64_t work_id, const absl::Status& failure, bool worker_already_charged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Declares silent workers dead and takes back overdue items.
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The earliest time SweepLocked could change something.
  absl::Time NextSweepLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int LiveWorkersLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a job: forgets it and every assignment of it.
  void EraseJobLocked(uint64_t job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AcceptResultLocked(const v1::SubmitResultRequest& request, Assignment& a, Job& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Books an accepted item's time against its worker, in the job and the
  // worker's counters.
  void RecordAcceptedLocked(const v1::SubmitResultRequest& request, const Assignment& a, Job& job,
                            absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stats of a job whose last shard was accepted; adds its barrier wait
  // to totals_.
  JobStats FinishStatsLocked(Job& job, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerPoolOptions options_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;  // work, results, workers or shutdown changed
  std::map<std::string, Worker> workers_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Assignment> assignments_ ABSL_GUARDED_BY(mu_);  // by work id
  std::map<uint64_t, Job> jobs_ ABSL_GUARDED_BY(mu_);                // by job id
  const std::string incarnation_;                                    // part of every worker id
  uint64_t next_worker_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_work_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_job_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t worker_waits_ ABSL_GUARDED_BY(mu_) = 0;
  PoolTotals totals_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

// The gRPC service: converts and delegates to a WorkerPool (not owned).
}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_WORKER_POOL_H_
