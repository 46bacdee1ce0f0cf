#include "coordinator/experiment_service.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace smfg::coordinator {
namespace {

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
      [writer](const ExperimentRecord& record, const std::vector<v1::IterationRecord>& records) {
        v1::WatchEvent event;
        *event.mutable_experiment() = ToProto(record);
        event.mutable_records()->Assign(records.begin(), records.end());
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
    out->set_path(f.path);
    out->set_bytes(std::move(f.bytes));
  }
  return grpc::Status::OK;
}

}  // namespace smfg::coordinator
