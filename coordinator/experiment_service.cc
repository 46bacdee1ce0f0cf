#include "coordinator/experiment_service.h"

#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "config/spec_loader.h"
#include "coordinator/worker_pool.h"
#include "environment/market.h"
#include "environment/population.h"
#include "environment/population_evaluator.h"
#include "google/protobuf/text_format.h"
#include "training/run_report.h"
#include "training/trainer.h"
#include "training/trainer_params.h"

namespace smfg::coordinator {
namespace {

using training::EvaluateAndWriteResults;
using training::IterationJson;
using training::IterationRecord;
using training::RunComparison;
using training::StackelbergTrainer;
using training::TrainerParams;
using training::TrainerParamsFromSpec;

namespace fs = std::filesystem;

// The spec as stored: text format, which round-trips doubles exactly.
std::string SpecText(const v1::ExperimentSpec& spec) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  return text;
}

absl::StatusOr<config::LoadedSpec> ParseStoredSpec(const std::string& text) {
  return config::ParseExperiment(text, "spec", config::Format::kText);
}

v1::ExperimentState ToProtoState(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::kQueued:
      return v1::QUEUED;
    case ExperimentStatus::kWaitingForWorkers:
      return v1::WAITING_FOR_WORKERS;
    case ExperimentStatus::kRunning:
      return v1::RUNNING;
    case ExperimentStatus::kSucceeded:
      return v1::SUCCEEDED;
    case ExperimentStatus::kFailed:
      return v1::FAILED;
    case ExperimentStatus::kCancelled:
      return v1::CANCELLED;
  }
  return v1::EXPERIMENT_STATE_UNSPECIFIED;
}

absl::StatusOr<std::optional<ExperimentStatus>> FromProtoState(v1::ExperimentState s) {
  switch (s) {
    case v1::EXPERIMENT_STATE_UNSPECIFIED:
      return std::optional<ExperimentStatus>();
    case v1::QUEUED:
      return std::optional(ExperimentStatus::kQueued);
    case v1::WAITING_FOR_WORKERS:
      return std::optional(ExperimentStatus::kWaitingForWorkers);
    case v1::RUNNING:
      return std::optional(ExperimentStatus::kRunning);
    case v1::SUCCEEDED:
      return std::optional(ExperimentStatus::kSucceeded);
    case v1::FAILED:
      return std::optional(ExperimentStatus::kFailed);
    case v1::CANCELLED:
      return std::optional(ExperimentStatus::kCancelled);
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("status: unknown value ", static_cast<int>(s)));
}

// Every regular file under `dir`, named by its relative path with '/' as "__".
absl::StatusOr<std::vector<ResultFile>> ReadResultFiles(const fs::path& dir) {
  std::vector<ResultFile> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string rel = fs::relative(it->path(), dir).generic_string();
    SMFG_ASSIGN_OR_RETURN(std::string bytes,
                          ReadFile(it->path().string(), kMaxCheckpointFileBytes));
    files.push_back({absl::StrReplaceAll(rel, {{"/", "__"}}), std::move(bytes)});
  }
  if (ec) return absl::UnavailableError(absl::StrCat("reading ", dir.string(), ": ", ec.message()));
  return files;
}

}  // namespace

v1::Experiment ToProto(const ExperimentRecord& r) {
  v1::Experiment e;
  e.set_id(r.id);
  e.set_name(r.name);
  e.set_status(ToProtoState(r.status));
  e.set_message(r.status_message);
  e.set_outer_iteration(r.outer_iteration);
  e.set_cancel_requested(r.cancel_requested);
  e.set_created_unix_seconds(r.created_unix_seconds);
  e.set_updated_unix_seconds(r.updated_unix_seconds);
  return e;
}

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
      for (const ExperimentRecord& r : candidates) {
        if (shutdown_ || static_cast<int>(runs_.size()) >= params_.max_concurrent) break;
        if (runs_.count(r.id) > 0) continue;
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

void ExperimentManager::RunExperiment(const std::string& id) {
  const absl::Status s = RunExperimentOrError(id);
  if (!s.ok()) {
    if (stopping()) {
      std::fprintf(stderr, "smfg-coordinator: %s stopped by shutdown: %s\n", id.c_str(),
                   s.ToString().c_str());
    } else {
      SetStatus(id, ExperimentStatus::kFailed, s.ToString());
    }
  }
  absl::MutexLock lock(&mu_);
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
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded, ParseStoredSpec(record.spec_text));
  const env::Scenario& sc = loaded.scenario;
  SMFG_ASSIGN_OR_RETURN(TrainerParams params, TrainerParamsFromSpec(loaded, sc));
  SMFG_ASSIGN_OR_RETURN(params.checkpoint_dir, store.CheckpointDir(id));
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
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<env::PopulationEvaluator> evaluator,
                        params_.evaluator_factory(id, sc, mark_waiting));
  // The market needs the day conditions and shapes only: no population is
  // built here (the evaluator, local or remote, holds the households).
  const std::vector<env::DayConditions> days = env::MakeAllDayConditions(sc);
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<env::MarketClearing> market,
                        env::MarketClearing::Create(sc, env::MakeShapes(sc.profiles), days));
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<StackelbergTrainer> trainer,
                        StackelbergTrainer::Create(params, evaluator.get(), market.get(), days));
  // The trainer writes its checkpoint inside Step(), before the metrics and
  // the checkpoint record reach the store, so a coordinator killed in between
  // leaves a checkpoint newer than the store knows. Resuming from the files
  // (not the record) and re-appending the rows the store lacks from the
  // restored history keeps metrics complete either way.
  SMFG_ASSIGN_OR_RETURN(std::optional<CheckpointInfo> checkpoint, store.LatestCheckpoint(id));
  const absl::Status resumed = trainer->Resume();
  if (resumed.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s resumed at outer iteration %d\n", id.c_str(),
                 trainer->iteration());
    for (const IterationRecord& r : trainer->history()) {
      if (r.iteration > record.outer_iteration) {
        SMFG_RETURN_IF_ERROR(store.AppendMetrics(id, r.iteration, IterationJson(r, sc)));
      }
    }
    if (!checkpoint.has_value() || checkpoint->iteration != trainer->iteration()) {
      SMFG_RETURN_IF_ERROR(store.RecordCheckpoint(id, trainer->iteration()));
    }
  } else if (!absl::IsNotFound(resumed)) {
    return Annotate(resumed, "resuming from the checkpoint");
  }

  while (!trainer->done()) {
    if (stopping()) return absl::OkStatus();
    SMFG_ASSIGN_OR_RETURN(record, store.Get(id));
    if (IsTerminal(record.status)) return absl::OkStatus();  // cancelled while queued
    if (record.cancel_requested) {
      SetStatus(id, ExperimentStatus::kCancelled,
                absl::StrCat("cancelled after outer iteration ", trainer->iteration()));
      return absl::OkStatus();
    }
    if (params_.live_workers && params_.live_workers() == 0) {
      mark_waiting();
    } else {
      mark_running();
    }
    SMFG_ASSIGN_OR_RETURN(IterationRecord r, trainer->Step());
    mark_running();  // a worker came if we waited
    SMFG_RETURN_IF_ERROR(store.AppendMetrics(id, r.iteration, IterationJson(r, sc)));
    const int every = params.loop.checkpoint_every;
    if (every > 0 && (r.iteration % every == 0 || trainer->done())) {
      SMFG_RETURN_IF_ERROR(store.RecordCheckpoint(id, r.iteration));
    }
    Notify();
    if (params_.continue_after_iteration_for_testing &&
        !params_.continue_after_iteration_for_testing(id, r.iteration)) {
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

  // The report files go through a scratch directory next to the checkpoints.
  const fs::path scratch = fs::path(store.data_dir()) / "results-tmp" / id;
  const auto remove_scratch = [&scratch] {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
  };
  remove_scratch();
  absl::Cleanup cleanup = remove_scratch;
  SMFG_ASSIGN_OR_RETURN(RunComparison run, EvaluateAndWriteResults(*trainer, *evaluator, *market,
                                                                   scratch.string(), nullptr));
  SMFG_ASSIGN_OR_RETURN(std::vector<ResultFile> files, ReadResultFiles(scratch));
  // The whole history as the store holds it (what Watch served).
  SMFG_ASSIGN_OR_RETURN(std::vector<MetricsRow> rows, store.Metrics(id, -1));
  std::string jsonl;
  for (const MetricsRow& row : rows) absl::StrAppend(&jsonl, row.json, "\n");
  files.push_back({"metrics.jsonl", std::move(jsonl)});
  SMFG_RETURN_IF_ERROR(store.PutResults(id, files));
  mark_running();  // WAITING_FOR_WORKERS -> SUCCEEDED is not a legal transition
  SetStatus(id, ExperimentStatus::kSucceeded,
            absl::StrCat(trainer->converged() ? "converged" : "iteration budget reached", " after ",
                         trainer->iteration(), " outer iterations"));
  return absl::OkStatus();
}

absl::StatusOr<SubmitOutcome> ExperimentManager::Submit(const v1::ExperimentSpec& spec,
                                                        const std::string& idempotency_key) {
  if (idempotency_key.empty()) {
    return absl::InvalidArgumentError("idempotency_key: must not be empty");
  }
  const std::string text = SpecText(spec);
  absl::StatusOr<config::LoadedSpec> loaded = ParseStoredSpec(text);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("spec: ", loaded.status().message()));
  }
  const absl::StatusOr<TrainerParams> params = TrainerParamsFromSpec(*loaded, loaded->scenario);
  if (!params.ok()) return params.status();
  ExperimentRecord request;
  request.idempotency_key = idempotency_key;
  request.name = spec.name();
  request.spec_text = text;
  SMFG_ASSIGN_OR_RETURN(CreateResult created, params_.store->Create(request));
  Notify();
  return SubmitOutcome{created.experiment.id, created.created};
}

absl::StatusOr<ExperimentRecord> ExperimentManager::Get(const std::string& id) {
  return params_.store->Get(id);
}

absl::StatusOr<std::vector<ExperimentRecord>> ExperimentManager::List(
    std::optional<ExperimentStatus> status, int limit) {
  return params_.store->List(status, limit);
}

absl::StatusOr<ExperimentRecord> ExperimentManager::Cancel(const std::string& id) {
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord r, params_.store->RequestCancel(id));
  Notify();
  return r;
}

absl::StatusOr<std::vector<ResultFile>> ExperimentManager::Results(const std::string& id) {
  SMFG_ASSIGN_OR_RETURN(std::vector<std::string> names, params_.store->ListResults(id));
  std::vector<ResultFile> files;
  for (const std::string& name : names) {
    SMFG_ASSIGN_OR_RETURN(std::string bytes, params_.store->GetResult(id, name));
    files.push_back({name, std::move(bytes)});
  }
  return files;
}

absl::Status ExperimentManager::Watch(
    const std::string& id, int64_t after_iteration,
    const std::function<bool(const ExperimentRecord&, const std::vector<MetricsRow>&)>& emit,
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
    SMFG_ASSIGN_OR_RETURN(std::vector<MetricsRow> rows,
                          params_.store->Metrics(id, after_iteration));
    if (first || !rows.empty() || record.status != last_status ||
        record.status_message != last_message) {
      if (!emit(record, rows)) return absl::CancelledError("the watcher stopped");
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

// ---- gRPC edge ----

grpc::Status ExperimentServiceImpl::Submit(grpc::ServerContext* context,
                                           const v1::SubmitRequest* request,
                                           v1::SubmitResponse* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  absl::StatusOr<SubmitOutcome> r = manager_->Submit(request->spec(), request->idempotency_key());
  if (!r.ok()) return ToGrpcStatus(r.status());
  response->set_experiment_id(r->experiment_id);
  response->set_created(r->created);
  return grpc::Status::OK;
}

grpc::Status ExperimentServiceImpl::Get(grpc::ServerContext* context,
                                        const v1::GetExperimentRequest* request,
                                        v1::Experiment* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  absl::StatusOr<ExperimentRecord> r = manager_->Get(request->id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = ToProto(*r);
  return grpc::Status::OK;
}

grpc::Status ExperimentServiceImpl::List(grpc::ServerContext* context,
                                         const v1::ListExperimentsRequest* request,
                                         v1::ListExperimentsResponse* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  absl::StatusOr<std::optional<ExperimentStatus>> status = FromProtoState(request->status());
  if (!status.ok()) return ToGrpcStatus(status.status());
  absl::StatusOr<std::vector<ExperimentRecord>> r = manager_->List(*status, request->limit());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const ExperimentRecord& e : *r) *response->add_experiments() = ToProto(e);
  return grpc::Status::OK;
}

grpc::Status ExperimentServiceImpl::Cancel(grpc::ServerContext* context,
                                           const v1::CancelRequest* request,
                                           v1::Experiment* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  absl::StatusOr<ExperimentRecord> r = manager_->Cancel(request->id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = ToProto(*r);
  return grpc::Status::OK;
}

grpc::Status ExperimentServiceImpl::Watch(grpc::ServerContext* context,
                                          const v1::WatchRequest* request,
                                          grpc::ServerWriter<v1::WatchEvent>* writer) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  const absl::Status s = manager_->Watch(
      request->id(), request->after_iteration(),
      [writer](const ExperimentRecord& record, const std::vector<MetricsRow>& rows) {
        v1::WatchEvent event;
        *event.mutable_experiment() = ToProto(record);
        for (const MetricsRow& row : rows) {
          v1::MetricsRow* m = event.add_metrics();
          m->set_iteration(row.iteration);
          m->set_json(row.json);
        }
        return writer->Write(event);
      },
      [context] { return context->IsCancelled(); });
  return ToGrpcStatus(s);
}

grpc::Status ExperimentServiceImpl::GetResults(grpc::ServerContext* context,
                                               const v1::GetResultsRequest* request,
                                               v1::GetResultsResponse* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  absl::StatusOr<std::vector<ResultFile>> r = manager_->Results(request->id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (ResultFile& f : *r) {
    v1::ResultFile* out = response->add_files();
    out->set_name(f.name);
    out->set_bytes(std::move(f.bytes));
  }
  return grpc::Status::OK;
}

}  // namespace smfg::coordinator
