// smfg-coordinator: the experiment API and the worker registry on one port.
//
//   smfg-coordinator [--listen 127.0.0.1:0] [--data_dir smfg-data]
//                    [--max_concurrent 1] [--heartbeat_timeout_ms 15000]
//                    [--worker_wait_timeout_s 3600] [--local_threads 0]
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
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "coordinator/experiment_service.h"
#include "coordinator/experiment_store.h"
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

namespace smfg::coordinator {
namespace {

struct Options {
  std::string listen;
  std::string data_dir;
  int max_concurrent = 1;
  int heartbeat_timeout_ms = 15000;
  int worker_wait_timeout_s = 3600;
  int local_threads = 0;

  absl::Status Validate() const {
    if (listen.rfind(':') == std::string::npos) {
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
    return absl::OkStatus();
  }
};

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
    params.evaluator_factory = [threads = options.local_threads](const std::string&,
                                                                 const env::Scenario& sc)
        -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      return std::make_unique<env::LocalPopulationEvaluator>(sc, threads);
    };
  } else {
    params.evaluator_factory = [&pool, &options](const std::string& id, const env::Scenario& sc)
        -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      RemoteEvaluatorOptions o;
      o.experiment_id = id;
      o.worker_wait_timeout = absl::Seconds(options.worker_wait_timeout_s);
      return std::make_unique<RemotePopulationEvaluator>(&pool, sc, o);
    };
    params.live_workers = [&pool] { return pool.LiveWorkers(); };
  }
  params.on_shutdown = [&pool] { pool.Shutdown(); };
  absl::StatusOr<std::unique_ptr<ExperimentManager>> manager =
      ExperimentManager::Create(std::move(params));
  if (!manager.ok()) return manager.status();

  ExperimentServiceImpl experiment_service(manager->get());
  WorkerServiceImpl worker_service(&pool);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&experiment_service);
  builder.RegisterService(&worker_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", options.listen));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
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
  return absl::OkStatus();
}

}  // namespace
}  // namespace smfg::coordinator

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("smfg-coordinator [--listen HOST:PORT] [--data_dir DIR] ...");
  absl::ParseCommandLine(argc, argv);
  smfg::coordinator::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.max_concurrent = absl::GetFlag(FLAGS_max_concurrent);
  options.heartbeat_timeout_ms = absl::GetFlag(FLAGS_heartbeat_timeout_ms);
  options.worker_wait_timeout_s = absl::GetFlag(FLAGS_worker_wait_timeout_s);
  options.local_threads = absl::GetFlag(FLAGS_local_threads);
  absl::Status status = options.Validate();
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
