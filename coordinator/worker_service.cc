#include "coordinator/worker_service.h"

#include <algorithm>

#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace smfg::coordinator {

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterRequest* request,
                                         v1::RegisterResponse* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  *response = pool_->Register(*request);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::GetWork(grpc::ServerContext* context,
                                        const v1::GetWorkRequest* request,
                                        v1::GetWorkResponse* response) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  // Answer before the client gives up: a response that arrives after its
  // deadline would strand the item until work_deadline.
  const absl::Duration left = absl::FromChrono(context->deadline()) - absl::Now();
  const absl::Duration margin = std::min(absl::Milliseconds(500), left / 5);
  absl::StatusOr<v1::GetWorkResponse> result =
      pool_->GetWork(*request, left - margin, [context] { return context->IsCancelled(); });
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::SubmitResult(grpc::ServerContext* context,
                                             const v1::SubmitResultRequest* request,
                                             v1::SubmitResultResponse*) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  return ToGrpcStatus(pool_->SubmitResult(*request));
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse*) {
  if (grpc::Status denied = auth_.Check(context); !denied.ok()) return denied;
  return ToGrpcStatus(pool_->Heartbeat(*request));
}

}  // namespace smfg::coordinator
