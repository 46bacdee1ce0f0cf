#include "client/remote_commands.h"

#include <sstream>

#include "gmock/gmock.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace smfg::client {
namespace {

using ::testing::HasSubstr;

TEST(RemoteCommandsTest, OptionsAreValidated) {
  SubmitOptions submit;
  submit.spec_path = "configs/three_bus_small.textproto";
  EXPECT_THAT(submit.Validate().message(), HasSubstr("--coordinator"));
  submit.remote.coordinator = "127.0.0.1:1";
  EXPECT_TRUE(submit.Validate().ok());
  submit.remote.rpc_timeout = absl::ZeroDuration();
  EXPECT_THAT(submit.Validate().message(), HasSubstr("--rpc_timeout"));

  ExperimentIdOptions id;
  id.remote.coordinator = "localhost:1";
  EXPECT_THAT(id.Validate().message(), HasSubstr("ID"));

  ListOptions list;
  list.remote.coordinator = "localhost:1";
  list.status = "RUNNING";
  EXPECT_TRUE(list.Validate().ok());
  list.status = "SLEEPING";
  EXPECT_THAT(list.Validate().message(), HasSubstr("--status"));

  ResultsOptions results;
  results.remote.coordinator = "localhost:1";
  results.id = "exp-000001";
  EXPECT_THAT(results.Validate().message(), HasSubstr("--out"));
}

TEST(RemoteCommandsTest, UnreachableCoordinatorIsUnavailableWithinTheDeadline) {
  ExperimentIdOptions o;
  // A Unix socket that does not exist: nothing can be listening there.
  o.remote.coordinator = "unix:" + testing::TempDir() + "/smfg-no-such-socket";
  o.remote.rpc_timeout = absl::Seconds(2);
  o.id = "exp-000001";
  std::ostringstream out;
  const absl::Status s = RunGet(o, out);
  EXPECT_TRUE(absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) << s;
}

TEST(RemoteCommandsTest, FormatExperiment) {
  v1::Experiment e;
  e.set_id("exp-000007");
  e.set_name("three_bus");
  e.set_status(v1::FAILED);
  e.set_outer_iteration(4);
  e.set_message("boom");
  EXPECT_EQ(FormatExperiment(e),
            "exp-000007  FAILED               iteration   4  three_bus  (boom)");
}

// An in-process gRPC server with the default health service, as the
// coordinator registers it, on a free loopback port. The (unimplemented)
// ExperimentService makes it a synchronous server, which the health service
// needs to be polled.
class HealthServer {
 public:
  HealthServer() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&unimplemented_);
    server_ = builder.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~HealthServer() { server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5))); }
  void SetServing(bool serving) { server_->GetHealthCheckService()->SetServingStatus(serving); }
  RemoteOptions Remote() const {
    RemoteOptions remote;
    remote.coordinator = address_;
    remote.rpc_timeout = absl::Seconds(10);
    return remote;
  }

 private:
  v1::ExperimentService::Service unimplemented_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST(RemoteCommandsTest, HealthOfAServingServerIsServing) {
  HealthServer server;
  std::ostringstream out;
  EXPECT_TRUE(RunHealth(server.Remote(), out).ok());
  EXPECT_EQ(out.str(), "SERVING\n");
}

TEST(RemoteCommandsTest, HealthSendsATokenWithoutBeingRefused) {
  // The coordinator's health service is open; a client configured with an
  // API token (as inside the coordinator's container) must still pass.
  HealthServer server;
  RemoteOptions remote = server.Remote();
  remote.token = "secret-token";
  EXPECT_EQ(CheckHealth(remote).value_or("error"), "SERVING");
}

TEST(RemoteCommandsTest, HealthOfANotServingServerIsAnErrorNamingTheStatus) {
  HealthServer server;
  server.SetServing(false);
  std::ostringstream out;
  const absl::Status s = RunHealth(server.Remote(), out);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("NOT_SERVING"));
  EXPECT_EQ(out.str(), "NOT_SERVING\n");
}

TEST(RemoteCommandsTest, HealthOfNothingListeningIsUnavailableWithinTheDeadline) {
  RemoteOptions remote;
  remote.coordinator = "unix:" + testing::TempDir() + "/smfg-no-such-socket";
  remote.rpc_timeout = absl::Seconds(2);
  std::ostringstream out;
  const absl::Status s = RunHealth(remote, out);
  EXPECT_TRUE(absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) << s;
  EXPECT_EQ(out.str(), "");
}

TEST(RemoteCommandsTest, HealthNeedsACoordinator) {
  std::ostringstream out;
  EXPECT_THAT(RunHealth(RemoteOptions(), out).message(), HasSubstr("--coordinator"));
}

}  // namespace
}  // namespace smfg::client
