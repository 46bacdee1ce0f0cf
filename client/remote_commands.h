// The remote commands of the `smfg` tool: talk to an smfg-coordinator's
// ExperimentService (proto/smfg/v1/experiment.proto). main.cc parses flags into
// these Options structs; each Run function validates, makes its RPCs (every
// one with a deadline) and prints to `out`. gRPC errors come back as
// absl::Status with the same code and message.
#ifndef SMFG_CLIENT_REMOTE_COMMANDS_H_
#define SMFG_CLIENT_REMOTE_COMMANDS_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "smfg/v1/experiment.grpc.pb.h"
#include "training/report_files.h"

namespace smfg::client {

struct RemoteOptions {
  std::string coordinator;                         // HOST:PORT
  absl::Duration rpc_timeout = absl::Seconds(30);  // deadline of unary RPCs
  // Sent as "authorization: Bearer <token>" with every call; empty: none.
  std::string token;
  // PEM root certificates: connect with TLS trusting them; empty: plaintext.
  std::string tls_ca_pem;
  absl::Status Validate() const;
};

struct SubmitOptions {
  RemoteOptions remote;
  std::string spec_path;  // .textproto / .json experiment spec
  std::string key;        // idempotency key; empty: a fresh one
  absl::Status Validate() const;
};

struct ExperimentIdOptions {  // watch, get, cancel
  RemoteOptions remote;
  std::string id;
  // watch: deadline of the whole stream.
  absl::Duration watch_timeout = absl::Hours(24);
  absl::Status Validate() const;
};

struct ListOptions {
  RemoteOptions remote;
  std::string status;  // empty: all; else QUEUED, RUNNING, ...
  int limit = 0;       // 0: every experiment (all pages)
  absl::Status Validate() const;
};

struct ResultsOptions {
  RemoteOptions remote;
  std::string id;
  std::string out_dir;  // result "a__b.svg" is written to out_dir/a/b.svg
  absl::Status Validate() const;
};

// Loads and validates the spec locally, submits it, prints the experiment id
// (and "(already submitted)" when the key was known).
absl::Status RunSubmit(const SubmitOptions& options, std::ostream& out);
// Prints a line per status change and per outer iteration until the
// experiment ends; an experiment that ends FAILED or CANCELLED is an error.
absl::Status RunWatch(const ExperimentIdOptions& options, std::ostream& out);
absl::Status RunGet(const ExperimentIdOptions& options, std::ostream& out);
absl::Status RunList(const ListOptions& options, std::ostream& out);
absl::Status RunCancel(const ExperimentIdOptions& options, std::ostream& out);
// Deletes a finished experiment.
absl::Status RunDelete(const ExperimentIdOptions& options, std::ostream& out);
absl::Status RunResults(const ResultsOptions& options, std::ostream& out);

// The result files of a SUCCEEDED experiment, assembled from GetResults'
// chunks and checked: every path passes smfg::ValidateRelativePath, chunks
// are contiguous and every file has its announced size (else DATA_LOSS).
absl::StatusOr<std::vector<training::OutputFile>> DownloadResults(const RemoteOptions& remote,
                                                                  const std::string& id);

// A stub for the coordinator at options.coordinator, over TLS when
// options.tls_ca_pem is set.
std::unique_ptr<v1::ExperimentService::Stub> ConnectExperimentService(const RemoteOptions& options);
// Sets the call's deadline (now + timeout) and, with a token, its
// "authorization: Bearer" metadata.
void PrepareContext(grpc::ClientContext* context, const RemoteOptions& remote,
                    absl::Duration timeout);

// One line: "exp-000001  RUNNING  iteration 3  name  (message)".
std::string FormatExperiment(const v1::Experiment& experiment);

// grpc.health.v1.Health/Check of the coordinator's whole server (service ""),
// with remote.rpc_timeout as deadline and remote's TLS settings. Returns the
// serving status by name: "SERVING", "NOT_SERVING", "UNKNOWN",
// "SERVICE_UNKNOWN" (or "STATUS_<n>" for a value this build does not know).
// An RPC failure comes back as its status (UNAVAILABLE when nothing listens,
// DEADLINE_EXCEEDED). The coordinator keeps health checking open whether or
// not tokens are configured, so no token is needed (one set is sent anyway).
absl::StatusOr<std::string> CheckHealth(const RemoteOptions& remote);
// `smfg health`: prints the serving status on `out`; OK only for SERVING,
// else UNAVAILABLE naming the status (the container healthcheck's exit 1).
absl::Status RunHealth(const RemoteOptions& remote, std::ostream& out);

}  // namespace smfg::client

#endif  // SMFG_CLIENT_REMOTE_COMMANDS_H_
