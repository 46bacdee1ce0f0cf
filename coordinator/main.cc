// smfg-coordinator: the experiment API and the worker registry on one port.
//
//   smfg-coordinator [--listen 127.0.0.1:0] [--data_dir smfg-data]
//                    [--max_concurrent 1] [--heartbeat_timeout_ms 15000]
//                    [--worker_wait_timeout_s 3600] [--local_threads 0]
//                    [--market_threads 0]
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
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/allocator.h"
#include "common/token.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "HOST:PORT to serve on; port 0: any free port.");
ABSL_FLAG(std::string, data_dir, "smfg-data", "Experiment store and checkpoints.");
ABSL_FLAG(int, max_concurrent, 1, "Experiments run at once.");
ABSL_FLAG(int, heartbeat_timeout_ms, 15000, "A worker silent this long is dead.");
ABSL_FLAG(int, worker_wait_timeout_s, 3600,
          "A run fails after waiting this long with no live worker.");
ABSL_FLAG(int, local_threads, 0,
          "> 0: evaluate populations in this process with N threads instead of on workers.");
ABSL_FLAG(int, market_threads, 0,
          "Threads clearing each run's market (0: all cores); the results do not depend on it.");
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
ABSL_FLAG(int64_t, memory_budget_mb, 0,
          "Refuse at submit a spec estimated to need more memory than this, MiB (0: three "
          "quarters of this machine's memory); the estimate is in the error.");
ABSL_FLAG(int, shutdown_timeout_s, 30,
          "After SIGTERM/SIGINT, exit without waiting further once stopping has taken this "
          "long (the store and checkpoints are crash-safe); a second signal exits at once.");
ABSL_FLAG(int, max_message_mb, 64,
          "Largest request the coordinator accepts, MiB (1..2047); larger ones get "
          "RESOURCE_EXHAUSTED.");

namespace {

// Blocks until SIGINT or SIGTERM, which every thread has blocked (so this
// thread takes it synchronously); returns the signal.
int WaitForStopSignal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts (common/allocator.h); speed only.
  smfg::RetainFreedHeapMemory();
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
  options.market_threads = absl::GetFlag(FLAGS_market_threads);
  options.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  options.max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  options.memory_budget_mb = absl::GetFlag(FLAGS_memory_budget_mb);
  options.shutdown_timeout_s = absl::GetFlag(FLAGS_shutdown_timeout_s);
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
  // Signals are taken synchronously by this thread; blocked before any thread
  // starts so that all inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<std::unique_ptr<smfg::coordinator::CoordinatorServer>> server =
      smfg::coordinator::CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "smfg-coordinator: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("listening on %s\n", (*server)->address().c_str());
  if ((*server)->metrics_port() >= 0) {
    std::printf("metrics on %s:%d\n", options.metrics_host.c_str(), (*server)->metrics_port());
  }
  std::fflush(stdout);
  const int received = WaitForStopSignal(signals);
  std::fprintf(stderr, "smfg-coordinator: signal %d, stopping\n", received);
  // Stopping waits for runs to reach an iteration boundary and for calls in
  // flight; a watchdog bounds it, and a second signal ends it at once.
  std::thread watchdog([&signals, timeout = options.shutdown_timeout_s] {
    timespec wait{timeout, 0};
    const int again = sigtimedwait(&signals, nullptr, &wait);
    std::fprintf(stderr,
                 again > 0 ? "smfg-coordinator: second signal %d; exiting now\n"
                           : "smfg-coordinator: still stopping after %d s; exiting without waiting "
                             "(the store and checkpoints are crash-safe; runs resume on restart)\n",
                 again > 0 ? again : timeout);
    std::fflush(stderr);
    _exit(again > 0 ? 130 : 1);
  });
  watchdog.detach();
  (*server)->Shutdown();
  return 0;
}
