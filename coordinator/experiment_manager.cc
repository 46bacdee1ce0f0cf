#include "coordinator/experiment_manager.h"

#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "config/fingerprint.h"
#include "config/spec_convert.h"
#include "config/spec_loader.h"
#include "google/protobuf/text_format.h"
#include "training/iteration_record.h"
#include "training/resources.h"
#include "training/trainer_params.h"
#include "training/training_run.h"

namespace smfg::coordinator {
namespace {

// The spec as stored: text format (readable with the sqlite3 CLI; doubles
// round-trip exactly).
std::string SpecText(const v1::ExperimentSpec& spec) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  return text;
}

// A stored spec and its scenario: written by Submit, so any error here means
// the store was damaged or written by another version.
absl::StatusOr<std::pair<v1::ExperimentSpec, env::Scenario>> StoredSpec(
    const ExperimentRecord& record) {
  v1::ExperimentSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(record.spec_text, &spec)) {
    return absl::DataLossError(absl::StrCat(record.id, ": the stored spec does not parse"));
  }
  absl::StatusOr<env::Scenario> scenario = config::CheckSpecMessage(
      spec, config::ConvertOptions{.read_files = false}, training::ValidateLeaderSide);
  if (!scenario.ok()) return Annotate(scenario.status(), absl::StrCat(record.id, ": stored spec"));
  return std::make_pair(std::move(spec), *std::move(scenario));
}

// Who may resume a run's checkpoint: this experiment with this spec.
std::string CheckpointOwner(const std::string& id, const v1::ExperimentSpec& spec) {
  return absl::StrFormat("%s/%016x", id, config::Fingerprint(spec));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExperimentManager>> ExperimentManager::Create(
    ExperimentManagerParams params) {
  if (params.store == nullptr) return absl::InvalidArgumentError("ExperimentManager: no store");
  if (!params.evaluator_factory) {
    return absl::InvalidArgumentError("ExperimentManager: no evaluator_factory");
  }
  if (params.max_concurrent < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_concurrent: ", params.max_concurrent, " is not >= 1"));
  }
  if (params.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval: must be positive");
  }
  return std::unique_ptr<ExperimentManager>(new ExperimentManager(std::move(params)));
}

ExperimentManager::ExperimentManager(ExperimentManagerParams params) : params_(std::move(params)) {}

ExperimentManager::~ExperimentManager() { Shutdown(); }

void ExperimentManager::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || shutdown_) return;
  started_ = true;
  scheduler_ = std::thread([this] { SchedulerLoop(); });
}

void ExperimentManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    ++version_;
  }
  if (params_.on_shutdown) params_.on_shutdown();
  if (scheduler_.joinable()) scheduler_.join();
  std::map<std::string, std::thread> runs;
  std::vector<std::thread> finished;
  {
    absl::MutexLock lock(&mu_);
    runs.swap(runs_);
    finished.swap(finished_);
  }
  for (auto& [id, t] : runs) t.join();
  for (auto& t : finished) t.join();
}

bool ExperimentManager::stopping() const {
  absl::MutexLock lock(&mu_);
  return shutdown_;
}

void ExperimentManager::Notify() {
  absl::MutexLock lock(&mu_);
  ++version_;
}

void ExperimentManager::SchedulerLoop() {
  bool resumed = false;  // the previous coordinator's runs come first, once
  while (true) {
    std::vector<std::thread> to_join;
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) break;
      to_join.swap(finished_);
      seen = version_;
    }
    for (auto& t : to_join) t.join();

    std::vector<ExperimentRecord> candidates;
    if (!resumed) {
      absl::StatusOr<std::vector<ExperimentRecord>> resume = params_.store->ExperimentsToResume();
      if (resume.ok()) {
        candidates = *std::move(resume);
        resumed = true;
      } else {
        std::fprintf(stderr, "smfg-coordinator: listing experiments to resume: %s\n",
                     resume.status().ToString().c_str());
      }
    }
    if (resumed) {
      absl::StatusOr<std::vector<ExperimentRecord>> queued =
          params_.store->List(ExperimentStatus::kQueued, 0);
      if (queued.ok()) {
        // List is newest first; runs start oldest first.
        candidates.insert(candidates.end(), queued->rbegin(), queued->rend());
      } else {
        std::fprintf(stderr, "smfg-coordinator: listing queued experiments: %s\n",
                     queued.status().ToString().c_str());
      }
    }
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      for (const ExperimentRecord& r : candidates) {
        if (shutdown_ || static_cast<int>(runs_.size()) >= params_.max_concurrent) break;
        if (runs_.count(r.id) > 0 || !MayStartLocked(r.id, now)) continue;
        runs_.emplace(r.id, std::thread([this, id = r.id] { RunExperiment(id); }));
      }
      const auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || version_ != seen;
      };
      mu_.AwaitWithTimeout(absl::Condition(&changed), params_.poll_interval);
    }
  }
}

void ExperimentManager::SetStatus(const std::string& id, ExperimentStatus status,
                                  const std::string& message) {
  const absl::Status s = params_.store->UpdateStatus(id, status, message);
  if (!s.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s -> %s: %s\n", id.c_str(),
                 std::string(ExperimentStatusName(status)).c_str(), s.ToString().c_str());
  }
  Notify();
}

bool ExperimentManager::MayStartLocked(const std::string& id, absl::Time now) {
  auto it = backoff_.find(id);
  return it == backoff_.end() || now >= it->second.not_before;
}

void ExperimentManager::RunExperiment(const std::string& id) {
  const absl::Status s = RunExperimentOrError(id);
  if (!s.ok()) {
    if (stopping()) {
      std::fprintf(stderr, "smfg-coordinator: %s stopped by shutdown: %s\n", id.c_str(),
                   s.ToString().c_str());
    } else {
      absl::StatusOr<ExperimentRecord> record = params_.store->Get(id);
      if (record.ok() && IsTerminal(record->status)) {
        // Cancelled (or finished) while the run was failing: keep that.
        std::fprintf(stderr, "smfg-coordinator: %s is %s; its run ended with: %s\n", id.c_str(),
                     std::string(ExperimentStatusName(record->status)).c_str(),
                     s.ToString().c_str());
      } else if (record.ok() && record->cancel_requested) {
        SetStatus(id, ExperimentStatus::kCancelled,
                  absl::StrCat("cancelled (the run stopped with: ", s.message(), ")"));
      } else {
        SetStatus(id, ExperimentStatus::kFailed, s.ToString());
      }
    }
  }
  // A run that ends without a terminal status while the manager is not
  // stopping (its failure could not even be recorded) is retried, spaced out.
  absl::StatusOr<ExperimentRecord> after = params_.store->Get(id);
  const bool retry = !stopping() && (!after.ok() || !IsTerminal(after->status));
  absl::MutexLock lock(&mu_);
  if (retry) {
    Backoff& b = backoff_[id];
    const absl::Duration wait =
        std::min(absl::Seconds(1) * (int64_t{1} << std::min(b.failures, 20)), absl::Minutes(5));
    ++b.failures;
    b.not_before = absl::Now() + wait;
    std::fprintf(stderr, "smfg-coordinator: %s ended without a final status; retrying in %s\n",
                 id.c_str(), absl::FormatDuration(wait).c_str());
  } else {
    backoff_.erase(id);
  }
  auto it = runs_.find(id);
  if (it != runs_.end()) {  // Shutdown() may have taken it already
    finished_.push_back(std::move(it->second));
    runs_.erase(it);
  }
  ++version_;
}

absl::Status ExperimentManager::RunExperimentOrError(const std::string& id) {
  ExperimentStore& store = *params_.store;
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord record, store.Get(id));
  if (IsTerminal(record.status)) return absl::OkStatus();
  // The run owns the experiment from here: it leaves QUEUED at once, so a
  // cancel during set-up is a request the run honours, not a second owner.
  if (record.status == ExperimentStatus::kQueued) {
    SMFG_RETURN_IF_ERROR(store.UpdateStatus(id, ExperimentStatus::kRunning, "setting up"));
    Notify();
    SMFG_ASSIGN_OR_RETURN(record, store.Get(id));
  }
  SMFG_ASSIGN_OR_RETURN(auto stored, StoredSpec(record));
  const auto& [spec, scenario] = stored;
  training::TrainingRunOptions options;
  SMFG_ASSIGN_OR_RETURN(options.checkpoint_dir, store.CheckpointDir(id));
  options.checkpoint_owner = CheckpointOwner(id, spec);
  options.market_threads = params_.market_threads;
  // The run's status as this thread last set it. Declared before the
  // evaluator, whose waiting callback (called on this thread) updates it.
  ExperimentStatus current = record.status;
  const auto mark_waiting = [this, &id, &current] {
    if (current == ExperimentStatus::kWaitingForWorkers) return;
    SetStatus(id, ExperimentStatus::kWaitingForWorkers,
              "no live worker; waiting for one to register");
    current = ExperimentStatus::kWaitingForWorkers;
  };
  const auto mark_running = [this, &id, &current] {
    if (current == ExperimentStatus::kRunning) return;
    SetStatus(id, ExperimentStatus::kRunning, "");
    current = ExperimentStatus::kRunning;
  };
  SMFG_ASSIGN_OR_RETURN(
      std::unique_ptr<training::TrainingRun> run,
      training::TrainingRun::Create(
          spec, scenario,
          [&](const env::Scenario& sc) { return params_.evaluator_factory(id, sc, mark_waiting); },
          options));
  // The trainer writes its checkpoint inside Step(), before the record and
  // the checkpoint's bookkeeping reach the store, so a coordinator killed in
  // between leaves a checkpoint newer than the store knows. Resuming from the
  // file (not the bookkeeping) and re-appending the records the store lacks
  // from the restored history keeps the history complete either way.
  SMFG_ASSIGN_OR_RETURN(std::optional<CheckpointInfo> checkpoint, store.LatestCheckpoint(id));
  const absl::Status resumed = run->Resume();
  if (resumed.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s resumed at outer iteration %d\n", id.c_str(),
                 run->iteration());
    for (const training::IterationRecord& r : run->history()) {
      if (r.iteration() > record.outer_iteration) {
        SMFG_RETURN_IF_ERROR(store.AppendIteration(id, r.iteration(), r.SerializeAsString()));
      }
    }
    if (!checkpoint.has_value() || checkpoint->iteration != run->iteration()) {
      SMFG_RETURN_IF_ERROR(store.RecordCheckpoint(id, run->iteration()));
    }
  } else if (!absl::IsNotFound(resumed)) {
    return Annotate(resumed, "resuming from the checkpoint");
  }
  mark_running();
  if (record.status_message == "setting up") {
    SetStatus(id, ExperimentStatus::kRunning, "computing the reference optimum");
  }
  const bool had_reference = run->reference().has_value();
  SMFG_RETURN_IF_ERROR(run->PrepareReference(nullptr, [this, &id] {
    if (stopping()) return true;
    absl::StatusOr<ExperimentRecord> r = params_.store->Get(id);
    return r.ok() && r->cancel_requested;
  }));
  if (!had_reference && run->reference().has_value()) {
    AddEquilibriumEnds(id, "the reference search", run->reference()->equilibria());
  }
  SetStatus(id, ExperimentStatus::kRunning, "");

  const int every = run->params().loop.checkpoint_every;
  while (!run->done()) {
    if (stopping()) return absl::OkStatus();
    SMFG_ASSIGN_OR_RETURN(record, store.Get(id));
    if (IsTerminal(record.status)) return absl::OkStatus();  // cancelled while queued
    if (record.cancel_requested) {
      SetStatus(id, ExperimentStatus::kCancelled,
                absl::StrCat("cancelled after outer iteration ", run->iteration()));
      return absl::OkStatus();
    }
    if (params_.live_workers && params_.live_workers() == 0) {
      mark_waiting();
    } else {
      mark_running();
    }
    SMFG_ASSIGN_OR_RETURN(training::IterationRecord r, run->Step());
    mark_running();  // a worker came if we waited
    AddEquilibriumEnds(id, absl::StrCat("outer iteration ", r.iteration()), r.equilibria());
    SMFG_RETURN_IF_ERROR(store.AppendIteration(id, r.iteration(), r.SerializeAsString()));
    if (every > 0 && (r.iteration() % every == 0 || run->done())) {
      SMFG_RETURN_IF_ERROR(store.RecordCheckpoint(id, r.iteration()));
    }
    Notify();
    if (params_.continue_after_iteration_for_testing &&
        !params_.continue_after_iteration_for_testing(id, r.iteration())) {
      return absl::OkStatus();
    }
  }
  if (stopping()) return absl::OkStatus();
  SMFG_ASSIGN_OR_RETURN(record, store.Get(id));
  if (record.cancel_requested) {
    SetStatus(id, ExperimentStatus::kCancelled, "cancelled before the baseline evaluation");
    return absl::OkStatus();
  }
  mark_running();
  SMFG_ASSIGN_OR_RETURN(training::RunComparison comparison, run->Finish(nullptr));
  std::vector<ResultFile> files;
  for (training::OutputFile& f : comparison.files) {
    files.push_back({std::move(f.path), std::move(f.bytes)});
  }
  mark_running();  // WAITING_FOR_WORKERS -> SUCCEEDED is not a legal transition
  // A cancel accepted while Finish ran still wins: Complete checks the flag
  // in the transaction that would store the results.
  SMFG_RETURN_IF_ERROR(
      store
          .Complete(id, files,
                    absl::StrCat(run->converged() ? "converged" : "iteration budget reached",
                                 " after ", run->iteration(), " outer iterations"),
                    "cancelled during the baseline evaluation")
          .status());
  Notify();
  return absl::OkStatus();
}

absl::StatusOr<SubmitOutcome> ExperimentManager::Submit(const v1::ExperimentSpec& spec,
                                                        const std::string& idempotency_key) {
  if (idempotency_key.empty()) {
    return absl::InvalidArgumentError("idempotency_key: must not be empty");
  }
  if (spec.scenario().network_source_case() == v1::Scenario::kMatpowerFile) {
    return absl::InvalidArgumentError(
        "spec.scenario.matpower_file: the coordinator never opens a file named in a submitted "
        "spec; send the network inline (smfg submit inlines it)");
  }
  const auto in_spec = [](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("spec.", s.message()));
  };
  absl::StatusOr<env::Scenario> scenario = config::CheckSpecMessage(
      spec, config::ConvertOptions{.read_files = false}, training::ValidateLeaderSide);
  if (!scenario.ok()) return in_spec(scenario.status());
  if (params_.memory_budget_bytes > 0) {
    SMFG_ASSIGN_OR_RETURN(training::TrainerParams trainer,
                          training::TrainerParamsFromSpec(spec, *scenario));
    const absl::Status fits = training::CheckResources(trainer, params_.population_in_process,
                                                       params_.memory_budget_bytes);
    if (!fits.ok()) return in_spec(fits);
  }
  ExperimentRecord request;
  request.idempotency_key = idempotency_key;
  request.name = spec.name();
  request.spec_text = SpecText(config::EffectiveSpec(spec, *scenario));
  SMFG_ASSIGN_OR_RETURN(CreateResult created, params_.store->Create(request));
  Notify();
  return SubmitOutcome{created.experiment.id, created.created};
}

absl::StatusOr<ExperimentRecord> ExperimentManager::Get(const std::string& id) {
  return params_.store->Get(id);
}

absl::StatusOr<ListPage> ExperimentManager::List(std::optional<ExperimentStatus> status,
                                                 int page_size, const std::string& page_token) {
  if (page_size < 0 || page_size > kMaxListPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be in [0, ", kMaxListPageSize, "], got ", page_size));
  }
  int64_t before_seq = 0;
  if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &before_seq) || before_seq <= 0)) {
    return absl::InvalidArgumentError(
        "page_token: not a next_page_token of this coordinator (pass it back unchanged)");
  }
  const int size = page_size == 0 ? kDefaultListPageSize : page_size;
  // One more than asked tells whether a next page exists.
  SMFG_ASSIGN_OR_RETURN(std::vector<ExperimentRecord> records,
                        params_.store->List(status, size + 1, before_seq));
  ListPage page;
  if (static_cast<int>(records.size()) > size) {
    records.resize(size);
    page.next_page_token = absl::StrCat(records.back().seq);
  }
  page.experiments = std::move(records);
  return page;
}

absl::StatusOr<ExperimentRecord> ExperimentManager::Cancel(const std::string& id) {
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord r, params_.store->RequestCancel(id));
  if (!IsTerminal(r.status) && params_.on_cancel) params_.on_cancel(id);
  Notify();
  return r;
}

absl::Status ExperimentManager::Delete(const std::string& id) {
  SMFG_RETURN_IF_ERROR(params_.store->Delete(id));
  Notify();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ResultFile>> ExperimentManager::Results(const std::string& id) {
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord record, params_.store->Get(id));
  if (record.status != ExperimentStatus::kSucceeded) {
    return absl::FailedPreconditionError(absl::StrCat(
        id, " is ", ExperimentStatusName(record.status), "; results exist once it has SUCCEEDED"));
  }
  SMFG_ASSIGN_OR_RETURN(std::vector<std::string> paths, params_.store->ListResults(id));
  std::vector<ResultFile> files;
  for (const std::string& path : paths) {
    SMFG_ASSIGN_OR_RETURN(std::string bytes, params_.store->GetResult(id, path));
    files.push_back({path, std::move(bytes)});
  }
  return files;
}

absl::Status ExperimentManager::Watch(
    const std::string& id, int64_t after_iteration,
    const std::function<bool(const ExperimentRecord&, const std::vector<v1::IterationRecord>&)>&
        emit,
    const std::function<bool()>& cancelled) {
  bool first = true;
  ExperimentStatus last_status = ExperimentStatus::kQueued;
  std::string last_message;
  while (true) {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return absl::UnavailableError("the coordinator is shutting down");
      seen = version_;
    }
    // The record before the rows: once it is terminal, the rows read after
    // it are complete.
    SMFG_ASSIGN_OR_RETURN(ExperimentRecord record, params_.store->Get(id));
    SMFG_ASSIGN_OR_RETURN(std::vector<IterationRow> rows,
                          params_.store->Iterations(id, after_iteration));
    std::vector<v1::IterationRecord> records(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!records[i].ParseFromString(rows[i].record)) {
        return absl::DataLossError(absl::StrCat(id, ": the stored record of iteration ",
                                                rows[i].iteration, " does not parse"));
      }
    }
    if (first || !records.empty() || record.status != last_status ||
        record.status_message != last_message) {
      if (!emit(record, records)) return absl::CancelledError("the watcher stopped");
      first = false;
      last_status = record.status;
      last_message = record.status_message;
      if (!rows.empty()) after_iteration = rows.back().iteration;
    }
    if (IsTerminal(record.status)) return absl::OkStatus();
    if (cancelled && cancelled()) return absl::CancelledError("the watcher cancelled");
    absl::MutexLock lock(&mu_);
    const auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutdown_ || version_ != seen;
    };
    mu_.AwaitWithTimeout(absl::Condition(&changed), params_.poll_interval);
  }
}

void ExperimentManager::AddEquilibriumEnds(const std::string& id, absl::string_view where,
                                           const v1::EquilibriumEnds& ends) {
  const std::string not_converged = training::DescribeNotConverged(ends);
  if (!not_converged.empty()) {
    std::fprintf(stderr, "smfg-coordinator: %s %s: %s\n", id.c_str(), std::string(where).c_str(),
                 not_converged.c_str());
  }
  absl::MutexLock lock(&mu_);
  equilibrium_ends_.set_converged(equilibrium_ends_.converged() + ends.converged());
  equilibrium_ends_.set_stalled(equilibrium_ends_.stalled() + ends.stalled());
  equilibrium_ends_.set_out_of_iterations(equilibrium_ends_.out_of_iterations() +
                                          ends.out_of_iterations());
}

v1::EquilibriumEnds ExperimentManager::EquilibriumEndTotals() const {
  absl::MutexLock lock(&mu_);
  return equilibrium_ends_;
}

}  // namespace smfg::coordinator
