// The one conversion between absl::Status (used everywhere inside smfg) and
// grpc::Status (only at the gRPC edges). Codes map one to one (both follow
// google.rpc.Code); messages are copied unchanged.
#ifndef SMFG_COMMON_GRPC_STATUS_H_
#define SMFG_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace smfg {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace smfg

#endif  // SMFG_COMMON_GRPC_STATUS_H_
