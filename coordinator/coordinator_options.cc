#include "coordinator/coordinator_options.h"

#include "absl/strings/str_cat.h"
#include "coordinator/access.h"

namespace smfg::coordinator {

absl::Status CoordinatorOptions::Validate() const {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: expected HOST:PORT, got '", listen, "'"));
  }
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir: must not be empty");
  if (max_concurrent < 1) return absl::InvalidArgumentError("--max_concurrent: must be >= 1");
  if (heartbeat_timeout_ms < 100) {
    return absl::InvalidArgumentError("--heartbeat_timeout_ms: must be >= 100");
  }
  if (worker_wait_timeout_s < 1) {
    return absl::InvalidArgumentError("--worker_wait_timeout_s: must be >= 1");
  }
  if (local_threads < 0) return absl::InvalidArgumentError("--local_threads: must be >= 0");
  if (market_threads < 0) return absl::InvalidArgumentError("--market_threads: must be >= 0");
  if (metrics_port < -1 || metrics_port > 65535) {
    return absl::InvalidArgumentError("--metrics_port: must be -1 (off), 0 (any) or a port");
  }
  if (metrics_host.empty()) return absl::InvalidArgumentError("--metrics_host: must not be empty");
  if (max_message_mb < 1 || max_message_mb > 2047) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_mb: ", max_message_mb, " not in [1, 2047]"));
  }
  if (memory_budget_mb < 0) {
    return absl::InvalidArgumentError("--memory_budget_mb: must be >= 0 (0: 3/4 of the memory)");
  }
  if (shutdown_timeout_s < 1) {
    return absl::InvalidArgumentError("--shutdown_timeout_s: must be >= 1");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
  }
  const std::string host = listen.substr(0, colon);
  if (!IsLoopbackHost(host) && api_token.empty() && cluster_token.empty() &&
      !allow_insecure_remote) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: refusing to serve on non-loopback address '", host,
                     "' without access control; configure --api_token_file/SMFG_API_TOKEN and "
                     "--cluster_token_file/SMFG_CLUSTER_TOKEN, or pass --allow_insecure_remote"));
  }
  return absl::OkStatus();
}

}  // namespace smfg::coordinator
