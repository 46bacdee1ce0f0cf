#include "coordinator/server.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/parallel.h"
#include "common/status.h"
#include "coordinator/access.h"
#include "coordinator/experiment_manager.h"
#include "coordinator/experiment_service.h"
#include "coordinator/experiment_store.h"
#include "coordinator/metrics_text.h"
#include "coordinator/remote_evaluator.h"
#include "coordinator/worker_pool.h"
#include "coordinator/worker_service.h"
#include "environment/population_evaluator.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "training/training_run.h"

namespace smfg::coordinator {

// Declared in the order they are built; destroyed in reverse.
struct CoordinatorServer::Parts {
  CoordinatorOptions options;
  std::unique_ptr<ExperimentStore> store;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<ExperimentManager> manager;
  std::unique_ptr<ExperimentServiceImpl> experiment_service;
  std::unique_ptr<WorkerServiceImpl> worker_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::unique_ptr<HttpServer> metrics_server;
  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
};

namespace {

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t{pages} * page : int64_t{8} << 30;
}

std::string MetricsText(ExperimentStore& store, WorkerPool& pool,
                        const ExperimentManager& manager) {
  CoordinatorMetrics metrics;
  for (ExperimentStatus s :
       {ExperimentStatus::kQueued, ExperimentStatus::kWaitingForWorkers, ExperimentStatus::kRunning,
        ExperimentStatus::kSucceeded, ExperimentStatus::kFailed, ExperimentStatus::kCancelled}) {
    metrics.experiments_by_status[std::string(ExperimentStatusName(s))] = 0;
  }
  absl::StatusOr<std::vector<ExperimentRecord>> records = store.List(std::nullopt, 0);
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
  const v1::EquilibriumEnds ends = manager.EquilibriumEndTotals();
  metrics.equilibria_converged = ends.converged();
  metrics.equilibria_stalled = ends.stalled();
  metrics.equilibria_out_of_iterations = ends.out_of_iterations();
  return FormatPrometheus(metrics);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const CoordinatorOptions& options) {
  SMFG_RETURN_IF_ERROR(options.Validate());
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  SMFG_ASSIGN_OR_RETURN(parts->store, ExperimentStore::Open(options.data_dir));

  WorkerPoolOptions pool_options;
  pool_options.heartbeat_timeout = absl::Milliseconds(options.heartbeat_timeout_ms);
  pool_options.heartbeat_interval =
      std::min(pool_options.heartbeat_interval, pool_options.heartbeat_timeout / 5);
  parts->pool = std::make_unique<WorkerPool>(pool_options);
  WorkerPool* pool = parts->pool.get();

  ExperimentManagerParams params;
  params.store = parts->store.get();
  params.max_concurrent = options.max_concurrent;
  params.memory_budget_bytes = options.memory_budget_mb > 0
                                   ? options.memory_budget_mb * (int64_t{1} << 20)
                                   : PhysicalMemoryBytes() / 4 * 3;
  params.population_in_process = options.local_threads > 0;
  params.market_threads = ResolveThreads(options.market_threads);
  if (options.local_threads > 0) {
    params.evaluator_factory =
        [threads = options.local_threads](
            const std::string&, const env::Scenario& sc,
            std::function<void()>) -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      return training::MakeLocalEvaluator(sc, threads);
    };
  } else {
    params.evaluator_factory = [pool, wait = absl::Seconds(options.worker_wait_timeout_s)](
                                   const std::string& id, const env::Scenario& sc,
                                   std::function<void()> on_waiting)
        -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      RemoteEvaluatorOptions o;
      o.experiment_id = id;
      o.on_waiting_for_workers = std::move(on_waiting);
      o.worker_wait_timeout = wait;
      if (sc.follower.learner == env::FollowerParams::Learner::kPpo) {
        // Learning followers: gradients on the workers, Adam here.
        SMFG_ASSIGN_OR_RETURN(const std::vector<double> initial,
                              followers::InitialFollowerParameters(sc));
        auto backend = std::make_unique<RemoteFollowerBackend>(
            pool, sc, static_cast<int64_t>(initial.size()), o);
        SMFG_ASSIGN_OR_RETURN(
            std::unique_ptr<followers::LearningPopulationEvaluator> learning,
            followers::LearningPopulationEvaluator::Create(sc, std::move(backend)));
        return std::unique_ptr<env::PopulationEvaluator>(std::move(learning));
      }
      return std::make_unique<RemotePopulationEvaluator>(pool, sc, o);
    };
    params.live_workers = [pool] { return pool->LiveWorkers(); };
  }
  params.on_shutdown = [pool] { pool->Shutdown(); };
  params.on_cancel = [pool](const std::string& id) { pool->CancelJobs(id); };
  const int64_t budget_mb = params.memory_budget_bytes >> 20;
  SMFG_ASSIGN_OR_RETURN(parts->manager, ExperimentManager::Create(std::move(params)));

  parts->experiment_service = std::make_unique<ExperimentServiceImpl>(
      parts->manager.get(), BearerTokenCheck(options.api_token));
  parts->worker_service =
      std::make_unique<WorkerServiceImpl>(pool, BearerTokenCheck(options.cluster_token));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  SMFG_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                        MakeServerCredentials(options.tls_cert, options.tls_key));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &parts->port);
  builder.SetMaxReceiveMessageSize(options.max_message_mb << 20);
  // Accept the workers' keepalive pings (every 10 s, also during long polls
  // that carry no data) instead of answering them with GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(parts->experiment_service.get());
  builder.RegisterService(parts->worker_service.get());
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || parts->port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", options.listen));
  }
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer(std::move(parts)));
  Parts& p = *server->parts_;
  if (options.metrics_port >= 0) {
    ExperimentStore* store = p.store.get();
    const ExperimentManager* manager = p.manager.get();
    absl::StatusOr<std::unique_ptr<HttpServer>> metrics = HttpServer::Start(
        options.metrics_host, options.metrics_port,
        {{"/metrics", [store, pool, manager] { return MetricsText(*store, *pool, *manager); }}});
    if (!metrics.ok()) return Annotate(metrics.status(), "--metrics_port");
    p.metrics_server = *std::move(metrics);
  }
  std::fprintf(stderr,
               "smfg-coordinator: data in %s (store %s), up to %d experiment(s) at once, %s, "
               "memory budget per experiment %lld MiB\n",
               options.data_dir.c_str(), p.store->incarnation().c_str(), options.max_concurrent,
               options.local_threads > 0 ? "local evaluation" : "evaluation on workers",
               static_cast<long long>(budget_mb));
  p.manager->Start();
  return server;
}

CoordinatorServer::CoordinatorServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

std::string CoordinatorServer::address() const {
  const std::string& listen = parts_->options.listen;
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", parts_->port);
}

int CoordinatorServer::port() const { return parts_->port; }

int CoordinatorServer::metrics_port() const {
  return parts_->metrics_server == nullptr ? -1 : parts_->metrics_server->port();
}

void CoordinatorServer::Shutdown() {
  {
    absl::MutexLock lock(&parts_->mu);
    if (parts_->shut_down) return;
    parts_->shut_down = true;
  }
  // Runs stop first (their status stays, so a restart resumes them); then the
  // server, whose Watch streams and long polls have been woken by then.
  parts_->manager->Shutdown();
  parts_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  parts_->server->Wait();
  if (parts_->metrics_server != nullptr) parts_->metrics_server->Stop();
}

}  // namespace smfg::coordinator
