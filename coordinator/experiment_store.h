// The coordinator's persistent experiment store (DESIGN §3): experiments (spec,
// status, metrics history, results, checkpoint bookkeeping) in one SQLite
// database, `<data_dir>/smfg.db`, so that a coordinator killed at any moment
// can be restarted on the same data directory and lose nothing.
//
// Durability contract:
//  - the database runs in WAL journal mode with synchronous=FULL: a call that
//    returned OK is on disk and survives a process kill or a power cut;
//  - every call that changes more than one row does so in one transaction: a
//    kill, an I/O error or an injected fault (SetFaultHookForTesting) leaves
//    either all of its rows or none of them;
//  - the store never deletes or rewrites a file it did not create: a path
//    holding something that is not an intact smfg database makes Open() fail
//    (DATA_LOSS for a corrupt / non-SQLite file, FAILED_PRECONDITION for some
//    other program's SQLite database or a newer schema) and leaves it as it was.
//
// Checkpoint files themselves live outside the database, in
// CheckpointDir(id); the store only records which iteration the newest
// complete checkpoint holds (RecordCheckpoint), which the caller must do only
// after the checkpoint's files are durably written.
//
// Thread-safe: all calls serialise on one mutex around one connection. Several
// processes may open the same data directory (SQLite's file locks and the busy
// timeout arbitrate), but one coordinator per directory is the intended use.
//
// Plain C++: no gRPC, protobuf or torch here. Experiment specs are opaque
// text-format strings supplied by the caller and compared byte for byte.
#ifndef SMFG_COORDINATOR_EXPERIMENT_STORE_H_
#define SMFG_COORDINATOR_EXPERIMENT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace smfg::coordinator {

// Lifecycle of an experiment. Legal transitions (anything else, including any
// transition out of a terminal state, is FAILED_PRECONDITION):
//   QUEUED              -> WAITING_FOR_WORKERS | RUNNING | FAILED | CANCELLED
//   WAITING_FOR_WORKERS -> RUNNING | FAILED | CANCELLED
//   RUNNING             -> WAITING_FOR_WORKERS | SUCCEEDED | FAILED | CANCELLED
//   a non-terminal state -> itself (only the message changes)
// Stored by name ("RUNNING"), so the database is readable with the sqlite3 CLI.
enum class ExperimentStatus {
  kQueued,
  kWaitingForWorkers,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
};

// "QUEUED", "WAITING_FOR_WORKERS", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED".
absl::string_view ExperimentStatusName(ExperimentStatus status);
// Inverse of ExperimentStatusName; INVALID_ARGUMENT for anything else.
absl::StatusOr<ExperimentStatus> ParseExperimentStatus(absl::string_view name);
// SUCCEEDED, FAILED and CANCELLED.
bool IsTerminal(ExperimentStatus status);
bool IsLegalTransition(ExperimentStatus from, ExperimentStatus to);

struct ExperimentRecord {
  // Assigned by the store: "exp-" followed by a sequence number of at least six
  // digits ("exp-000001", "exp-000002", ...). Never reused within a data
  // directory, also not after the database is restored from an older backup
  // (an id whose checkpoint directory exists is skipped). Ignored by Create().
  std::string id;
  // Client-supplied, non-empty; unique within a data directory (see Create).
  std::string idempotency_key;
  std::string name;       // human-readable, free text
  std::string spec_text;  // the experiment spec as text-format proto
  // Create() always starts an experiment QUEUED with an empty message; the
  // fields below are ignored by Create().
  ExperimentStatus status = ExperimentStatus::kQueued;
  std::string status_message;
  bool cancel_requested = false;
  int64_t created_unix_seconds = 0;
  int64_t updated_unix_seconds = 0;
  // Highest outer iteration with a stored record (AppendIteration); -1 before
  // any.
  int64_t outer_iteration = -1;
  // Position in creation order (the number in the id); List pages by it.
  int64_t seq = 0;
};

struct CreateResult {
  ExperimentRecord experiment;
  bool created = false;  // false: the key was already known, nothing was written
};

struct IterationRow {
  int64_t iteration = 0;
  std::string record;  // opaque bytes, as given to AppendIteration
};

struct CheckpointInfo {
  int64_t iteration = 0;
  int64_t recorded_unix_seconds = 0;
};

struct ResultFile {
  std::string path;   // relative path, see PutResults
  std::string bytes;  // arbitrary binary content, NULs included
};

struct ExperimentStoreOptions {
  // Source of created/updated/recorded times, unix seconds. Empty: the system
  // clock. Tests inject a fake one.
  std::function<int64_t()> clock;
  // How long a call waits for another process's lock before UNAVAILABLE.
  int busy_timeout_ms = 5000;
  // Runs SQLite's `PRAGMA quick_check` in Open(), so a damaged database is
  // reported as DATA_LOSS at startup rather than halfway through a run. It
  // reads the whole file once (fast: sequential, no index rebuild).
  bool verify_on_open = true;
};

class ExperimentStore {
 public:
  // Opens (creating if needed) `data_dir` and `data_dir/smfg.db`, enables WAL,
  // synchronous=FULL, foreign keys and the busy timeout, and creates or
  // migrates the schema (version kept in table `schema_version`).
  // Errors: DATA_LOSS naming the path if the file is not SQLite or is corrupt;
  // FAILED_PRECONDITION if it is another application's SQLite database, was
  // written by a newer schema, cannot be written (read-only file or
  // directory), is new or empty while `data_dir/checkpoints` holds
  // checkpoints (a lost database: restore it rather than start over), or
  // `data_dir` cannot be created / used; UNAVAILABLE on I/O errors or a lock
  // held longer than the busy timeout.
  static absl::StatusOr<std::unique_ptr<ExperimentStore>> Open(const std::string& data_dir,
                                                               ExperimentStoreOptions options = {});

  ~ExperimentStore();
  ExperimentStore(const ExperimentStore&) = delete;
  ExperimentStore& operator=(const ExperimentStore&) = delete;

  const std::string& data_dir() const { return data_dir_; }
  const std::string& db_path() const { return db_path_; }
  // A random id drawn when the database was created: tells this store's
  // experiments from those of another database that used the same ids.
  const std::string& incarnation() const { return incarnation_; }

  // ---- experiments ----

  // Stores a new QUEUED experiment from `request` (idempotency_key, name,
  // spec_text; other fields ignored). If an experiment with the same
  // idempotency key exists: same spec_text -> returns it with created=false
  // (a retried submission); different spec_text -> ALREADY_EXISTS naming the
  // key and the existing id. INVALID_ARGUMENT for an empty key.
  absl::StatusOr<CreateResult> Create(const ExperimentRecord& request);

  // NOT_FOUND (naming `id`) for an unknown id.
  absl::StatusOr<ExperimentRecord> Get(absl::string_view id);

  // Newest first (by creation). `status`: only that status; nullopt: all.
  // `limit`: at most that many, 0 = no limit. `before_seq` > 0: only
  // experiments created before the one with that seq (the next page after a
  // page that ended there). Negative limit or before_seq -> INVALID_ARGUMENT.
  absl::StatusOr<std::vector<ExperimentRecord>> List(std::optional<ExperimentStatus> status,
                                                     int limit, int64_t before_seq = 0);

  // Removes a finished (SUCCEEDED, FAILED or CANCELLED) experiment: its rows
  // in one transaction, then its checkpoint directory. Its id is never given
  // out again. FAILED_PRECONDITION for an experiment that has not finished;
  // NOT_FOUND for an unknown id.
  absl::Status Delete(absl::string_view id);

  // Sets status and status message (cut to 4 KiB) if the transition is legal
  // (see ExperimentStatus), else FAILED_PRECONDITION naming both states.
  absl::Status UpdateStatus(absl::string_view id, ExperimentStatus status,
                            absl::string_view message);

  // Asks for cancellation and returns the updated record. A QUEUED experiment
  // has no run to stop and becomes CANCELLED at once. WAITING_FOR_WORKERS and
  // RUNNING ones get cancel_requested=true; whoever drives the run sees the
  // flag and moves it to CANCELLED itself (so it can stop at an iteration
  // boundary). Already CANCELLED: no-op. SUCCEEDED / FAILED:
  // FAILED_PRECONDITION.
  absl::StatusOr<ExperimentRecord> RequestCancel(absl::string_view id);

  // Experiments a restarted coordinator must pick up: RUNNING or
  // WAITING_FOR_WORKERS, oldest first. (QUEUED ones: List(kQueued, 0).)
  absl::StatusOr<std::vector<ExperimentRecord>> ExperimentsToResume();

  // ---- iteration history (one record per outer iteration) ----

  // Stores the record of outer `iteration` (>= 0; opaque bytes: the caller's
  // serialized smfg.v1.IterationRecord) and raises the experiment's
  // outer_iteration to it. Idempotent per (id, iteration): appending an
  // iteration again (a run resumed from an older checkpoint repeats
  // iterations) replaces the row, so history never holds duplicates.
  // NOT_FOUND for an unknown id.
  absl::Status AppendIteration(absl::string_view id, int64_t iteration, absl::string_view record);

  // Rows with iteration > after_iteration, ascending by iteration. Pass -1 for
  // the whole history. NOT_FOUND for an unknown id.
  absl::StatusOr<std::vector<IterationRow>> Iterations(absl::string_view id,
                                                       int64_t after_iteration);

  // ---- results (report.json, CSV, SVG, ... stored as blobs) ----

  // Writes all `files` or none (one transaction); a path already stored for
  // the experiment is replaced. Paths must pass smfg::ValidateRelativePath
  // (common/files.h: relative, no "..", no hidden components; they become
  // file names on the client's side) and be distinct within the call.
  // INVALID_ARGUMENT otherwise; NOT_FOUND for an unknown id.
  absl::Status PutResults(absl::string_view id, const std::vector<ResultFile>& files);
  absl::Status PutResult(absl::string_view id, absl::string_view path, absl::string_view bytes);

  // Ends a run in one transaction: when a cancel was requested (even one
  // that arrived while the results were being computed) the experiment
  // becomes CANCELLED with `cancelled_message` and the results are dropped;
  // otherwise `files` are stored as PutResults does and it becomes SUCCEEDED
  // with `message`. Returns the status it ended in. A cancel that was
  // accepted therefore always ends CANCELLED. FAILED_PRECONDITION when the
  // experiment is already terminal; the PutResults errors otherwise.
  absl::StatusOr<ExperimentStatus> Complete(absl::string_view id,
                                            const std::vector<ResultFile>& files,
                                            absl::string_view message,
                                            absl::string_view cancelled_message);
  // NOT_FOUND naming id and path if there is no such result.
  absl::StatusOr<std::string> GetResult(absl::string_view id, absl::string_view path);
  // Paths of the experiment's results, sorted. NOT_FOUND for an unknown id.
  absl::StatusOr<std::vector<std::string>> ListResults(absl::string_view id);

  // ---- checkpoints ----

  // `data_dir/checkpoints/<id>` (no trailing slash), created if missing.
  // NOT_FOUND for an unknown id; UNAVAILABLE if it cannot be created.
  absl::StatusOr<std::string> CheckpointDir(absl::string_view id);
  // Records that CheckpointDir(id) now holds a complete checkpoint of outer
  // `iteration` (>= 0). Call only after its files are durably written.
  absl::Status RecordCheckpoint(absl::string_view id, int64_t iteration);
  // The most recently *recorded* checkpoint (not the highest iteration: a run
  // restarted from scratch records low iterations again), or nullopt if none.
  // NOT_FOUND for an unknown id.
  absl::StatusOr<std::optional<CheckpointInfo>> LatestCheckpoint(absl::string_view id);

  // ---- testing ----

  // Called at named points inside write transactions, between their
  // statements (e.g. "PutResults:after_file", "AppendIteration:after_experiment").
  // A non-OK return aborts the transaction as an I/O error would: the call
  // returns that status and the database keeps its previous contents.
  using FaultHook = std::function<absl::Status(absl::string_view point)>;
  void SetFaultHookForTesting(FaultHook hook);

 private:
  class Statement;
  class Transaction;

  ExperimentStore(std::string data_dir, std::string db_path, sqlite3* db,
                  ExperimentStoreOptions options);

  absl::Status Initialise() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(absl::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Fault(absl::string_view point) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SqliteError(int code, absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t Now() const;
  absl::StatusOr<ExperimentRecord> GetLocked(absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckExistsLocked(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertResultsLocked(absl::string_view id, const std::vector<ResultFile>& files)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string data_dir_;
  const std::string db_path_;
  const ExperimentStoreOptions options_;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  FaultHook fault_hook_ ABSL_GUARDED_BY(mu_);
  std::string incarnation_;  // set by Initialise(), then constant
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_EXPERIMENT_STORE_H_
