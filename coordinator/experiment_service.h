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

// The generated StreamedService hands each handler the undecoded request, so
// the token is checked before anything a caller sent is parsed
// (CheckedUnaryCall, access.h).
class ExperimentServiceImpl final : public v1::ExperimentService::StreamedService {
 public:
  // `manager` must outlive the service. `auth`: every call must carry this
  // bearer token (none by default).
  explicit ExperimentServiceImpl(ExperimentManager* manager, BearerTokenCheck auth = {})
      : manager_(manager), auth_(std::move(auth)) {}

  grpc::Status StreamedSubmit(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::SubmitRequest, v1::SubmitResponse>* stream) override;
  grpc::Status StreamedGet(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::GetExperimentRequest, v1::Experiment>* stream) override;
  grpc::Status StreamedList(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::ListExperimentsRequest, v1::ListExperimentsResponse>* stream)
      override;
  grpc::Status StreamedCancel(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::CancelRequest, v1::Experiment>* stream) override;
  grpc::Status StreamedDelete(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<v1::DeleteRequest, v1::DeleteResponse>* stream) override;
  // Events stay under kMaxWatchEventBytes: a long history is split.
  grpc::Status StreamedWatch(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<v1::WatchRequest, v1::WatchEvent>* stream) override;
  // Files in chunks of at most kResultChunkBytes.
  grpc::Status StreamedGetResults(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<v1::GetResultsRequest, v1::ResultChunk>* stream) override;

 private:
  ExperimentManager* manager_;
  const BearerTokenCheck auth_;
};

// Every response stays far below gRPC's default 4 MiB receive limit.
inline constexpr size_t kMaxWatchEventBytes = size_t{1} << 20;
inline constexpr size_t kResultChunkBytes = size_t{1} << 20;

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_EXPERIMENT_SERVICE_H_
