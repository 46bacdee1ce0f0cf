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

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  // `pool` must outlive the service. `auth`: every call must carry this
  // (cluster) bearer token (none by default).
  explicit WorkerServiceImpl(WorkerPool* pool, BearerTokenCheck auth = {})
      : pool_(pool), auth_(std::move(auth)) {}
  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  // Waits until shortly before the client's deadline (and at most
  // WorkerPoolOptions::max_long_poll) so the answer arrives in time.
  grpc::Status GetWork(grpc::ServerContext* context, const v1::GetWorkRequest* request,
                       v1::GetWorkResponse* response) override;
  grpc::Status SubmitResult(grpc::ServerContext* context, const v1::SubmitResultRequest* request,
                            v1::SubmitResultResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;

 private:
  WorkerPool* pool_;
  const BearerTokenCheck auth_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_WORKER_SERVICE_H_
