// Access control of the coordinator (issue 4, "Access"): bearer tokens on the
// ExperimentService (API token) and the WorkerService (cluster token), and the
// rule that an unauthenticated coordinator listens on loopback only.
#ifndef SMFG_COORDINATOR_ACCESS_H_
#define SMFG_COORDINATOR_ACCESS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"

namespace smfg::coordinator {

// Checks the "authorization: Bearer <token>" metadata of a call against a
// token (the scheme in any case, as RFC 7235 says). An empty token lets every
// call through.
class BearerTokenCheck {
 public:
  BearerTokenCheck() = default;
  explicit BearerTokenCheck(std::string token) : token_(std::move(token)) {}
  bool enabled() const { return !token_.empty(); }
  // OK, or UNAUTHENTICATED for a missing or wrong token (constant-time
  // comparison). `context` may be null only when the check is disabled.
  grpc::Status Check(const grpc::ServerContext* context) const;

 private:
  std::string token_;
};

// INVALID_ARGUMENT "request: does not decode as <type>".
grpc::Status UndecodableRequest(const std::string& message_type);

// The shape of every unary handler of our services: the token first, then the
// request, then `handler(request, &response)` (the core's work, in absl
// statuses). A caller without the token learns nothing else (not even whether
// its request decodes), and a request that does not decode is
// INVALID_ARGUMENT naming the message type (gRPC itself would answer
// INTERNAL). Used with the generated StreamedService classes, which hand the
// handler the undecoded request.
template <typename Request, typename Response, typename Handler>
grpc::Status CheckedUnaryCall(const BearerTokenCheck& auth, grpc::ServerContext* context,
                              grpc::ServerUnaryStreamer<Request, Response>* stream,
                              const Handler& handler) {
  if (grpc::Status denied = auth.Check(context); !denied.ok()) return denied;
  Request request;
  if (!stream->Read(&request)) return UndecodableRequest(Request::descriptor()->full_name());
  Response response;
  const absl::Status status = handler(request, &response);
  if (!status.ok()) return ToGrpcStatus(status);
  stream->Write(response);
  return grpc::Status::OK;
}

// The same for a server-streaming call: the token, then the request, then
// `handler(request)`, which writes to the stream itself.
template <typename Request, typename Response, typename Handler>
grpc::Status CheckedStreamingCall(const BearerTokenCheck& auth, grpc::ServerContext* context,
                                  grpc::ServerSplitStreamer<Request, Response>* stream,
                                  const Handler& handler) {
  if (grpc::Status denied = auth.Check(context); !denied.ok()) return denied;
  Request request;
  if (!stream->Read(&request)) return UndecodableRequest(Request::descriptor()->full_name());
  return ToGrpcStatus(handler(request));
}

// TLS server credentials from PEM files (both or neither set); plaintext
// (InsecureServerCredentials) when both are empty. INVALID_ARGUMENT for one
// without the other or an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file);

// True for "localhost", 127.0.0.0/8 addresses and "[::1]" / "::1".
bool IsLoopbackHost(absl::string_view host);

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_ACCESS_H_
