// Access control of the coordinator (issue 4, "Access"): bearer tokens on the
// ExperimentService (API token) and the WorkerService (cluster token), and the
// rule that an unauthenticated coordinator listens on loopback only.
#ifndef SMFG_COORDINATOR_ACCESS_H_
#define SMFG_COORDINATOR_ACCESS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace smfg::coordinator {

// Checks the "authorization: Bearer <token>" metadata of a call against a
// token. An empty token lets every call through.
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

// TLS server credentials from PEM files (both or neither set); plaintext
// (InsecureServerCredentials) when both are empty. INVALID_ARGUMENT for one
// without the other or an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file);

// True for "localhost", 127.0.0.0/8 addresses and "[::1]" / "::1".
bool IsLoopbackHost(absl::string_view host);

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_ACCESS_H_
