// The coordinator and client steps the multi-process tests share: start a
// real smfg-coordinator on 127.0.0.1:0, submit / watch / download through the
// client library exactly as the `smfg` commands do, and train the same spec
// locally for bit-for-bit comparisons. Never used by production code.
#ifndef SMFG_TESTS_CLUSTER_UTIL_H_
#define SMFG_TESTS_CLUSTER_UTIL_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/remote_commands.h"
#include "smfg/v1/experiment.pb.h"
#include "tests/process_util.h"

namespace smfg::testing_util {

// configs/three_bus_small.textproto cut to `days` days and `iterations`
// outer iterations, written to dir/small.textproto; returns its path.
std::string WriteSmallSpec(const std::filesystem::path& dir, int iterations, int days = 2);

// Starts smfg-coordinator (`coordinator_bin`) on 127.0.0.1:0 with data in
// dir/data and reads its address from stdout ("" if it did not come up
// within a minute). `env` as for Child.
std::unique_ptr<Child> StartCoordinator(const std::string& coordinator_bin,
                                        const std::filesystem::path& dir, const std::string& log,
                                        std::vector<std::string> extra_flags, std::string* address,
                                        std::vector<std::string> env = {});

// grpc.health.v1.Health/Check of the whole server (client::CheckHealth, as
// `smfg health` does it): "SERVING", another status name, or "error: ...".
std::string HealthCheck(const std::string& address);

// The client steps, as the `smfg` commands do them, with `remote` giving the
// address and credentials.
absl::StatusOr<std::string> Submit(const client::RemoteOptions& remote,
                                   const std::string& spec_path, const std::string& key);
// Streams Watch until the first outer iteration's metrics are stored; fails
// if the stream ends first or the experiment reports FAILED.
absl::Status WaitForFirstIteration(const client::RemoteOptions& remote, const std::string& id);
// Like WaitForFirstIteration, for iteration `n` (1-based).
absl::Status WaitForIteration(const client::RemoteOptions& remote, const std::string& id, int n);
// `smfg watch ID` until the experiment ends; the printed progress in *progress.
absl::Status WatchToEnd(const client::RemoteOptions& remote, const std::string& id,
                        std::string* progress);
// `smfg results ID --out out_dir`.
absl::Status DownloadResults(const client::RemoteOptions& remote, const std::string& id,
                             const std::filesystem::path& out_dir);
// Trains `spec_path` locally (`smfg train --threads 1`) into out_dir; fails
// the current test on error.
void TrainLocally(const std::string& spec_path, const std::filesystem::path& out_dir);

// RemoteOptions for a plaintext, token-less coordinator at `address`.
client::RemoteOptions Plain(const std::string& address);

// ExperimentService.Get of experiment `id`.
absl::StatusOr<v1::Experiment> GetExperiment(const client::RemoteOptions& remote,
                                             const std::string& id);

}  // namespace smfg::testing_util

#endif  // SMFG_TESTS_CLUSTER_UTIL_H_
