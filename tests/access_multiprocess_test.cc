// Access control and message limits with the real binaries as processes:
// smfg-coordinator with bearer tokens (from the environment and from files)
// and TLS, smfg-worker with right and wrong cluster tokens, the `smfg` CLI,
// the loopback rule, and oversized or unparseable requests, which must get
// the right gRPC status without crashing the coordinator or disturbing a run.
// Every child process is terminated when its test ends, passed or not.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "smfg/v1/experiment.grpc.pb.h"
#include "smfg/v1/worker.grpc.pb.h"
#include "tests/cluster_util.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::Child;
using testing_util::FreshDir;
using testing_util::ReadAll;
using testing_util::WaitForLogLine;
using testing_util::WriteSmallSpec;

constexpr char kApiToken[] = "api-secret-7f3a";
constexpr char kClusterToken[] = "cluster-secret-91c2";

std::string WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text << "\n";
  return path.string();
}

std::unique_ptr<Child> StartCoordinator(const fs::path& dir, std::vector<std::string> flags,
                                        std::string* address, std::vector<std::string> env = {}) {
  return testing_util::StartCoordinator(SMFG_COORDINATOR_BIN, dir, "coordinator.log",
                                        std::move(flags), address, std::move(env));
}

std::unique_ptr<Child> StartWorker(const fs::path& dir, const std::string& address,
                                   const std::string& name, std::vector<std::string> flags,
                                   std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {SMFG_WORKER_BIN, "--coordinator=" + address, "--name=" + name};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return std::make_unique<Child>(argv, (dir / (name + ".log")).string(),
                                 /*capture_stdout=*/false, std::move(env));
}

// One run of the `smfg` CLI binary.
struct CliRun {
  int exit_code = -1;  // -1: killed (did not exit within the timeout) or signalled
  std::string out;     // stdout
  std::string err;     // stderr
  absl::Duration elapsed;
};

// Runs `smfg ARGS...` with `env` added, waiting at most `timeout`. The CLI's
// output has no blank lines, so an empty ReadLine means end of output.
CliRun RunCli(const fs::path& dir, const std::string& log_name, std::vector<std::string> args,
              std::vector<std::string> env = {}, absl::Duration timeout = absl::Minutes(3)) {
  const absl::Time start = absl::Now();
  args.insert(args.begin(), SMFG_CLIENT_BIN);
  const std::string err_path = (dir / log_name).string();
  Child cli(args, err_path, /*capture_stdout=*/true, std::move(env));
  CliRun run;
  for (std::string line; !(line = cli.ReadLine(start + timeout - absl::Now())).empty();) {
    run.out += line + "\n";
  }
  const int status = cli.Wait(std::max(start + timeout - absl::Now(), absl::Seconds(1)));
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.err = ReadAll(err_path);
  run.elapsed = absl::Now() - start;
  return run;
}

std::string Describe(const CliRun& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout: " + run.out + "\nstderr: " + run.err;
}

// The coordinator's log, for failure messages.
std::string CoordinatorLog(const fs::path& dir) {
  return ReadAll((dir / "coordinator.log").string());
}

// Tokens given to the coordinator through the environment; workers with the
// right cluster token (one from --token_file, one from the environment)
// compute, one with a wrong token is refused and never registers; the CLI
// binary is refused without the API token and submits and watches with it.
TEST(AccessMultiProcessTest, TokensFromEnvironmentGateWorkersAndClients) {
  const fs::path dir = FreshDir("smfg-access");
  const std::string spec_path = WriteSmallSpec(dir, /*iterations=*/1, /*days=*/2);
  const std::string api_file = WriteFile(dir / "api.token", kApiToken);
  const std::string cluster_file = WriteFile(dir / "cluster.token", kClusterToken);
  const std::string wrong_file = WriteFile(dir / "wrong.token", "not-the-cluster-token");
  std::string address;
  std::unique_ptr<Child> coordinator =
      StartCoordinator(dir, {"--metrics_port=0"}, &address,
                       {std::string("SMFG_API_TOKEN=") + kApiToken,
                        std::string("SMFG_CLUSTER_TOKEN=") + kClusterToken});
  ASSERT_FALSE(address.empty()) << CoordinatorLog(dir);
  const std::string metrics_address = testing_util::ReadMetricsAddress(*coordinator);
  ASSERT_FALSE(metrics_address.empty()) << CoordinatorLog(dir);
  std::unique_ptr<Child> by_file =
      StartWorker(dir, address, "good-file", {"--token_file=" + cluster_file});
  std::unique_ptr<Child> by_env = StartWorker(dir, address, "good-env", {},
                                              {std::string("SMFG_CLUSTER_TOKEN=") + kClusterToken});
  std::unique_ptr<Child> intruder =
      StartWorker(dir, address, "intruder", {"--token_file=" + wrong_file});
  // WorkerService answers a wrong token with UNAUTHENTICATED "invalid bearer
  // token" (BearerTokenCheck); the worker logs it and keeps retrying.
  EXPECT_TRUE(WaitForLogLine(dir / "intruder.log", "register failed (invalid bearer token)",
                             absl::Now() + absl::Seconds(30)))
      << ReadAll((dir / "intruder.log").string());

  const std::string coordinator_flag = "--coordinator=" + address;
  const CliRun anonymous = RunCli(dir, "list-anonymous.err", {"list", coordinator_flag});
  EXPECT_NE(anonymous.exit_code, 0) << Describe(anonymous);
  EXPECT_THAT(anonymous.err, HasSubstr("missing bearer token")) << Describe(anonymous);
  const CliRun wrong = RunCli(dir, "list-wrong.err", {"list", coordinator_flag},
                              {"SMFG_API_TOKEN=not-the-api-token"});
  EXPECT_NE(wrong.exit_code, 0) << Describe(wrong);
  EXPECT_THAT(wrong.err, HasSubstr("invalid bearer token")) << Describe(wrong);

  const CliRun submit =
      RunCli(dir, "submit.err",
             {"submit", spec_path, coordinator_flag, "--token_file=" + api_file, "--key=tokens"});
  ASSERT_EQ(submit.exit_code, 0) << Describe(submit);
  EXPECT_EQ(submit.out, "exp-000001\n") << Describe(submit);
  const CliRun watch = RunCli(dir, "watch.err", {"watch", "exp-000001", coordinator_flag},
                              {std::string("SMFG_API_TOKEN=") + kApiToken});
  EXPECT_EQ(watch.exit_code, 0) << Describe(watch) << CoordinatorLog(dir);
  EXPECT_THAT(watch.out, HasSubstr("SUCCEEDED")) << Describe(watch);

  // Both good workers registered and computed shards; the intruder never
  // registered, so it has no metrics row and could never have been given work.
  const absl::StatusOr<std::string> metrics = testing_util::HttpGet(metrics_address, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string shards = "smfg_worker_shards_completed_total";
  EXPECT_GT(testing_util::WorkerMetric(*metrics, shards, "good-file") +
                testing_util::WorkerMetric(*metrics, shards, "good-env"),
            0)
      << *metrics;
  EXPECT_EQ(testing_util::WorkerMetric(*metrics, shards, "intruder"), -1) << *metrics;
  const std::string log = CoordinatorLog(dir);
  EXPECT_THAT(log, HasSubstr("(good-file, ")) << log;
  EXPECT_THAT(log, HasSubstr("(good-env, ")) << log;
  EXPECT_THAT(log, Not(HasSubstr("(intruder, "))) << log;
  fs::remove_all(dir);
}

// The same rules with the tokens in --api_token_file / --cluster_token_file.
TEST(AccessMultiProcessTest, TokensFromFilesGateWorkersAndClients) {
  const fs::path dir = FreshDir("smfg-access");
  const std::string api_file = WriteFile(dir / "api.token", kApiToken);
  const std::string cluster_file = WriteFile(dir / "cluster.token", kClusterToken);
  std::string address;
  std::unique_ptr<Child> coordinator = StartCoordinator(
      dir, {"--api_token_file=" + api_file, "--cluster_token_file=" + cluster_file}, &address);
  ASSERT_FALSE(address.empty()) << CoordinatorLog(dir);
  std::unique_ptr<Child> good = StartWorker(dir, address, "good", {"--token_file=" + cluster_file});
  // The API token is not the cluster token.
  std::unique_ptr<Child> intruder =
      StartWorker(dir, address, "intruder", {"--token_file=" + api_file});
  EXPECT_TRUE(WaitForLogLine(dir / "coordinator.log", "(good, ", absl::Now() + absl::Seconds(30)))
      << CoordinatorLog(dir);
  EXPECT_TRUE(WaitForLogLine(dir / "intruder.log", "register failed (invalid bearer token)",
                             absl::Now() + absl::Seconds(30)))
      << ReadAll((dir / "intruder.log").string());
  EXPECT_THAT(CoordinatorLog(dir), Not(HasSubstr("(intruder, ")));

  const std::string coordinator_flag = "--coordinator=" + address;
  const CliRun anonymous = RunCli(dir, "list-anonymous.err", {"list", coordinator_flag});
  EXPECT_NE(anonymous.exit_code, 0) << Describe(anonymous);
  EXPECT_THAT(anonymous.err, HasSubstr("missing bearer token")) << Describe(anonymous);
  const CliRun with_token =
      RunCli(dir, "list.err", {"list", coordinator_flag, "--token_file=" + api_file});
  EXPECT_EQ(with_token.exit_code, 0) << Describe(with_token);
  fs::remove_all(dir);
}

// TLS with a self-signed certificate (SAN localhost and 127.0.0.1) plus
// tokens: a worker and the CLI with --tls_ca run an experiment to SUCCEEDED;
// a plaintext client fails fast with UNAVAILABLE instead of hanging.
TEST(AccessMultiProcessTest, TlsCoordinatorServesTlsWorkersAndClients) {
  const fs::path dir = FreshDir("smfg-access");
  const absl::StatusOr<testing_util::SelfSignedCert> tls =
      testing_util::MakeSelfSignedCert(dir / "tls");
  if (absl::IsUnavailable(tls.status())) GTEST_SKIP() << tls.status();
  ASSERT_TRUE(tls.ok()) << tls.status();
  const std::string spec_path = WriteSmallSpec(dir, /*iterations=*/1, /*days=*/2);
  const std::string api_file = WriteFile(dir / "api.token", kApiToken);
  const std::string cluster_file = WriteFile(dir / "cluster.token", kClusterToken);
  std::string address;
  std::unique_ptr<Child> coordinator = StartCoordinator(
      dir, {"--tls_cert=" + tls->cert_path, "--tls_key=" + tls->key_path}, &address,
      {std::string("SMFG_API_TOKEN=") + kApiToken,
       std::string("SMFG_CLUSTER_TOKEN=") + kClusterToken});
  ASSERT_FALSE(address.empty()) << CoordinatorLog(dir);
  std::unique_ptr<Child> worker = StartWorker(
      dir, address, "tls-worker", {"--token_file=" + cluster_file, "--tls_ca=" + tls->cert_path});

  const std::vector<std::string> remote_flags = {
      "--coordinator=" + address, "--token_file=" + api_file, "--tls_ca=" + tls->cert_path};
  std::vector<std::string> submit_args = {"submit", spec_path, "--key=tls"};
  submit_args.insert(submit_args.end(), remote_flags.begin(), remote_flags.end());
  const CliRun submit = RunCli(dir, "submit.err", submit_args);
  ASSERT_EQ(submit.exit_code, 0) << Describe(submit);
  ASSERT_EQ(submit.out, "exp-000001\n") << Describe(submit);
  std::vector<std::string> watch_args = {"watch", "exp-000001"};
  watch_args.insert(watch_args.end(), remote_flags.begin(), remote_flags.end());
  const CliRun watch = RunCli(dir, "watch.err", watch_args);
  EXPECT_EQ(watch.exit_code, 0) << Describe(watch) << CoordinatorLog(dir);
  EXPECT_THAT(watch.out, HasSubstr("SUCCEEDED")) << Describe(watch);
  EXPECT_TRUE(WaitForLogLine(dir / "coordinator.log", "(tls-worker, ", absl::Now()))
      << CoordinatorLog(dir);

  // Plaintext against the TLS port: the handshake fails and the call ends
  // with UNAVAILABLE long before its 60 s deadline (a hang would run into it).
  client::ListOptions plaintext;
  plaintext.remote = testing_util::Plain(address);
  plaintext.remote.token = kApiToken;
  plaintext.remote.rpc_timeout = absl::Seconds(60);
  std::ostringstream ignored;
  const absl::Time start = absl::Now();
  const absl::Status refused = client::RunList(plaintext, ignored);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  const CliRun plaintext_cli = RunCli(
      dir, "list-plaintext.err",
      {"list", "--coordinator=" + address, "--token_file=" + api_file, "--rpc_timeout_s=60"});
  EXPECT_EQ(plaintext_cli.exit_code, 1) << Describe(plaintext_cli);
  EXPECT_THAT(plaintext_cli.err, HasSubstr("failed to connect")) << Describe(plaintext_cli);
  EXPECT_LT(plaintext_cli.elapsed, absl::Seconds(30)) << Describe(plaintext_cli);
  fs::remove_all(dir);
}

// Without a token a non-loopback --listen is refused (exit 2, message names
// --listen); with one the coordinator starts and serves.
TEST(AccessMultiProcessTest, NonLoopbackListenNeedsAToken) {
  const fs::path dir = FreshDir("smfg-access");
  const std::vector<std::string> argv = {SMFG_COORDINATOR_BIN, "--listen=0.0.0.0:0",
                                         "--data_dir=" + (dir / "data").string()};
  Child refused(argv, (dir / "refused.log").string(), /*capture_stdout=*/true);
  const int status = refused.Wait(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadAll((dir / "refused.log").string()), HasSubstr("--listen"));

  Child served(argv, (dir / "served.log").string(), /*capture_stdout=*/true,
               {std::string("SMFG_API_TOKEN=") + kApiToken});
  const std::string line = served.ReadLine(absl::Seconds(60));
  const std::string prefix = "listening on 0.0.0.0:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line << ReadAll((dir / "served.log").string());
  EXPECT_EQ(testing_util::HealthCheck("127.0.0.1:" + line.substr(prefix.size())), "SERVING");
  fs::remove_all(dir);
}

// Sends `bytes` as the raw request of unary method `method` (no protobuf
// encoding), as a broken or hostile peer could.
grpc::Status RawUnaryCall(const std::string& address, const std::string& method,
                          const std::string& bytes) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();  // bounded by the call's deadline
  return status;
}

grpc::Status SubmitSpecNamed(const std::string& address, std::string name) {
  v1::SubmitRequest request;
  request.mutable_spec()->set_name(std::move(name));
  request.set_idempotency_key("oversized");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::SubmitResponse response;
  return v1::ExperimentService::NewStub(
             grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))
      ->Submit(&context, request, &response);
}

constexpr int kMiB = 1 << 20;

// --max_message_mb=1: an oversized Submit or SubmitResult gets
// RESOURCE_EXHAUSTED, an unparseable SubmitResult INTERNAL; the coordinator
// stays healthy, keeps accepting valid requests, and a run in progress (the
// bad SubmitResults arrive between its outer iterations) is bit-identical to
// a local one.
TEST(AccessMultiProcessTest, OversizedAndMalformedRequestsAreRefusedWithoutHarm) {
  const fs::path dir = FreshDir("smfg-access");
  const std::string spec_path = WriteSmallSpec(dir, /*iterations=*/2, /*days=*/2);
  std::string address;
  std::unique_ptr<Child> coordinator = StartCoordinator(dir, {"--max_message_mb=1"}, &address);
  ASSERT_FALSE(address.empty()) << CoordinatorLog(dir);
  std::unique_ptr<Child> worker = StartWorker(dir, address, "worker", {});

  // (a) A spec larger than the limit, then a valid one.
  const grpc::Status oversized_submit = SubmitSpecNamed(address, std::string(2 * kMiB, 'x'));
  EXPECT_THAT(oversized_submit, StatusIs(absl::StatusCode::kResourceExhausted))
      << oversized_submit.error_message();
  const absl::StatusOr<std::string> id =
      testing_util::Submit(testing_util::Plain(address), spec_path, "valid");
  ASSERT_TRUE(id.ok()) << id.status();
  const absl::Status first_iteration =
      testing_util::WaitForFirstIteration(testing_util::Plain(address), *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration << CoordinatorLog(dir);

  // (b) Bytes that are no SubmitResultRequest: field 3 announces 127 bytes
  // that are missing, then a tag with the invalid wire type 7. The service
  // decodes requests itself (after the token check) and answers
  // INVALID_ARGUMENT naming the message type. The control: zero bytes are a
  // valid, empty request, which reaches the pool and gets its NOT_FOUND for
  // the unknown (empty) worker id.
  const std::string method = "/smfg.v1.WorkerService/SubmitResult";
  const grpc::Status garbage =
      RawUnaryCall(address, method, std::string("\x1a\x7f\x0f\xff\xff", 5));
  EXPECT_THAT(garbage,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       testing::HasSubstr("does not decode as smfg.v1.SubmitResultRequest")));
  const grpc::Status empty = RawUnaryCall(address, method, "");
  EXPECT_THAT(empty, StatusIs(absl::StatusCode::kNotFound)) << empty.error_message();

  // (c) A registered impostor sends a result larger than the limit.
  auto worker_stub =
      v1::WorkerService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::RegisterResponse registered;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::RegisterRequest request;
    request.set_name("impostor");
    ASSERT_TRUE(worker_stub->Register(&context, request, &registered).ok());
  }
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::SubmitResultRequest request;
    request.set_worker_id(registered.worker_id());
    request.set_work_id(1);
    v1::ShardResult* result = request.add_results();
    result->set_shard(0);
    // 2 MiB of doubles: net loads as a worker would send them, far too many.
    result->mutable_population()->mutable_net_load_kw()->Resize(2 * kMiB / sizeof(double), 1.0);
    v1::SubmitResultResponse response;
    const grpc::Status oversized_result = worker_stub->SubmitResult(&context, request, &response);
    EXPECT_THAT(oversized_result, StatusIs(absl::StatusCode::kResourceExhausted))
        << oversized_result.error_message();
  }

  EXPECT_EQ(testing_util::HealthCheck(address), "SERVING");
  std::string progress;
  const absl::Status watched =
      testing_util::WatchToEnd(testing_util::Plain(address), *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress << CoordinatorLog(dir);
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(progress, HasSubstr("outer   2"));
  ASSERT_TRUE(
      testing_util::DownloadResults(testing_util::Plain(address), *id, dir / "remote").ok());
  testing_util::TrainLocally(spec_path, dir / "local");
  const std::string local = ReadAll((dir / "local" / "comparison.json").string());
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()), local);
  EXPECT_EQ(ReadAll((dir / "remote" / "learned_tariff.json").string()),
            ReadAll((dir / "local" / "learned_tariff.json").string()));
  const int status = coordinator->Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  fs::remove_all(dir);
}

// The default limit (64 MiB) is above gRPC's own 4 MiB: a 5 MiB Submit gets
// past the transport and is refused by spec validation instead.
TEST(AccessMultiProcessTest, DefaultMessageLimitAdmitsMoreThanGrpcDefault) {
  const fs::path dir = FreshDir("smfg-access");
  std::string address;
  std::unique_ptr<Child> coordinator = StartCoordinator(dir, {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << CoordinatorLog(dir);
  const grpc::Status submitted = SubmitSpecNamed(address, std::string(5 * kMiB, 'x'));
  EXPECT_THAT(submitted, StatusIs(absl::StatusCode::kInvalidArgument))
      << submitted.error_message().substr(0, 200);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace smfg
