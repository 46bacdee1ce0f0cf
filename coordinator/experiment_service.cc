#include "coordinator/experiment_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"

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

grpc::Status ExperimentServiceImpl::StreamedSubmit(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::SubmitRequest, v1::SubmitResponse>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this](const v1::SubmitRequest& request, v1::SubmitResponse* response) -> absl::Status {
        SMFG_ASSIGN_OR_RETURN(SubmitOutcome r,
                              manager_->Submit(request.spec(), request.idempotency_key()));
        response->set_experiment_id(r.experiment_id);
        response->set_created(r.created);
        return absl::OkStatus();
      });
}

grpc::Status ExperimentServiceImpl::StreamedGet(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::GetExperimentRequest, v1::Experiment>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this](const v1::GetExperimentRequest& request, v1::Experiment* response) -> absl::Status {
        SMFG_ASSIGN_OR_RETURN(ExperimentRecord r, manager_->Get(request.id()));
        *response = ToProto(r);
        return absl::OkStatus();
      });
}

grpc::Status ExperimentServiceImpl::StreamedList(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::ListExperimentsRequest, v1::ListExperimentsResponse>* stream) {
  return CheckedUnaryCall(auth_, context, stream,
                          [this](const v1::ListExperimentsRequest& request,
                                 v1::ListExperimentsResponse* response) -> absl::Status {
                            SMFG_ASSIGN_OR_RETURN(std::optional<ExperimentStatus> status,
                                                  FromProtoState(request.status()));
                            SMFG_ASSIGN_OR_RETURN(
                                ListPage page,
                                manager_->List(status, request.page_size(), request.page_token()));
                            for (const ExperimentRecord& e : page.experiments) {
                              *response->add_experiments() = ToProto(e);
                            }
                            response->set_next_page_token(page.next_page_token);
                            return absl::OkStatus();
                          });
}

grpc::Status ExperimentServiceImpl::StreamedCancel(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::CancelRequest, v1::Experiment>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this](const v1::CancelRequest& request, v1::Experiment* response) -> absl::Status {
        SMFG_ASSIGN_OR_RETURN(ExperimentRecord r, manager_->Cancel(request.id()));
        *response = ToProto(r);
        return absl::OkStatus();
      });
}

grpc::Status ExperimentServiceImpl::StreamedDelete(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::DeleteRequest, v1::DeleteResponse>* stream) {
  return CheckedUnaryCall(auth_, context, stream,
                          [this](const v1::DeleteRequest& request, v1::DeleteResponse*) {
                            return manager_->Delete(request.id());
                          });
}

grpc::Status ExperimentServiceImpl::StreamedWatch(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<v1::WatchRequest, v1::WatchEvent>* stream) {
  return CheckedStreamingCall(
      auth_, context, stream, [this, context, stream](const v1::WatchRequest& request) {
        return manager_->Watch(
            request.id(), request.after_iteration(),
            [stream](const ExperimentRecord& record,
                     const std::vector<v1::IterationRecord>& records) {
              // At least one event per call (it carries the status), each
              // under kMaxWatchEventBytes however long the history.
              v1::WatchEvent event;
              *event.mutable_experiment() = ToProto(record);
              const size_t empty_size = event.ByteSizeLong();
              size_t size = empty_size;
              for (const v1::IterationRecord& r : records) {
                const size_t more = r.ByteSizeLong() + 8;  // field tag and length
                if (size + more > kMaxWatchEventBytes && event.records_size() > 0) {
                  if (!stream->Write(event)) return false;
                  event.clear_records();
                  size = empty_size;
                }
                *event.add_records() = r;
                size += more;
              }
              return stream->Write(event);
            },
            [context] { return context->IsCancelled(); });
      });
}

grpc::Status ExperimentServiceImpl::StreamedGetResults(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<v1::GetResultsRequest, v1::ResultChunk>* stream) {
  return CheckedStreamingCall(
      auth_, context, stream, [this, stream](const v1::GetResultsRequest& request) {
        SMFG_ASSIGN_OR_RETURN(std::vector<ResultFile> files, manager_->Results(request.id()));
        for (const ResultFile& f : files) {
          const size_t size = f.bytes.size();
          size_t offset = 0;
          do {
            const size_t n = std::min(kResultChunkBytes, size - offset);
            v1::ResultChunk chunk;
            chunk.set_path(f.path);
            chunk.set_size(static_cast<int64_t>(size));
            chunk.set_offset(static_cast<int64_t>(offset));
            chunk.set_data(f.bytes.substr(offset, n));
            if (!stream->Write(chunk)) {
              return absl::CancelledError("the client went away during the download");
            }
            offset += n;
          } while (offset < size);
        }
        return absl::OkStatus();
      });
}

}  // namespace smfg::coordinator
