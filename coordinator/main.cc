// smfg-coordinator: the experiment API and the worker registry on one port.
//
//   smfg-coordinator [--listen 127.0.0.1:0] [--data_dir smfg-data]
//                    [--max_concurrent 1] [--heartbeat_timeout_ms 15000]
//                    [--worker_wait_timeout_s 3600] [--local_threads 0]
//                    [--api_token_file F] [--cluster_token_file F]
//                    [--allow_insecure_remote] [--metrics_port -1]
//                    [--metrics_host 127.0.0.1]
//                    [--tls_cert F --tls_key F] [--max_message_mb 64]
//
// Access (docs/OPERATIONS.md "Securing the cluster"): with an API token
// (--api_token_file or $SMFG_API_TOKEN) every ExperimentService call must
// carry "authorization: Bearer <token>"; with a cluster token
// (--cluster_token_file or $SMFG_CLUSTER_TOKEN) every WorkerService call.
// Health checking and reflection stay open. Without any token the coordinator
// refuses a non-loopback --listen unless --allow_insecure_remote is given.
// A request larger than --max_message_mb is refused with RESOURCE_EXHAUSTED
// before it is parsed (gRPC's own default would be 4 MiB).
// --metrics_port >= 0 serves Prometheus text on http://METRICS_HOST:PORT/metrics
// (0: any free port, printed as "metrics on HOST:PORT" on stdout).
//
// Serves smfg.v1.ExperimentService and smfg.v1.WorkerService, gRPC health
// checking and server reflection. Prints "listening on HOST:PORT" on stdout
// once it accepts connections (with --listen HOST:0 the port is chosen by the
// OS). Experiments left RUNNING by a previous coordinator on the same data
// directory are resumed from their checkpoints. SIGINT/SIGTERM stop it cleanly:
// runs stop at the next iteration boundary, keep their status and resume on
// the next start.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/status.h"
#include "common/token.h"
#include "coordinator/access.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/experiment_service.h"
#include "coordinator/experiment_store.h"
#include "coordinator/metrics_text.h"
#include "coordinator/remote_evaluator.h"
#include "coordinator/worker_pool.h"
#include "environment/population_evaluator.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HOST:PORT to serve on; port 0: any free port.");
ABSL_FLAG(std::string, data_dir, "smfg-data", "Experiment store and checkpoints.");
ABSL_FLAG(int, max_concurrent, 1, "Experiments run at once.");
ABSL_FLAG(int, heartbeat_timeout_ms, 15000, "A worker silent this long is dead.");
ABSL_FLAG(int, worker_wait_timeout_s, 3600,
          "A run fails after waiting this long with no live worker.");
ABSL_FLAG(int, local_threads, 0,
          "> 0: evaluate populations in this process with N threads instead of on workers.");
ABSL_FLAG(std::string, api_token_file, "",
          "File holding the bearer token clients must send to the ExperimentService "
          "(default: $SMFG_API_TOKEN; neither: no token needed).");
ABSL_FLAG(std::string, cluster_token_file, "",
          "File holding the bearer token workers must send to the WorkerService "
          "(default: $SMFG_CLUSTER_TOKEN; neither: no token needed).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS instead of plaintext (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "Allow a non-loopback --listen although no token is configured.");
ABSL_FLAG(int, metrics_port, -1,
          "Serve Prometheus metrics on http://127.0.0.1:PORT/metrics; 0: any free port "
          "(printed on stdout); -1: off.");
ABSL_FLAG(std::string, metrics_host, "127.0.0.1",
          "Address the metrics endpoint binds to (0.0.0.0 in a container, so that a "
          "scraper on another host can reach it).");
// 64 MiB: far above the specs and worker results of the configs/ experiments
// (those of three_bus_small fit in 1 MiB, see tests/access_multiprocess_test.cc)
// and above gRPC's 4 MiB default, yet a bound on what one call can make the
// server allocate.
ABSL_FLAG(int, max_message_mb, 64,
          "Largest request the coordinator accepts, MiB (1..2047); larger ones get "
          "RESOURCE_EXHAUSTED.");

namespace smfg::coordinator {
namespace {

using Options = CoordinatorOptions;

absl::Status Run(const Options& options) {
  // Signals are taken synchronously by one thread; blocked before any thread
  // starts so that all inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<ExperimentStore>> store = ExperimentStore::Open(options.data_dir);
  if (!store.ok()) return store.status();

  WorkerPoolOptions pool_options;
  pool_options.heartbeat_timeout = absl::Milliseconds(options.heartbeat_timeout_ms);
  pool_options.heartbeat_interval =
      std::min(pool_options.heartbeat_interval, pool_options.heartbeat_timeout / 5);
  WorkerPool pool(pool_options);

  ExperimentManagerParams params;
  params.store = store->get();
  params.max_concurrent = options.max_concurrent;
  if (options.local_threads > 0) {
    params.evaluator_factory =
        [threads = options.local_threads](
            const std::string&, const env::Scenario& sc,
            std::function<void()>) -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      return std::make_unique<env::LocalPopulationEvaluator>(sc, threads);
    };
  } else {
    params.evaluator_factory = [&pool, &options](const std::string& id, const env::Scenario& sc,
                                                 std::function<void()> on_waiting)
        -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      RemoteEvaluatorOptions o;
      o.experiment_id = id;
      o.on_waiting_for_workers = std::move(on_waiting);
      o.worker_wait_timeout = absl::Seconds(options.worker_wait_timeout_s);
      return std::make_unique<RemotePopulationEvaluator>(&pool, sc, o);
    };
    params.live_workers = [&pool] { return pool.LiveWorkers(); };
  }
  params.on_shutdown = [&pool] { pool.Shutdown(); };
  absl::StatusOr<std::unique_ptr<ExperimentManager>> manager =
      ExperimentManager::Create(std::move(params));
  if (!manager.ok()) return manager.status();

  ExperimentServiceImpl experiment_service(manager->get(), BearerTokenCheck(options.api_token));
  WorkerServiceImpl worker_service(&pool, BearerTokenCheck(options.cluster_token));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls_cert, options.tls_key);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_mb << 20);
  // Accept the workers' keepalive pings (every 10 s, also during long polls
  // that carry no data) instead of answering them with GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(&experiment_service);
  builder.RegisterService(&worker_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", options.listen));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  std::unique_ptr<HttpServer> metrics_server;
  if (options.metrics_port >= 0) {
    ExperimentManager* m = manager->get();
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        options.metrics_host, options.metrics_port,
        {{"/metrics", [m, &pool] {
            CoordinatorMetrics metrics;
            for (ExperimentStatus s :
                 {ExperimentStatus::kQueued, ExperimentStatus::kWaitingForWorkers,
                  ExperimentStatus::kRunning, ExperimentStatus::kSucceeded,
                  ExperimentStatus::kFailed, ExperimentStatus::kCancelled}) {
              metrics.experiments_by_status[std::string(ExperimentStatusName(s))] = 0;
            }
            absl::StatusOr<std::vector<ExperimentRecord>> records = m->List(std::nullopt, 0);
            if (records.ok()) {
              for (const ExperimentRecord& r : *records) {
                ++metrics.experiments_by_status[std::string(ExperimentStatusName(r.status))];
                metrics.outer_iterations_completed += std::max<int64_t>(r.outer_iteration, 0);
              }
            }
            metrics.live_workers = pool.LiveWorkers();
            metrics.worker_waits = pool.worker_waits();
            metrics.workers = pool.Workers();
            metrics.pool = pool.Totals();
            return FormatPrometheus(metrics);
          }}});
    if (!started.ok()) {
      server->Shutdown(std::chrono::system_clock::now());
      (*manager)->Shutdown();
      return Annotate(started.status(), "--metrics_port");
    }
    metrics_server = *std::move(started);
    std::printf("metrics on %s:%d\n", options.metrics_host.c_str(), metrics_server->port());
    std::fflush(stdout);
  }
  std::fprintf(stderr, "smfg-coordinator: data in %s, up to %d experiment(s) at once, %s\n",
               options.data_dir.c_str(), options.max_concurrent,
               options.local_threads > 0 ? "local evaluation" : "evaluation on workers");
  (*manager)->Start();

  int received = 0;
  sigwait(&signals, &received);
  std::fprintf(stderr, "smfg-coordinator: signal %d, stopping\n", received);
  // Runs stop first (their status stays, so a restart resumes them); then the
  // server, whose Watch streams and long polls have been woken by then.
  (*manager)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  if (metrics_server != nullptr) metrics_server->Stop();
  return absl::OkStatus();
}

}  // namespace
}  // namespace smfg::coordinator

int main(int argc, char** argv) {
  // --help lists the flags defined in this file (absl only lists a file
  // named after the binary by default).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "coordinator/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage("smfg-coordinator [--listen HOST:PORT] [--data_dir DIR] ...");
  absl::ParseCommandLine(argc, argv);
  smfg::coordinator::CoordinatorOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.max_concurrent = absl::GetFlag(FLAGS_max_concurrent);
  options.heartbeat_timeout_ms = absl::GetFlag(FLAGS_heartbeat_timeout_ms);
  options.worker_wait_timeout_s = absl::GetFlag(FLAGS_worker_wait_timeout_s);
  options.local_threads = absl::GetFlag(FLAGS_local_threads);
  options.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  options.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  absl::StatusOr<std::string> api_token =
      smfg::LoadToken(absl::GetFlag(FLAGS_api_token_file), "SMFG_API_TOKEN");
  absl::StatusOr<std::string> cluster_token =
      smfg::LoadToken(absl::GetFlag(FLAGS_cluster_token_file), "SMFG_CLUSTER_TOKEN");
  absl::Status status = !api_token.ok() ? api_token.status() : cluster_token.status();
  if (!status.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  options.api_token = *api_token;
  options.cluster_token = *cluster_token;
  status = options.Validate();
  if (!status.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  status = smfg::coordinator::Run(options);
  if (!status.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
