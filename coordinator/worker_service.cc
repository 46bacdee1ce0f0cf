#include "coordinator/worker_service.h"

#include <algorithm>

#include "absl/time/time.h"
#include "common/status.h"

namespace smfg::coordinator {

grpc::Status WorkerServiceImpl::StreamedRegister(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::RegisterRequest, v1::RegisterResponse>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this](const v1::RegisterRequest& request, v1::RegisterResponse* response) {
        *response = pool_->Register(request);
        return absl::OkStatus();
      });
}

grpc::Status WorkerServiceImpl::StreamedGetWork(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::GetWorkRequest, v1::GetWorkResponse>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this, context](const v1::GetWorkRequest& request,
                      v1::GetWorkResponse* response) -> absl::Status {
        // Answer before the client gives up: a response that arrives after
        // its deadline would strand the item until work_deadline.
        const absl::Duration left = absl::FromChrono(context->deadline()) - absl::Now();
        const absl::Duration margin = std::min(absl::Milliseconds(500), left / 5);
        SMFG_ASSIGN_OR_RETURN(*response, pool_->GetWork(request, left - margin, [context] {
          return context->IsCancelled();
        }));
        return absl::OkStatus();
      });
}

grpc::Status WorkerServiceImpl::StreamedSubmitResult(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::SubmitResultRequest, v1::SubmitResultResponse>* stream) {
  return CheckedUnaryCall(
      auth_, context, stream,
      [this](const v1::SubmitResultRequest& request, v1::SubmitResultResponse*) {
        return pool_->SubmitResult(request);
      });
}

grpc::Status WorkerServiceImpl::StreamedHeartbeat(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::HeartbeatRequest, v1::HeartbeatResponse>* stream) {
  return CheckedUnaryCall(auth_, context, stream,
                          [this](const v1::HeartbeatRequest& request, v1::HeartbeatResponse*) {
                            return pool_->Heartbeat(request);
                          });
}

}  // namespace smfg::coordinator
