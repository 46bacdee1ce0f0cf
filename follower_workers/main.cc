// smfg-worker: computes shards for a coordinator.
//
//   smfg-worker --coordinator HOST:PORT [--threads N] [--name NAME]
//               [--token_file FILE] [--tls_ca FILE]
//   smfg-worker --help | -h      (full usage on stdout, exit status 0)
//
// The cluster token (--token_file, default $SMFG_CLUSTER_TOKEN) is sent as
// "authorization: Bearer <token>" with every call.
//
// The coordinator's address is all a worker needs (DESIGN §3), so
// `docker compose up --scale worker=N` works. SIGINT/SIGTERM stop it cleanly.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/allocator.h"
#include "common/token.h"
#include "follower_workers/worker_client.h"
#include "grpcpp/grpcpp.h"

namespace smfg::workers {
namespace {

// Printed by --help (stdout, exit 0) and after a usage error (stderr, exit 2).
// Lists every flag and environment variable: tests/deployment_flags_test.cc
// checks the deployment files against it.
constexpr char kUsage[] =
    "usage: smfg-worker --coordinator HOST:PORT [--threads N] [--name NAME]\n"
    "                   [--token_file FILE] [--tls_ca FILE]\n"
    "Registers with an smfg-coordinator and computes the shards it is given.\n"
    "Flags (--flag VALUE or --flag=VALUE):\n"
    "  --coordinator HOST:PORT  the coordinator's address (required)\n"
    "  --threads N              shards computed at once, in [1, 1024] (default: 1)\n"
    "  --name NAME              name shown in the coordinator's metrics\n"
    "                           (default: HOSTNAME-PID)\n"
    "  --token_file FILE        file holding the cluster bearer token sent to the\n"
    "                           coordinator (default: $SMFG_CLUSTER_TOKEN)\n"
    "  --tls_ca FILE            PEM CA certificate(s): connect with TLS trusting them\n"
    "                           (default: plaintext)\n"
    "  --help, -h               print this help and exit\n"
    "Environment:\n"
    "  SMFG_CLUSTER_TOKEN       cluster bearer token, used when --token_file is not\n"
    "                           given (neither: no token is sent)\n"
    "SIGINT/SIGTERM stop the worker cleanly.\n";

struct Options {
  bool help = false;        // --help / -h: print kUsage and exit 0
  std::string coordinator;  // HOST:PORT
  int threads = 1;
  std::string name;        // default: host name and pid
  std::string token_file;  // default: $SMFG_CLUSTER_TOKEN
  std::string tls_ca;      // PEM roots: connect with TLS; empty: plaintext

  absl::Status Validate() const {
    if (coordinator.empty()) return absl::InvalidArgumentError("--coordinator: required");
    if (coordinator.find(':') == std::string::npos) {
      return absl::InvalidArgumentError("--coordinator: expected HOST:PORT, got '" + coordinator +
                                        "'");
    }
    if (threads < 1 || threads > 1024) {
      return absl::InvalidArgumentError(absl::StrCat("--threads: ", threads, " not in [1, 1024]"));
    }
    return absl::OkStatus();
  }
};

absl::Status ParseFlags(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    std::string value;
    std::string name = flag;
    const size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      name = flag.substr(0, eq);
      value = flag.substr(eq + 1);
    } else if (flag == "--coordinator" || flag == "--threads" || flag == "--name" ||
               flag == "--token_file" || flag == "--tls_ca") {
      if (i + 1 >= argc) return absl::InvalidArgumentError(flag + ": missing value");
      value = argv[++i];
    }
    if (name == "--coordinator") {
      options->coordinator = value;
    } else if (name == "--threads") {
      if (!absl::SimpleAtoi(value, &options->threads)) {
        return absl::InvalidArgumentError("--threads: not an integer: '" + value + "'");
      }
    } else if (name == "--name") {
      options->name = value;
    } else if (name == "--token_file") {
      options->token_file = value;
    } else if (name == "--tls_ca") {
      options->tls_ca = value;
    } else if (name == "--help" || name == "-h") {
      options->help = true;
    } else {
      return absl::InvalidArgumentError("unknown flag '" + flag + "'");
    }
  }
  if (options->name.empty()) {
    char host[HOST_NAME_MAX + 1] = {};
    gethostname(host, sizeof(host) - 1);
    options->name = absl::StrCat(host, "-", getpid());
  }
  return absl::OkStatus();
}

absl::Status RunWorker(const Options& options) {
  // Signals are taken synchronously by one thread, so Stop() never runs in a
  // signal handler. Blocked before any thread starts so all inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  WorkerClientOptions client_options;
  client_options.name = options.name;
  client_options.threads = options.threads;
  absl::StatusOr<std::string> token = LoadToken(options.token_file, "SMFG_CLUSTER_TOKEN");
  if (!token.ok()) return token.status();
  client_options.token = *token;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    absl::StatusOr<std::string> pem = LoadPemFile(options.tls_ca, "--tls_ca");
    if (!pem.ok()) return pem.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *pem;
    credentials = grpc::SslCredentials(ssl);
  }
  // Keepalive pings detect a connection that died silently (a network
  // partition, or the worker's address changing while it was cut off), so the
  // channel reconnects instead of timing out on a dead socket until TCP gives up.
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  channel_args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  channel_args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A work item carries the whole scenario the first time; the coordinator is
  // trusted to bound it.
  channel_args.SetMaxReceiveMessageSize(-1);
  WorkerClient client(grpc::CreateCustomChannel(options.coordinator, credentials, channel_args),
                      client_options);
  std::thread signal_thread([&] {
    int received = 0;
    sigwait(&signals, &received);
    std::fprintf(stderr, "smfg-worker: signal %d, stopping\n", received);
    client.Stop();
  });
  std::fprintf(stderr, "smfg-worker %s: serving coordinator %s with %d thread(s)\n",
               options.name.c_str(), options.coordinator.c_str(), options.threads);
  const absl::Status status = client.Run();
  // Run() returns only after Stop(), which only the signal thread calls, so
  // that thread has finished waiting.
  signal_thread.join();
  return status;
}

}  // namespace
}  // namespace smfg::workers

int main(int argc, char** argv) {
  // Before any thread starts (common/allocator.h); speed only.
  smfg::RetainFreedHeapMemory();
  smfg::workers::Options options;
  absl::Status status = smfg::workers::ParseFlags(argc, argv, &options);
  if (status.ok() && options.help) {
    std::fputs(smfg::workers::kUsage, stdout);
    return 0;
  }
  if (status.ok()) status = options.Validate();
  if (!status.ok()) {
    std::fprintf(stderr, "smfg-worker: %s\n%s", std::string(status.message()).c_str(),
                 smfg::workers::kUsage);
    return 2;
  }
  status = smfg::workers::RunWorker(options);
  if (!status.ok()) {
    std::fprintf(stderr, "smfg-worker: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
