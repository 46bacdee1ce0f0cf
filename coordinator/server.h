// The smfg-coordinator process, assembled: the experiment store, the worker
// pool, the experiment manager, both gRPC services (ExperimentService,
// WorkerService) with health checking and reflection on one port, and the
// optional Prometheus endpoint. main.cc only parses flags into
// CoordinatorOptions and drives this; tests start it in-process.
//
// Start() returns once the server accepts connections (port() is then the
// bound port, also when options.listen asked for port 0) and the manager has
// started; experiments left RUNNING by a previous coordinator on the same data
// directory are resumed. Shutdown() stops runs at their next iteration
// boundary (their status stays, so a restart resumes them), then the gRPC
// server (calls in flight get a few seconds), then the metrics endpoint.
#ifndef SMFG_COORDINATOR_SERVER_H_
#define SMFG_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/coordinator_options.h"

namespace smfg::coordinator {

class CoordinatorServer {
 public:
  // Errors of options.Validate(), of opening the store (ExperimentStore::Open),
  // of the TLS files, and UNAVAILABLE naming --listen or --metrics_port when
  // the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      const CoordinatorOptions& options);
  ~CoordinatorServer();  // Shutdown()
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;

  // "HOST:PORT" of the gRPC server, with the bound port.
  std::string address() const;
  int port() const;
  // The metrics endpoint's bound port; -1 when it is off.
  int metrics_port() const;
  // Idempotent.
  void Shutdown();

 private:
  struct Parts;
  explicit CoordinatorServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_SERVER_H_
