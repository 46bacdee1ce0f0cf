// The smfg-coordinator's command-line options and their validation.
#ifndef SMFG_COORDINATOR_COORDINATOR_OPTIONS_H_
#define SMFG_COORDINATOR_COORDINATOR_OPTIONS_H_

#include <string>

#include "absl/status/status.h"

namespace smfg::coordinator {

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:0";
  std::string data_dir = "smfg-data";
  int max_concurrent = 1;
  int heartbeat_timeout_ms = 15000;
  int worker_wait_timeout_s = 3600;
  int local_threads = 0;
  // Threads clearing each run's market (0: all cores); results are the same
  // bits for any count.
  int market_threads = 0;
  // Bearer tokens (already loaded from --*_token_file or the environment);
  // empty: that service is open.
  std::string api_token;
  std::string cluster_token;
  // PEM files of the server's TLS certificate chain and key; both empty:
  // plaintext.
  std::string tls_cert;
  std::string tls_key;
  // Permits a non-loopback --listen without any token.
  bool allow_insecure_remote = false;
  // Prometheus /metrics: -1 off, 0 any free port, else the port.
  int metrics_port = -1;
  std::string metrics_host = "127.0.0.1";
  // Largest request the server accepts, MiB (a submitted spec, a worker's
  // result); larger ones get RESOURCE_EXHAUSTED before they are parsed.
  int max_message_mb = 64;
  // Submit refuses specs estimated to need more memory (MiB); 0: three
  // quarters of this machine's physical memory.
  int64_t memory_budget_mb = 0;
  // After SIGTERM/SIGINT, exit without waiting once shutting down has taken
  // this long (a run or a call that does not stop); the store and the
  // checkpoints are crash-safe, so nothing is lost.
  int shutdown_timeout_s = 30;

  // INVALID_ARGUMENT naming the flag. A --listen host that is not loopback
  // (see IsLoopbackHost) needs an API or cluster token, or
  // --allow_insecure_remote.
  absl::Status Validate() const;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_COORDINATOR_OPTIONS_H_
