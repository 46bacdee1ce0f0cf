// The gRPC edge of the worker protocol (proto/smfg/v1/worker.proto): checks
// the cluster token, converts statuses, and delegates to a WorkerPool
// (worker_pool.h), which holds all the logic.
#ifndef SMFG_COORDINATOR_WORKER_SERVICE_H_
#define SMFG_COORDINATOR_WORKER_SERVICE_H_

#include <utility>

#include "coordinator/access.h"
#include "coordinator/worker_pool.h"
#include "grpcpp/grpcpp.h"
#include "smfg/v1/worker.grpc.pb.h"

namespace smfg::coordinator {

// Built on the generated StreamedService so that the cluster token is checked
// before a request is decoded (CheckedUnaryCall, access.h).
class WorkerServiceImpl final : public v1::WorkerService::StreamedService {
 public:
  // `pool` must outlive the service. `auth`: every call must carry this
  // (cluster) bearer token (none by default).
  explicit WorkerServiceImpl(WorkerPool* pool, BearerTokenCheck auth = {})
      : pool_(pool), auth_(std::move(auth)) {}
  grpc::Status StreamedRegister(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::RegisterRequest, v1::RegisterResponse>* stream) override;
  // Waits until shortly before the client's deadline (and at most
  // WorkerPoolOptions::max_long_poll) so the answer arrives in time.
  grpc::Status StreamedGetWork(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::GetWorkRequest, v1::GetWorkResponse>* stream) override;
  grpc::Status StreamedSubmitResult(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::SubmitResultRequest, v1::SubmitResultResponse>* stream)
      override;
  grpc::Status StreamedHeartbeat(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::HeartbeatRequest, v1::HeartbeatResponse>* stream) override;

 private:
  WorkerPool* pool_;
  const BearerTokenCheck auth_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_WORKER_SERVICE_H_
