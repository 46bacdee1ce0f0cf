// The coordinator's experiment core (DESIGN §3): validation, storage, the
// runner threads and watching. No gRPC types: coordinator/experiment_service.h
// is the thin gRPC edge over it.
//
// Lifecycle of a run (statuses are ExperimentStore's):
//   Submit checks the spec as a message (config::CheckSpecMessage with
//   training::ValidateLeaderSide; a spec that names a file is refused: the
//   coordinator never opens a path a client sent) and stores its effective
//   form (config::EffectiveSpec, text format) QUEUED under the idempotency
//   key. A scheduler thread starts up to max_concurrent runs, oldest first,
//   and first of all the experiments a previous coordinator left RUNNING or
//   WAITING_FOR_WORKERS (ExperimentStore::ExperimentsToResume). A run is a
//   training::TrainingRun over the stored spec, its evaluator from
//   Params::evaluator_factory, checkpointing into the store's CheckpointDir(id)
//   with the checkpoint owner "<id>/<spec fingerprint>", resuming from the
//   checkpoint there if any (and re-appending iteration records the store
//   missed because the previous coordinator died between checkpoint and
//   AppendIteration). Before each outer iteration it sets WAITING_FOR_WORKERS
//   while live_workers() reports none, RUNNING otherwise, and honours a cancel
//   request (-> CANCELLED); within an iteration the evaluator's
//   on_waiting_for_workers callback sets WAITING_FOR_WORKERS at once, and the
//   run returns to RUNNING when that iteration (or the final evaluation)
//   completes; after each it appends the iteration's record and records the
//   checkpoint. At the end ExperimentStore::Complete stores TrainingRun::
//   Finish's files and marks SUCCEEDED in one transaction, or marks CANCELLED
//   when a cancel arrived meanwhile (an accepted cancel always ends CANCELLED);
//   any error marks FAILED with the error as
//   message. Shutdown() stops runs at the next iteration boundary (or when
//   their evaluator fails because the pool shut down) and leaves their status
//   as it is, so the next coordinator on the data directory resumes them.
//
// Thread-safe.
#ifndef SMFG_COORDINATOR_EXPERIMENT_MANAGER_H_
#define SMFG_COORDINATOR_EXPERIMENT_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/experiment_store.h"
#include "environment/population_evaluator.h"
#include "smfg/v1/spec.pb.h"
#include "smfg/v1/training.pb.h"

namespace smfg::coordinator {

struct ExperimentManagerParams {
  ExperimentStore* store = nullptr;  // not owned; must outlive the manager
  int max_concurrent = 1;            // runs at once, >= 1
  // Submit refuses a spec whose estimated memory (training::EstimateResources)
  // exceeds this; 0: no check.
  int64_t memory_budget_bytes = 0;
  // The evaluator factory evaluates populations in this process (their
  // households count against the budget).
  bool population_in_process = false;
  // Threads clearing each run's market (TrainingRunOptions::market_threads).
  int market_threads = 1;
  // Builds the population evaluator of one run (e.g. a
  // RemotePopulationEvaluator over the WorkerPool, or a local one in tests).
  // The evaluator calls `on_waiting_for_workers` (on the run's thread) when
  // a computation has to wait for a worker to register; the run then shows
  // WAITING_FOR_WORKERS. Evaluators that need no worker ignore it.
  std::function<absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>>(
      const std::string& experiment_id, const env::Scenario& scenario,
      std::function<void()> on_waiting_for_workers)>
      evaluator_factory;
  // Number of live workers; empty: the evaluator needs none (always RUNNING).
  std::function<int()> live_workers;
  // How often the scheduler and Watch look at the store when nothing in this
  // process woke them (changes made by other processes, client cancellation).
  absl::Duration poll_interval = absl::Milliseconds(500);
  // Called by Shutdown() after runs were told to stop and before they are
  // joined, e.g. WorkerPool::Shutdown() to wake runs blocked on workers.
  std::function<void()> on_shutdown;
  // Called by Cancel() for an experiment whose run may be busy, e.g.
  // WorkerPool::CancelJobs(id) so that a run waiting on workers stops at once.
  std::function<void(const std::string& experiment_id)> on_cancel;
  // Testing: called after each outer iteration's record and checkpoint are
  // stored; returning false stops the run there as Shutdown() would (status
  // left as it is), simulating a coordinator killed between iterations.
  std::function<bool(const std::string& experiment_id, int iteration)>
      continue_after_iteration_for_testing;
};

struct SubmitOutcome {
  std::string experiment_id;
  bool created = false;
};

struct ListPage {
  std::vector<ExperimentRecord> experiments;  // newest first
  std::string next_page_token;                // empty on the last page
};

// Page sizes of List: 0 asks for the default.
inline constexpr int kDefaultListPageSize = 100;
inline constexpr int kMaxListPageSize = 1000;

class ExperimentManager {
 public:
  // INVALID_ARGUMENT for missing store/factory or max_concurrent < 1.
  static absl::StatusOr<std::unique_ptr<ExperimentManager>> Create(ExperimentManagerParams params);
  ~ExperimentManager();  // Shutdown()
  ExperimentManager(const ExperimentManager&) = delete;
  ExperimentManager& operator=(const ExperimentManager&) = delete;

  // Starts the scheduler thread (once).
  void Start();
  // Stops the scheduler and every run at its next iteration boundary and
  // joins them; Watch calls return. Idempotent.
  void Shutdown();

  // INVALID_ARGUMENT whose message starts with the spec field path ("spec."
  // followed by the path within the spec) for an invalid spec, one that names
  // a file, one larger than the memory budget (with the estimate), or an
  // empty key; UNIMPLEMENTED for a feature the trainer lacks;
  // ALREADY_EXISTS for a known key with another spec.
  absl::StatusOr<SubmitOutcome> Submit(const v1::ExperimentSpec& spec,
                                       const std::string& idempotency_key);
  absl::StatusOr<ExperimentRecord> Get(const std::string& id);
  // One page, newest first. INVALID_ARGUMENT for a page_size outside
  // [0, kMaxListPageSize] or a page_token this coordinator did not hand out.
  absl::StatusOr<ListPage> List(std::optional<ExperimentStatus> status, int page_size,
                                const std::string& page_token);
  // Works in every non-terminal state: a queued experiment is CANCELLED at
  // once; a run (also one in set-up or waiting for workers) stops at once or
  // at its next outer-iteration boundary (Params::on_cancel wakes a run that
  // waits on workers). FAILED_PRECONDITION for SUCCEEDED or FAILED.
  absl::StatusOr<ExperimentRecord> Cancel(const std::string& id);
  // ExperimentStore::Delete.
  absl::Status Delete(const std::string& id);
  // Result files by relative path ("plots/tariff.svg"). FAILED_PRECONDITION
  // unless the experiment SUCCEEDED.
  absl::StatusOr<std::vector<ResultFile>> Results(const std::string& id);

  // Calls `emit` with the record and the iteration records after
  // `after_iteration`, then again whenever the status, message or records
  // change, until the status is terminal (OK), `emit` returns false or
  // `cancelled()` is true (CANCELLED), or Shutdown() (UNAVAILABLE).
  // NOT_FOUND for an unknown id; DATA_LOSS for a stored record that does not
  // parse.
  absl::Status Watch(const std::string& id, int64_t after_iteration,
                     const std::function<bool(const ExperimentRecord&,
                                              const std::vector<v1::IterationRecord>&)>& emit,
                     const std::function<bool()>& cancelled);

  // Follower equilibria solved by this process's runs (reference searches
  // and outer iterations) by how they ended, since it started: the metric
  // smfg_equilibria_total. Each record or search with equilibria that did not
  // converge is also logged. Thread-safe.
  v1::EquilibriumEnds EquilibriumEndTotals() const;

 private:
  explicit ExperimentManager(ExperimentManagerParams params);
  void SchedulerLoop();
  // Runs one experiment to a terminal status, or until shutdown.
  void RunExperiment(const std::string& id);
  absl::Status RunExperimentOrError(const std::string& id);
  void SetStatus(const std::string& id, ExperimentStatus status, const std::string& message);
  void Notify();
  bool stopping() const;
  void AddEquilibriumEnds(const std::string& id, absl::string_view where,
                          const v1::EquilibriumEnds& ends);

  // When a run that failed before it could record its failure (e.g. the
  // store was briefly unwritable) may be started again.
  bool MayStartLocked(const std::string& id, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ExperimentManagerParams params_;
  mutable absl::Mutex mu_;
  // Runs that ended without a terminal status although the manager is not
  // stopping: restarts of each are spaced 1 s, 2 s, 4 s, ... up to 5 min.
  struct Backoff {
    int failures = 0;
    absl::Time not_before;
  };
  std::map<std::string, Backoff> backoff_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;                     // bumped on every change
  std::map<std::string, std::thread> runs_ ABSL_GUARDED_BY(mu_);  // active
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);        // to join
  v1::EquilibriumEnds equilibrium_ends_ ABSL_GUARDED_BY(mu_);
  std::thread scheduler_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_EXPERIMENT_MANAGER_H_
