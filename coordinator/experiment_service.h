// The gRPC edge of the experiment API (proto/smfg/v1/experiment.proto): checks
// the caller's token, converts messages and statuses, and delegates to an
// ExperimentManager (experiment_manager.h), which holds all the logic.
#ifndef SMFG_COORDINATOR_EXPERIMENT_SERVICE_H_
#define SMFG_COORDINATOR_EXPERIMENT_SERVICE_H_

#include <utility>

#include "coordinator/access.h"
#include "coordinator/experiment_manager.h"
#include "coordinator/experiment_store.h"
#include "grpcpp/grpcpp.h"
#include "smfg/v1/experiment.grpc.pb.h"

namespace smfg::coordinator {

// smfg.v1.Experiment from a record.
v1::Experiment ToProto(const ExperimentRecord& record);

class ExperimentServiceImpl final : public v1::ExperimentService::Service {
 public:
  // `manager` must outlive the service. `auth`: every call must carry this
  // bearer token (none by default).
  explicit ExperimentServiceImpl(ExperimentManager* manager, BearerTokenCheck auth = {})
      : manager_(manager), auth_(std::move(auth)) {}
  grpc::Status Submit(grpc::ServerContext* context, const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetExperimentRequest* request,
                   v1::Experiment* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListExperimentsRequest* request,
                    v1::ListExperimentsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                      v1::Experiment* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchEvent>* writer) override;
  grpc::Status GetResults(grpc::ServerContext* context, const v1::GetResultsRequest* request,
                          v1::GetResultsResponse* response) override;

 private:
  ExperimentManager* manager_;
  const BearerTokenCheck auth_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_EXPERIMENT_SERVICE_H_
