#include "tests/cluster_util.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/commands.h"
#include "client/remote_commands.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace smfg::testing_util {

namespace fs = std::filesystem;

std::string WriteSmallSpec(const fs::path& dir, int iterations, int days) {
  std::string spec = ReadAll(SMFG_SOURCE_DIR "/configs/three_bus_small.textproto");
  EXPECT_NE(spec.find("  days: 10 "), std::string::npos);
  EXPECT_NE(spec.find("  max_iterations: 100\n"), std::string::npos);
  EXPECT_NE(spec.find("  rollout_days_per_update: 40\n"), std::string::npos);
  EXPECT_NE(spec.find("  max_evaluations: 300\n"), std::string::npos);
  // One rollout of the shortened day pool per update and a short reference
  // search: these tests are about the service, not the optimum.
  spec = absl::StrReplaceAll(
      spec, {{"  days: 10 ", absl::StrCat("  days: ", days, " ")},
             {"  max_iterations: 100\n", absl::StrCat("  max_iterations: ", iterations, "\n")},
             {"  rollout_days_per_update: 40\n", ""},
             {"  max_evaluations: 300\n", "  max_evaluations: 6\n"}});
  const std::string path = (dir / "small.textproto").string();
  std::ofstream(path) << spec;
  return path;
}

std::unique_ptr<Child> StartCoordinator(const std::string& coordinator_bin, const fs::path& dir,
                                        const std::string& log,
                                        std::vector<std::string> extra_flags, std::string* address,
                                        std::vector<std::string> env) {
  std::vector<std::string> argv = {coordinator_bin, "--listen=127.0.0.1:0",
                                   "--data_dir=" + (dir / "data").string()};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto child =
      std::make_unique<Child>(argv, (dir / log).string(), /*capture_stdout=*/true, std::move(env));
  const std::string line = child->ReadLine(absl::Seconds(60));
  const std::string prefix = "listening on 127.0.0.1:";
  address->clear();
  if (line.rfind(prefix, 0) == 0) *address = line.substr(std::string("listening on ").size());
  return child;
}

std::string HealthCheck(const std::string& address) {
  absl::StatusOr<std::string> health = client::CheckHealth(Plain(address));
  return health.ok() ? *health : "error: " + std::string(health.status().message());
}

absl::StatusOr<std::string> Submit(const client::RemoteOptions& remote,
                                   const std::string& spec_path, const std::string& key) {
  client::SubmitOptions submit;
  submit.remote = remote;
  submit.spec_path = spec_path;
  submit.key = key;
  std::ostringstream submitted;
  SMFG_RETURN_IF_ERROR(client::RunSubmit(submit, submitted));
  return submitted.str().substr(0, submitted.str().find('\n'));
}

absl::Status WaitForIteration(const client::RemoteOptions& remote, const std::string& id, int n) {
  auto stub = client::ConnectExperimentService(remote);
  grpc::ClientContext context;
  client::PrepareContext(&context, remote, absl::Minutes(5));
  v1::WatchRequest request;
  request.set_id(id);
  auto reader = stub->Watch(&context, request);
  v1::WatchEvent event;
  absl::Status result =
      absl::DeadlineExceededError(absl::StrCat("watch ended before iteration ", n));
  int seen = 0;
  while (reader->Read(&event)) {
    if (event.experiment().status() == v1::FAILED) {
      result = absl::InternalError(event.experiment().message());
      break;
    }
    seen += event.records_size();
    if (seen >= n) {
      result = absl::OkStatus();
      break;
    }
  }
  context.TryCancel();
  reader->Finish();
  return result;
}

absl::Status WaitForFirstIteration(const client::RemoteOptions& remote, const std::string& id) {
  return WaitForIteration(remote, id, 1);
}

absl::Status WatchToEnd(const client::RemoteOptions& remote, const std::string& id,
                        std::string* progress) {
  client::ExperimentIdOptions watch;
  watch.remote = remote;
  watch.id = id;
  watch.watch_timeout = absl::Minutes(10);
  std::ostringstream out;
  const absl::Status watched = client::RunWatch(watch, out);
  *progress = out.str();
  return watched;
}

absl::Status DownloadResults(const client::RemoteOptions& remote, const std::string& id,
                             const fs::path& out_dir) {
  client::ResultsOptions results;
  results.remote = remote;
  results.id = id;
  results.out_dir = out_dir.string();
  std::ostringstream ignored;
  return client::RunResults(results, ignored);
}

void TrainLocally(const std::string& spec_path, const fs::path& out_dir) {
  client::TrainOptions train;
  train.spec_path = spec_path;
  train.out_dir = out_dir.string();
  train.threads = 1;
  std::ostringstream train_out, train_progress;
  const absl::Status trained = client::RunTrain(train, train_out, train_progress);
  ASSERT_TRUE(trained.ok()) << trained;
}

client::RemoteOptions Plain(const std::string& address) {
  client::RemoteOptions remote;
  remote.coordinator = address;
  return remote;
}

absl::StatusOr<v1::Experiment> GetExperiment(const client::RemoteOptions& remote,
                                             const std::string& id) {
  auto stub = client::ConnectExperimentService(remote);
  grpc::ClientContext context;
  client::PrepareContext(&context, remote, remote.rpc_timeout);
  v1::GetExperimentRequest request;
  request.set_id(id);
  v1::Experiment experiment;
  const grpc::Status status = stub->Get(&context, request, &experiment);
  if (!status.ok()) return FromGrpcStatus(status);
  return experiment;
}

}  // namespace smfg::testing_util
