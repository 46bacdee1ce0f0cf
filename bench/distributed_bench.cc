// Distributed population work on loopback with N real smfg-worker processes:
// wall time of one timed iteration, its split into worker compute,
// communication and barrier wait (env::EvaluatorCounters, defined in
// environment/population_evaluator.h), bytes per iteration to and from the
// workers, and strong-scaling efficiency. The mode follows the spec's
// scenario.follower.learner:
//  * exact followers (FOLLOWER_LEARNER_EXACT, the default): one iteration is
//    one population evaluation (PopulationEvaluator::Evaluate, one WorkerPool
//    job over every shard). The baseline is env::LocalPopulationEvaluator
//    with one thread in this process, N workers a
//    coordinator::RemotePopulationEvaluator. Also measured: the coordinator's
//    shard-order reduce, and the recovery time after a worker is SIGKILLed in
//    the middle of an evaluation (--recovery).
//  * learning followers (FOLLOWER_LEARNER_PPO, issue 11): one iteration is
//    one PPO phase, followers::LearningPopulationEvaluator::TrainPhase
//    (episodes sampled on every shard, then epochs_per_phase gradient rounds,
//    each one WorkerPool job over all shards plus one Adam step here). The
//    baseline is a LearningPopulationEvaluator over the local backend with one
//    thread, N workers one over a coordinator::RemoteFollowerBackend. After
//    every round all configurations have trained the same phases, and their
//    parameters must be the same bits as the local baseline's (memcmp); a
//    mismatch is printed and makes the exit status 1. Recovery is not measured
//    in this mode (--recovery is ignored).
// Both modes use the same flat 0.15 $/kWh tariff and constant 40 $/MWh belief.
//
//   build/bench/distributed_bench [--workers=1,2,4] [--iterations K] [--warmup W]
//                                 [--days D] [--spec PATH] [--worker_bin PATH]
//                                 [--recovery=true|false]
// Learning mode, e.g.:
//   build/bench/distributed_bench --spec configs/three_bus_ppo.textproto
//                                 --workers=1,2,4 --iterations 3 --recovery=false
// Configurations are measured in interleaved rounds (local, 1, 2, 4 workers,
// local, ...) so that load from other processes hits them alike.
// Defaults: 1,2,4 workers, 7 timed iterations after 2 warm-up ones,
// configs/three_bus.textproto (24,000 households, 16 shards) cut to 6 days;
// --days overrides the spec's days (default: 6 for exact followers, the spec's
// own for learning ones, e.g. three_bus_ppo's 480 households x 5 days). Each
// worker runs `smfg-worker --threads 1`. Progress goes to stderr, the tables
// to stdout; worker logs to $TMPDIR/smfg-distributed-bench-PID/.
//
// Not a Google Benchmark: it owns child processes (all SIGKILLed at exit, and
// they die with this process through PR_SET_PDEATHSIG) and reports one table.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "config/spec_convert.h"
#include "config/spec_loader.h"
#include "coordinator/remote_evaluator.h"
#include "coordinator/worker_pool.h"
#include "coordinator/worker_service.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "followers/learning_evaluator.h"
#include "grpcpp/grpcpp.h"

namespace smfg::bench {
namespace {

struct Options {
  std::vector<int> workers = {1, 2, 4};
  int iterations = 7;
  int warmup = 2;
  int days = 0;  // 0: 6 for exact followers, the spec's own for learning ones
  std::string spec = std::string(SMFG_SOURCE_DIR) + "/configs/three_bus.textproto";
  std::string worker_bin = SMFG_WORKER_BIN;
  bool recovery = true;
};

absl::Status ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string name = argv[i], value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    bool ok = true;
    if (name == "--workers") {
      o->workers.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        ok = ok && absl::SimpleAtoi(part, &n) && n >= 1;
        o->workers.push_back(n);
      }
    } else if (name == "--iterations") {
      ok = absl::SimpleAtoi(value, &o->iterations) && o->iterations >= 1;
    } else if (name == "--warmup") {
      ok = absl::SimpleAtoi(value, &o->warmup) && o->warmup >= 0;
    } else if (name == "--days") {
      ok = absl::SimpleAtoi(value, &o->days) && o->days >= 1;
    } else if (name == "--spec") {
      o->spec = value;
    } else if (name == "--worker_bin") {
      o->worker_bin = value;
    } else if (name == "--recovery") {
      ok = absl::SimpleAtob(value, &o->recovery);
    } else {
      return absl::InvalidArgumentError("unknown flag '" + name + "'");
    }
    if (!ok) return absl::InvalidArgumentError(name + ": bad value '" + value + "'");
  }
  return absl::OkStatus();
}

// Every child ever started, for the exit and signal paths (signal-safe reads).
constexpr int kMaxChildren = 64;
volatile pid_t g_children[kMaxChildren];
volatile int g_child_count = 0;

void KillAllChildren() {
  for (int i = 0; i < g_child_count; ++i) {
    if (g_children[i] > 0) kill(g_children[i], SIGKILL);
  }
}

void OnSignal(int) {
  KillAllChildren();
  _exit(130);
}

// One smfg-worker process; SIGKILLed and reaped by the destructor.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& bin, const std::string& address, const std::string& name,
                const std::string& log) {
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      const char* argv[] = {bin.c_str(), "--coordinator", address.c_str(), "--threads",
                            "1",         "--name",        name.c_str(),    nullptr};
      execv(bin.c_str(), const_cast<char* const*>(argv));
      _exit(127);
    }
    if (pid_ > 0 && g_child_count < kMaxChildren) g_children[g_child_count++] = pid_;
  }
  ~WorkerProcess() { Kill(); }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    for (int i = 0; i < g_child_count; ++i) {
      if (g_children[i] == pid_) g_children[i] = -1;
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// A WorkerPool behind a gRPC server on 127.0.0.1:0, and N worker processes.
class Cluster {
 public:
  Cluster(const Options& o, int workers, coordinator::WorkerPoolOptions pool_options,
          const std::filesystem::path& log_dir)
      : pool_(pool_options), service_(&pool_) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port <= 0) return;
    const std::string address = absl::StrCat("127.0.0.1:", port);
    for (int i = 0; i < workers; ++i) {
      const std::string name = absl::StrCat("bench-w", i);
      processes_.push_back(std::make_unique<WorkerProcess>(o.worker_bin, address, name,
                                                           (log_dir / (name + ".log")).string()));
    }
  }
  ~Cluster() {
    processes_.clear();  // kill the workers before the pool goes away
    pool_.Shutdown();
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  }
  bool Ready(int workers) {
    return server_ != nullptr && pool_.WaitForLiveWorkers(workers, absl::Seconds(60));
  }
  coordinator::WorkerPool& pool() { return pool_; }
  WorkerProcess& process(int i) { return *processes_[i]; }

 private:
  coordinator::WorkerPool pool_;
  coordinator::WorkerServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<WorkerProcess>> processes_;
};

// Other processes share the cores: the load average says how much.
void PrintLoad(const char* when) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    std::printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// Per-iteration figures of one configuration.
struct Row {
  Row(std::string label, int workers) : label(std::move(label)), workers(workers) {}
  std::string label;
  int workers;  // 0: local
  std::vector<double> wall, compute, communication, barrier;
  std::vector<double> bytes_to, bytes_from;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// What one iteration of configuration i does: one population evaluation or
// one PPO phase.
using Step = std::function<absl::Status(size_t i)>;

// Evaluate(tariff, belief) on evaluators[i].
Step EvaluateStep(const std::vector<env::PopulationEvaluator*>& evaluators,
                  const env::Tariff& tariff, const env::PriceBelief& belief) {
  return [&evaluators, &tariff, &belief](size_t i) {
    return evaluators[i]->Evaluate(tariff, belief).status();
  };
}

// Call number `k` (0-based; the first o.warmup calls are not recorded) of
// configuration i, whose counters are `evaluator`'s.
absl::Status MeasureOnce(const env::PopulationEvaluator& evaluator, const Step& step, size_t i,
                         const Options& o, int k, Row* row) {
  const env::EvaluatorCounters before = evaluator.Counters();
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = step(i);
  const double wall = Seconds(start);
  if (!status.ok()) return status;
  const env::EvaluatorCounters after = evaluator.Counters();
  const bool timed = k >= o.warmup;
  std::fprintf(stderr, "  %-9s %s %d: %.3f s\n", row->label.c_str(),
               timed ? "iteration" : "warm-up", timed ? k - o.warmup + 1 : k + 1, wall);
  if (!timed) return absl::OkStatus();
  row->wall.push_back(wall);
  row->compute.push_back(after.compute_seconds - before.compute_seconds);
  row->communication.push_back(after.communication_seconds - before.communication_seconds);
  row->barrier.push_back(after.barrier_seconds - before.barrier_seconds);
  row->bytes_to.push_back(static_cast<double>(after.bytes_sent - before.bytes_sent));
  row->bytes_from.push_back(static_cast<double>(after.bytes_received - before.bytes_received));
  return absl::OkStatus();
}

// o.warmup + o.iterations steps of each configuration, in interleaved rounds
// so that load from other processes on the machine hits every configuration
// alike. `after_round(k)`, if set, runs after round k (0-based).
absl::Status MeasureInterleaved(const std::vector<env::PopulationEvaluator*>& evaluators,
                                const Step& step, const Options& o, std::vector<Row>* rows,
                                const std::function<void(int)>& after_round = nullptr) {
  for (int k = 0; k < o.warmup + o.iterations; ++k) {
    for (size_t i = 0; i < evaluators.size(); ++i) {
      SMFG_RETURN_IF_ERROR(MeasureOnce(*evaluators[i], step, i, o, k, &(*rows)[i]));
    }
    if (after_round) after_round(k);
  }
  return absl::OkStatus();
}

// `iteration` names one timed iteration in the footnote.
void PrintTable(const std::vector<Row>& rows, const char* iteration) {
  const Row* local = nullptr;
  const Row* one = nullptr;
  for (const Row& r : rows) {
    if (r.workers == 0) local = &r;
    if (r.workers == 1) one = &r;
  }
  std::printf("\n%-10s %8s %8s %8s | %8s %8s %8s %8s | %10s %10s | %7s %6s | %7s %6s\n", "config",
              "median s", "min s", "mean s", "compute", "comm", "barrier", "other", "bytes to",
              "bytes from", "x 1w", "eff 1w", "x local", "eff lc");
  for (const Row& r : rows) {
    const double t = Median(r.wall), mean = Mean(r.wall);
    const double c = Mean(r.compute), m = Mean(r.communication), b = Mean(r.barrier);
    const int n = std::max(1, r.workers);
    std::printf("%-10s %8.3f %8.3f %8.3f | %8.3f %8.3f %8.3f %8.3f | %10.0f %10.0f |",
                r.label.c_str(), t, *std::min_element(r.wall.begin(), r.wall.end()), mean, c, m, b,
                r.workers == 0 ? 0.0 : mean - c - m - b, Mean(r.bytes_to), Mean(r.bytes_from));
    if (one != nullptr && r.workers > 0) {
      const double t1 = Median(one->wall);
      std::printf(" %7.2f %6.2f |", t1 / t, t1 / (n * t));
    } else {
      std::printf(" %7s %6s |", "-", "-");
    }
    if (local != nullptr) {
      const double tl = Median(local->wall);
      std::printf(" %7.2f %6.2f\n", tl / t, tl / (n * t));
    } else {
      std::printf(" %7s %6s\n", "-", "-");
    }
  }
  std::printf(
      "one iteration = %s; seconds and bytes per iteration.\n"
      "compute/comm/barrier: mean per iteration over the workers that took part;\n"
      "other = mean wall - their sum (job set-up, start latency, polling gaps, the\n"
      "coordinator's reduce); x = speed-up of the median; eff = speed-up / N (strong\n"
      "scaling), N = 1 for local.\n",
      iteration);
}

// The serial part of every remote iteration: the coordinator's shard-order reduce.
void PrintReduceCost(const env::LocalPopulationEvaluator& local, const env::Tariff& tariff,
                     const env::PriceBelief& belief, int shards) {
  const env::PopulationStats part = local.kernel().EvaluateShard(0, tariff, belief);
  const auto start = std::chrono::steady_clock::now();
  env::PopulationStats total = part;
  for (int s = 1; s < shards; ++s) total.Add(part);
  std::printf("coordinator reduce of %d shard results: %.2f ms\n", shards, 1e3 * Seconds(start));
}

// Kills worker 0 right after it receives its item in one Evaluate call of a
// 2-worker cluster with a 1 s heartbeat timeout; prints that call's wall time
// against the median of undisturbed calls.
absl::Status MeasureRecovery(const Options& o, const env::Scenario& sc, const env::Tariff& tariff,
                             const env::PriceBelief& belief, const std::filesystem::path& log_dir) {
  coordinator::WorkerPoolOptions pool_options;
  pool_options.heartbeat_timeout = absl::Seconds(1);
  pool_options.heartbeat_interval = absl::Milliseconds(250);
  std::filesystem::create_directories(log_dir / "recovery");
  Cluster cluster(o, 2, pool_options, log_dir / "recovery");
  if (!cluster.Ready(2)) return absl::UnavailableError("recovery: workers did not register");
  coordinator::RemotePopulationEvaluator remote(&cluster.pool(), sc);
  std::vector<Row> rows;
  rows.emplace_back("recovery", 2);
  const std::vector<env::PopulationEvaluator*> evaluators = {&remote};
  SMFG_RETURN_IF_ERROR(
      MeasureInterleaved(evaluators, EvaluateStep(evaluators, tariff, belief), o, &rows));

  const auto assigned_to_victim = [&] {
    for (const coordinator::WorkerCounters& c : cluster.pool().Workers()) {
      if (c.name == "bench-w0") return c.items_assigned;
    }
    return int64_t{0};
  };
  const int64_t before = assigned_to_victim();
  absl::StatusOr<env::PopulationStats> result;
  const auto start = std::chrono::steady_clock::now();
  std::thread call([&] { result = remote.Evaluate(tariff, belief); });
  // A benchmark may poll: the pool has no event for "item handed out".
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (assigned_to_victim() == before && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  const double killed_at = Seconds(start);
  cluster.process(0).Kill();
  call.join();
  const double wall = Seconds(start);
  if (!result.ok()) return result.status();
  const double median = Median(rows[0].wall);
  std::printf(
      "\nrecovery (2 workers, heartbeat timeout 1 s): worker killed %.3f s into the call;\n"
      "call took %.3f s vs median %.3f s undisturbed: recovery cost %.3f s\n",
      killed_at, wall, median, wall - median);
  return absl::OkStatus();
}

// A WorkerPool behind a gRPC server with n registered smfg-worker processes
// (logs in log_dir/<n>w/).
absl::StatusOr<std::unique_ptr<Cluster>> StartCluster(const Options& o, int n,
                                                      const std::filesystem::path& log_dir) {
  std::fprintf(stderr, "%d worker(s): starting\n", n);
  const std::filesystem::path dir = log_dir / absl::StrCat(n, "w");
  std::filesystem::create_directories(dir);
  auto cluster = std::make_unique<Cluster>(o, n, coordinator::WorkerPoolOptions{}, dir);
  if (!cluster->Ready(n)) return absl::UnavailableError("workers did not register in 60 s");
  return cluster;
}

std::string WorkersLabel(int n) { return absl::StrCat(n, " worker", n > 1 ? "s" : ""); }

// Exact followers: one iteration = one population evaluation.
absl::Status RunExact(const Options& o, const env::Scenario& sc, const env::Tariff& tariff,
                      const env::PriceBelief& belief, const std::filesystem::path& log_dir) {
  std::vector<Row> rows;
  std::vector<env::PopulationEvaluator*> evaluators;
  std::fprintf(stderr, "local evaluator, 1 thread: building the population\n");
  env::LocalPopulationEvaluator local(sc, 1);
  rows.emplace_back("local 1t", 0);
  evaluators.push_back(&local);
  // Every cluster stays up for the whole measurement; idle workers only
  // long-poll and heartbeat. Declared first, so destroyed after the remotes.
  std::vector<std::unique_ptr<Cluster>> clusters;
  std::vector<std::unique_ptr<coordinator::RemotePopulationEvaluator>> remotes;
  for (int n : o.workers) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster, StartCluster(o, n, log_dir));
    clusters.push_back(std::move(cluster));
    remotes.push_back(
        std::make_unique<coordinator::RemotePopulationEvaluator>(&clusters.back()->pool(), sc));
    rows.emplace_back(WorkersLabel(n), n);
    evaluators.push_back(remotes.back().get());
  }
  SMFG_RETURN_IF_ERROR(
      MeasureInterleaved(evaluators, EvaluateStep(evaluators, tariff, belief), o, &rows));
  remotes.clear();
  clusters.clear();
  PrintTable(rows, "one population evaluation (one job)");
  PrintReduceCost(local, tariff, belief, sc.shards);
  if (o.recovery) SMFG_RETURN_IF_ERROR(MeasureRecovery(o, sc, tariff, belief, log_dir));
  return absl::OkStatus();
}

// Where a configuration's parameters first left the local baseline's.
struct Divergence {
  int phases = -1;  // phases trained when first seen; -1: never
  std::string what;
};

// "" when `a` and `b` are the same bits, else where they first differ.
std::string CompareParameters(const followers::LearningPopulationEvaluator& a,
                              const followers::LearningPopulationEvaluator& b) {
  const std::vector<double>& x = a.parameters();
  const std::vector<double>& y = b.parameters();
  if (a.policy_version() != b.policy_version()) {
    return absl::StrCat("policy version ", b.policy_version(), " vs ", a.policy_version());
  }
  if (x.size() != y.size()) return absl::StrCat(y.size(), " parameters vs ", x.size());
  if (std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0) return "";
  size_t first = 0, count = 0;
  double max_diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::memcmp(&x[i], &y[i], sizeof(double)) == 0) continue;
    if (count++ == 0) first = i;
    max_diff = std::max(max_diff, std::abs(x[i] - y[i]));
  }
  return absl::StrCat(count, " of ", x.size(), " parameters differ, first [", first, "] ",
                      absl::StrFormat("%.17g vs %.17g", y[first], x[first]),
                      absl::StrFormat(", max |diff| %.3g", max_diff));
}

// Learning followers: one iteration = one PPO phase (TrainPhase), and the
// parameters must stay the same bits as the local baseline's.
absl::Status RunLearning(const Options& o, const env::Scenario& sc, const env::Tariff& tariff,
                         const env::PriceBelief& belief, const std::filesystem::path& log_dir) {
  using followers::LearningPopulationEvaluator;
  SMFG_ASSIGN_OR_RETURN(const std::vector<double> initial,
                        followers::InitialFollowerParameters(sc));
  const env::FollowerParams::Ppo& ppo = sc.follower.ppo;
  std::printf(
      "learning followers (PPO): %zu policy parameters (%zu bytes as doubles), %d epochs per "
      "phase\n",
      initial.size(), initial.size() * sizeof(double), ppo.epochs_per_phase);
  std::vector<Row> rows;
  std::vector<LearningPopulationEvaluator*> learners;
  std::vector<env::PopulationEvaluator*> evaluators;
  std::fprintf(stderr, "local learning evaluator, 1 thread: building the population\n");
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<LearningPopulationEvaluator> local,
                        LearningPopulationEvaluator::Create(sc, 1));
  rows.emplace_back("local 1t", 0);
  learners.push_back(local.get());
  // Declared first, so destroyed after the evaluators whose backends use them.
  std::vector<std::unique_ptr<Cluster>> clusters;
  std::vector<std::unique_ptr<LearningPopulationEvaluator>> remotes;
  for (int n : o.workers) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster, StartCluster(o, n, log_dir));
    clusters.push_back(std::move(cluster));
    // As coordinator/server.cc builds it: gradients on the workers, Adam here.
    auto backend = std::make_unique<coordinator::RemoteFollowerBackend>(
        &clusters.back()->pool(), sc, static_cast<int64_t>(initial.size()));
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<LearningPopulationEvaluator> remote,
                          LearningPopulationEvaluator::Create(sc, std::move(backend)));
    remotes.push_back(std::move(remote));
    rows.emplace_back(WorkersLabel(n), n);
    learners.push_back(remotes.back().get());
  }
  // One solve's learning-rate schedule, as the equilibrium loop starts it.
  for (LearningPopulationEvaluator* e : learners) {
    SMFG_RETURN_IF_ERROR(e->BeginSolve().status());
    evaluators.push_back(e);
  }

  std::vector<Divergence> divergence(learners.size());
  const auto check = [&](int round) {
    for (size_t i = 1; i < learners.size(); ++i) {
      if (divergence[i].phases >= 0) continue;
      std::string what = CompareParameters(*learners[0], *learners[i]);
      if (what.empty()) continue;
      divergence[i] = {round + 1, std::move(what)};
      std::fprintf(stderr, "  PARAMETER MISMATCH: %s vs local after %d phase(s): %s\n",
                   rows[i].label.c_str(), round + 1, divergence[i].what.c_str());
    }
  };
  const Step phase = [&](size_t i) { return learners[i]->TrainPhase(tariff, belief); };
  SMFG_RETURN_IF_ERROR(MeasureInterleaved(evaluators, phase, o, &rows, check));
  remotes.clear();
  clusters.clear();
  PrintTable(rows,
             absl::StrCat("one PPO phase (", ppo.epochs_per_phase, " gradient jobs)").c_str());

  const followers::FollowerTrainingStats stats = learners[0]->training_stats();
  std::printf(
      "local after %lld phases: policy version %llu, %lld steps per gradient round, mean daily "
      "reward %.4f $, entropy %.4f nats, parameters %s the initial ones\n",
      static_cast<long long>(stats.phases),
      static_cast<unsigned long long>(learners[0]->policy_version()),
      static_cast<long long>(stats.steps_last_phase), stats.mean_daily_reward_usd,
      stats.mean_entropy,
      std::memcmp(initial.data(), learners[0]->parameters().data(),
                  initial.size() * sizeof(double)) == 0
          ? "EQUAL to"
          : "moved from");
  bool identical = true;
  for (size_t i = 1; i < learners.size(); ++i) {
    if (divergence[i].phases < 0) {
      std::printf("bit-identity %-9s vs local after every one of %lld phases: identical\n",
                  rows[i].label.c_str(), static_cast<long long>(stats.phases));
    } else {
      identical = false;
      std::printf("bit-identity %-9s vs local: MISMATCH after %d phase(s): %s\n",
                  rows[i].label.c_str(), divergence[i].phases, divergence[i].what.c_str());
    }
  }
  if (o.recovery) std::printf("recovery: not measured for learning followers\n");
  if (!identical) {
    return absl::InternalError(
        "learning followers: parameters differ between local and remote training");
  }
  return absl::OkStatus();
}

absl::Status Run(const Options& o) {
  SMFG_ASSIGN_OR_RETURN(const config::LoadedSpec loaded, config::LoadExperimentFile(o.spec));
  env::Scenario sc = loaded.scenario;
  const bool learning = sc.follower.learner == env::FollowerParams::Learner::kPpo;
  if (o.days > 0) {
    sc.days = o.days;
  } else if (!learning) {
    sc.days = 6;
  }
  const int buses = static_cast<int>(sc.network.buses.size());
  const env::Tariff tariff = env::FlatTestTariff(sc, 0.15);
  const env::PriceBelief belief = env::PriceBelief::Constant(sc.days, buses, 40.0);
  int households = 0;
  for (const auto& c : sc.classes) {
    for (int n : c.households_per_bus) households += n;
  }
  std::printf("scenario %s: %d households x %d days, %d shards; %u hardware threads\n",
              o.spec.c_str(), households, sc.days, sc.shards, std::thread::hardware_concurrency());
  std::printf("mode: %s\n", learning ? "learning followers (PPO): one PPO phase per iteration"
                                     : "exact followers: one evaluation per iteration");
  std::printf("scenario on the wire: %zu bytes, sent once per worker (warm-up)\n",
              config::FromScenario(sc).scenario().ByteSizeLong());
  PrintLoad("at start");
  const std::filesystem::path log_dir =
      std::filesystem::temp_directory_path() / absl::StrCat("smfg-distributed-bench-", getpid());
  std::filesystem::create_directories(log_dir);
  const absl::Status status = learning ? RunLearning(o, sc, tariff, belief, log_dir)
                                       : RunExact(o, sc, tariff, belief, log_dir);
  PrintLoad("at end");
  return status;
}

}  // namespace
}  // namespace smfg::bench

int main(int argc, char** argv) {
  using namespace smfg::bench;
  Options options;
  if (absl::Status s = ParseFlags(argc, argv, &options); !s.ok()) {
    std::fprintf(stderr, "distributed_bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);  // table rows interleave sensibly with progress
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  const absl::Status status = Run(options);
  KillAllChildren();
  if (!status.ok()) {
    std::fprintf(stderr, "distributed_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
