// Bearer-token access control on both services, health checking left open,
// and the loopback rule of CoordinatorOptions::Validate.
#include "coordinator/access.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/experiment_service.h"
#include "coordinator/experiment_store.h"
#include "coordinator/worker_pool.h"
#include "coordinator/worker_service.h"
#include "environment/population_evaluator.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "tests/process_util.h"

namespace smfg::coordinator {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::Not;

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class AccessTest : public testing::Test {
 protected:
  void SetUp() override {
    const fs::path dir = fs::path(testing::TempDir()) /
                         ("access-" + std::to_string(::getpid()) + "-" +
                          testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    auto store = ExperimentStore::Open(dir.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ExperimentManagerParams p;
    p.store = store_.get();
    p.evaluator_factory =
        [](const std::string&, const env::Scenario& sc,
           std::function<void()>) -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      return std::make_unique<env::LocalPopulationEvaluator>(sc, 1);
    };
    auto manager = ExperimentManager::Create(std::move(p));
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    experiments_ =
        std::make_unique<ExperimentServiceImpl>(manager_.get(), BearerTokenCheck("api-secret"));
    workers_ = std::make_unique<WorkerServiceImpl>(&pool_, BearerTokenCheck("cluster-secret"));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(experiments_.get());
    builder.RegisterService(workers_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    }
    if (manager_ != nullptr) manager_->Shutdown();
  }

  // Sets a deadline and, unless empty, the authorization metadata.
  static void Prepare(grpc::ClientContext* context, const std::string& authorization) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  }

  grpc::Status List(const std::string& authorization) {
    grpc::ClientContext context;
    Prepare(&context, authorization);
    v1::ListExperimentsRequest request;
    v1::ListExperimentsResponse response;
    return v1::ExperimentService::NewStub(channel_)->List(&context, request, &response);
  }

  grpc::Status Register(const std::string& authorization) {
    grpc::ClientContext context;
    Prepare(&context, authorization);
    v1::RegisterRequest request;
    request.set_name("w");
    v1::RegisterResponse response;
    return v1::WorkerService::NewStub(channel_)->Register(&context, request, &response);
  }

  std::unique_ptr<ExperimentStore> store_;
  std::unique_ptr<ExperimentManager> manager_;
  WorkerPool pool_;
  std::unique_ptr<ExperimentServiceImpl> experiments_;
  std::unique_ptr<WorkerServiceImpl> workers_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AccessTest, ExperimentServiceNeedsApiToken) {
  EXPECT_THAT(List("Bearer api-secret"), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(List(""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(List("Bearer wrong"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(List("api-secret"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(List("Bearer cluster-secret"), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(AccessTest, WorkerServiceNeedsClusterToken) {
  EXPECT_THAT(Register("Bearer cluster-secret"), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(Register(""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Register("Bearer wrong"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Register("Bearer api-secret"), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(pool_.LiveWorkers(), 1);
}

TEST_F(AccessTest, HealthCheckStaysOpen) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  Prepare(&context, "");
  grpc::Slice empty;
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // bounded by the call's deadline
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// TLS with a self-signed certificate made by openssl (skipped without it).
TEST_F(AccessTest, TlsServerWithTokenAcceptsTlsClientsOnly) {
  const absl::StatusOr<testing_util::SelfSignedCert> tls = testing_util::MakeSelfSignedCert(
      fs::path(testing::TempDir()) / ("tls-" + std::to_string(::getpid())));
  if (absl::IsUnavailable(tls.status())) GTEST_SKIP() << tls.status();
  ASSERT_TRUE(tls.ok()) << tls.status();
  const std::string& cert = tls->cert_path;
  const std::string& key = tls->key_path;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(cert, key);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", *credentials, &port);
  builder.RegisterService(experiments_.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls->cert_pem;
  auto list = [&](std::shared_ptr<grpc::ChannelCredentials> creds, const std::string& auth) {
    grpc::ClientContext context;
    Prepare(&context, auth);
    v1::ListExperimentsResponse response;
    return v1::ExperimentService::NewStub(grpc::CreateChannel(address, creds))
        ->List(&context, v1::ListExperimentsRequest(), &response);
  };
  EXPECT_THAT(list(grpc::SslCredentials(ssl), "Bearer api-secret"),
              StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(list(grpc::SslCredentials(ssl), ""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(list(grpc::InsecureChannelCredentials(), "Bearer api-secret"), Not(IsOk()));
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
}

TEST(MakeServerCredentialsTest, BothOrNeither) {
  EXPECT_TRUE(MakeServerCredentials("", "").ok());
  EXPECT_THAT(MakeServerCredentials("cert.pem", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("together")));
  EXPECT_THAT(MakeServerCredentials("/nonexistent/cert.pem", "/nonexistent/key.pem"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_cert")));
}

TEST(BearerTokenCheckTest, DisabledLetsEverythingThrough) {
  EXPECT_FALSE(BearerTokenCheck().enabled());
  EXPECT_TRUE(BearerTokenCheck().Check(nullptr).ok());
  EXPECT_THAT(BearerTokenCheck("x").Check(nullptr), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(CoordinatorOptionsTest, NonLoopbackListenNeedsTokenOrExplicitFlag) {
  CoordinatorOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.listen = "localhost:7000";
  EXPECT_TRUE(o.Validate().ok());
  o.listen = "0.0.0.0:7000";
  const absl::Status refused = o.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(refused));
  EXPECT_NE(refused.message().find("--allow_insecure_remote"), absl::string_view::npos);
  o.allow_insecure_remote = true;
  EXPECT_TRUE(o.Validate().ok());
  o.allow_insecure_remote = false;
  o.api_token = "t";
  EXPECT_TRUE(o.Validate().ok());
  o.api_token.clear();
  o.cluster_token = "t";
  EXPECT_TRUE(o.Validate().ok());
  o.cluster_token.clear();
  o.listen = "[::]:7000";
  EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  o.listen = "[::1]:7000";
  EXPECT_TRUE(o.Validate().ok());
  o.tls_cert = "cert.pem";
  EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));  // --tls_key missing
}

TEST(CoordinatorOptionsTest, MetricsPortRange) {
  CoordinatorOptions o;
  o.metrics_port = -2;
  EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
  o.metrics_port = 0;
  EXPECT_TRUE(o.Validate().ok());
  o.metrics_port = 70000;
  EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CoordinatorOptionsTest, ThreadCountsAreNotNegative) {
  CoordinatorOptions o;
  o.market_threads = 3;
  EXPECT_TRUE(o.Validate().ok());
  o.market_threads = -1;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--market_threads")));
  o.market_threads = 0;  // all cores
  o.local_threads = -1;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--local_threads")));
}

TEST(CoordinatorOptionsTest, MaxMessageRangeAndMetricsHost) {
  CoordinatorOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.max_message_mb = 0;
  EXPECT_THAT(o.Validate().message(), HasSubstr("--max_message_mb"));
  o.max_message_mb = 2048;
  EXPECT_THAT(o.Validate().message(), HasSubstr("--max_message_mb"));
  o.max_message_mb = 2047;
  EXPECT_TRUE(o.Validate().ok());
  o.metrics_host = "";
  EXPECT_THAT(o.Validate().message(), HasSubstr("--metrics_host"));
}

}  // namespace
}  // namespace smfg::coordinator
