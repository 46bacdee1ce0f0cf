// The real processes: smfg-coordinator and smfg-worker on 127.0.0.1:0 (the
// port read from the coordinator's stdout), driven with the client library;
// whatever the number of workers, however they come, go or die, the
// distributed result must equal a local `smfg train` bit for bit. Who computed
// what is read from the coordinator's Prometheus endpoint (--metrics_port=0).
// Every process is terminated (SIGTERM, then SIGKILL after a deadline) when
// the test ends, whether it passed or not. Each test runs 2-3 outer
// iterations over 2 days, about 10-30 s on 2 cores.
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster_util.h"

namespace smfg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::Child;
using testing_util::DownloadResults;
using testing_util::FreshDir;
using testing_util::GetExperiment;
using testing_util::HttpGet;
using testing_util::Plain;
using testing_util::ReadAll;
using testing_util::Submit;
using testing_util::WaitForFirstIteration;
using testing_util::WaitForIteration;
using testing_util::WaitForLogLine;
using testing_util::WatchToEnd;
using testing_util::WorkerMetric;
using testing_util::WriteSmallSpec;

std::unique_ptr<Child> StartCoordinator(const fs::path& dir, const std::string& log,
                                        std::vector<std::string> extra_flags,
                                        std::string* address) {
  return testing_util::StartCoordinator(SMFG_COORDINATOR_BIN, dir, log, std::move(extra_flags),
                                        address);
}

void TrainLocally(const std::string& spec_path, const fs::path& dir) {
  testing_util::TrainLocally(spec_path, dir / "local");
}

// A coordinator with its Prometheus endpoint on a free port.
struct MonitoredCoordinator {
  std::unique_ptr<Child> process;
  std::string address;          // gRPC, HOST:PORT
  std::string metrics_address;  // HTTP, HOST:PORT; "" if it did not come up
};

MonitoredCoordinator StartMonitoredCoordinator(const fs::path& dir,
                                               std::vector<std::string> extra_flags) {
  extra_flags.push_back("--metrics_port=0");
  MonitoredCoordinator c;
  c.process = StartCoordinator(dir, "coordinator.log", std::move(extra_flags), &c.address);
  if (!c.address.empty()) c.metrics_address = testing_util::ReadMetricsAddress(*c.process);
  return c;
}

std::unique_ptr<Child> StartWorker(const fs::path& dir, const std::string& address,
                                   const std::string& name) {
  return std::make_unique<Child>(
      std::vector<std::string>{SMFG_WORKER_BIN, "--coordinator=" + address, "--name=" + name},
      (dir / (name + ".log")).string(), /*capture_stdout=*/false);
}

// The coordinator log says the worker named `name` registered (the pool logs
// "registered <id> (<name>, <threads> threads)").
bool WaitForRegistration(const fs::path& dir, const std::string& name) {
  return WaitForLogLine(dir / "coordinator.log", "(" + name + ", ",
                        absl::Now() + absl::Seconds(30));
}

// The coordinator's /metrics text; "" (and a test failure) if unreachable.
std::string FetchMetrics(const std::string& metrics_address) {
  const absl::StatusOr<std::string> metrics = HttpGet(metrics_address, "/metrics");
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *metrics : "";
}

// Watches experiment `id` until it ends, requires SUCCEEDED and downloads its
// results into `out`.
void RunToSuccessAndDownload(const std::string& address, const std::string& id,
                             const fs::path& out) {
  std::string progress;
  const absl::Status watched = WatchToEnd(Plain(address), id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  const absl::Status downloaded = DownloadResults(Plain(address), id, out);
  ASSERT_TRUE(downloaded.ok()) << downloaded;
}

// The learned tariff and the comparison downloaded into `remote` are byte
// for byte those of the local run in `local`.
void ExpectSameResultsAsLocal(const fs::path& remote, const fs::path& local) {
  for (const char* file : {"comparison.json", "learned_tariff.json"}) {
    const std::string expected = ReadAll((local / file).string());
    ASSERT_FALSE(expected.empty()) << (local / file);
    EXPECT_EQ(ReadAll((remote / file).string()), expected) << (remote / file);
  }
}

// SIGTERM: the process must exit cleanly (status 0).
void ExpectCleanExit(Child& process) {
  const int status = process.Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

int64_t Occurrences(const std::string& text, const std::string& needle) {
  int64_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// True once `path` contains `needle` at least `count` times, before
// `deadline`. Woken by inotify on every write to the file, so it returns
// within a fraction of a millisecond of the line being written (a worker's
// item takes a few milliseconds; see KillWhileHoldingAnItem).
bool WaitForOccurrences(const fs::path& path, const std::string& needle, int64_t count,
                        absl::Time deadline) {
  const int events = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (events < 0 || inotify_add_watch(events, path.c_str(), IN_MODIFY) < 0) {
    ADD_FAILURE() << "inotify on " << path << ": " << std::strerror(errno);
    if (events >= 0) close(events);
    return false;
  }
  bool found = false;
  while (!(found = Occurrences(ReadAll(path.string()), needle) >= count)) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) break;
    pollfd ready{events, POLLIN, 0};
    poll(&ready, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
    char drained[4096];
    while (read(events, drained, sizeof(drained)) > 0) {
    }
  }
  close(events);
  return found;
}

// Items the coordinator has assigned to the worker `name` and neither
// accepted nor taken back: the item it holds, if any.
// -1 if the metrics do not list the worker.
int64_t ItemsHeld(const std::string& metrics, const std::string& name) {
  const int64_t assigned = WorkerMetric(metrics, "smfg_worker_items_assigned_total", name);
  const int64_t completed = WorkerMetric(metrics, "smfg_worker_items_completed_total", name);
  const int64_t taken_back = WorkerMetric(metrics, "smfg_worker_reassignments_total", name);
  if (assigned < 0 || completed < 0 || taken_back < 0) return -1;
  return assigned - completed - taken_back;
}

// SIGKILLs `worker` (registered as `name`, logging to `log`) at a moment the
// coordinator has an item assigned to it. Each time the worker logs that it
// starts an item it is frozen (SIGSTOP: it can neither finish nor submit)
// and the coordinator's counters are read; it is killed if it holds the
// item, else resumed until its next one. Returns the number of items it was
// frozen on, or 0 if it never held one before `deadline`.
int KillWhileHoldingAnItem(Child& worker, const fs::path& log, const std::string& name,
                           const std::string& metrics_address, absl::Time deadline) {
  const std::string started = "smfg-worker " + name + ": computing work ";
  int64_t seen = 0;
  for (int attempt = 1; WaitForOccurrences(log, started, seen + 1, deadline); ++attempt) {
    kill(worker.pid(), SIGSTOP);
    if (ItemsHeld(FetchMetrics(metrics_address), name) == 1) {
      worker.Kill();
      return attempt;
    }
    seen = Occurrences(ReadAll(log.string()), started);
    kill(worker.pid(), SIGCONT);
  }
  return 0;
}

// Polls ExperimentService.Get until experiment `id` has `wanted` status;
// returns the last experiment seen. Stops early on FAILED.
v1::Experiment PollForStatus(const std::string& address, const std::string& id,
                             v1::ExperimentState wanted, absl::Time deadline) {
  v1::Experiment last;
  while (absl::Now() < deadline) {
    const absl::StatusOr<v1::Experiment> got = GetExperiment(Plain(address), id);
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok()) last = *got;
    if (last.status() == wanted || last.status() == v1::FAILED) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return last;
}

TEST(MultiProcessTest, CoordinatorWithTwoWorkersMatchesALocalRun) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 2);
  std::string address;
  std::unique_ptr<Child> coordinator_process =
      StartCoordinator(dir, "coordinator.log", {"--heartbeat_timeout_ms=5000"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  Child& coordinator = *coordinator_process;
  EXPECT_EQ(testing_util::HealthCheck(address), "SERVING");
  Child worker1({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=w1"},
                (dir / "worker1.log").string(), false);
  Child worker2({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=w2"},
                (dir / "worker2.log").string(), false);

  const absl::StatusOr<std::string> id = Submit(Plain(address), spec_path, "multiprocess");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "exp-000001");
  std::string progress;
  const absl::Status watched = WatchToEnd(Plain(address), *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(progress, HasSubstr("outer   2"));
  ASSERT_TRUE(DownloadResults(Plain(address), *id, dir / "remote").ok());

  TrainLocally(spec_path, dir);
  const std::string local = ReadAll((dir / "local" / "comparison.json").string());
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()), local);
  EXPECT_EQ(ReadAll((dir / "remote" / "learned_tariff.json").string()),
            ReadAll((dir / "local" / "learned_tariff.json").string()));

  // SIGTERM: workers and coordinator exit cleanly.
  for (Child* c : {&worker1, &worker2, &coordinator}) {
    const int status = c->Stop(absl::Seconds(20));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  fs::remove_all(dir);
}

// A worker SIGKILLed after the first outer iteration: the coordinator detects
// it by its missed heartbeat, logs it, the survivor takes all shards, and the
// result is still identical to a local run.
TEST(MultiProcessTest, KilledWorkerIsDetectedAndTheRunStillMatchesALocalRun) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 3);
  std::string address;
  std::unique_ptr<Child> coordinator =
      StartCoordinator(dir, "coordinator.log", {"--heartbeat_timeout_ms=1000"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  Child doomed({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=doomed"},
               (dir / "doomed.log").string(), false);
  Child survivor({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=survivor"},
                 (dir / "survivor.log").string(), false);

  const absl::StatusOr<std::string> id = Submit(Plain(address), spec_path, "killed-worker");
  ASSERT_TRUE(id.ok()) << id.status();
  // Kill one worker as soon as the first iteration's metrics are stored.
  const absl::Status first_iteration = WaitForFirstIteration(Plain(address), *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration;
  doomed.Kill();
  std::string progress;
  const absl::Status watched = WatchToEnd(Plain(address), *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_TRUE(WaitForLogLine(dir / "coordinator.log", "(doomed) missed its heartbeat",
                             absl::Now() + absl::Seconds(30)))
      << ReadAll((dir / "coordinator.log").string());
  ASSERT_TRUE(DownloadResults(Plain(address), *id, dir / "remote").ok());
  TrainLocally(spec_path, dir);
  const std::string local = ReadAll((dir / "local" / "comparison.json").string());
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()), local);
  for (Child* c : {&survivor, coordinator.get()}) {
    const int status = c->Stop(absl::Seconds(20));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  fs::remove_all(dir);
}

// A coordinator killed (SIGKILL) after its first outer iteration; a new one
// on the same data directory finishes the run from the checkpoint, with the
// same result as an uninterrupted local run. Population evaluation is local
// (--local_threads) so that no worker has to follow the coordinator's new port.
TEST(MultiProcessTest, KilledCoordinatorResumesOnRestart) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 3);
  std::string address;
  std::unique_ptr<Child> first =
      StartCoordinator(dir, "coordinator1.log", {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator1.log").string());

  const absl::StatusOr<std::string> id = Submit(Plain(address), spec_path, "killed");
  ASSERT_TRUE(id.ok()) << id.status();
  // Watch until the first iteration's metrics are stored, then kill.
  const absl::Status first_iteration = WaitForFirstIteration(Plain(address), *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration;
  first->Kill();

  std::unique_ptr<Child> second =
      StartCoordinator(dir, "coordinator2.log", {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator2.log").string());
  std::string progress;
  const absl::Status watched = WatchToEnd(Plain(address), *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(ReadAll((dir / "coordinator2.log").string()),
              HasSubstr(*id + " resumed at outer iteration "));
  ASSERT_TRUE(DownloadResults(Plain(address), *id, dir / "remote").ok());
  TrainLocally(spec_path, dir);
  const std::string local = ReadAll((dir / "local" / "comparison.json").string());
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()), local);
  // Every iteration's metrics exactly once.
  const std::string jsonl = ReadAll((dir / "remote" / "metrics.jsonl").string());
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 3);
  const int status = second->Stop(absl::Seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  fs::remove_all(dir);
}

// One coordinator runs the same spec three times, with 1, then 2, then 4
// registered workers (chunks of 16, 8 and 4 of the spec's 16 shards): all
// three results equal the local run's byte for byte. The 4-worker run must
// really be spread over several workers, or it would prove nothing.
TEST(MultiProcessTest, OneTwoAndFourWorkersGiveTheLocalResult) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 2);
  MonitoredCoordinator coordinator = StartMonitoredCoordinator(dir, {});
  ASSERT_FALSE(coordinator.metrics_address.empty()) << ReadAll((dir / "coordinator.log").string());
  std::vector<std::unique_ptr<Child>> workers;
  std::vector<std::string> names;
  for (const int count : {1, 2, 4}) {
    while (static_cast<int>(workers.size()) < count) {
      names.push_back(absl::StrCat("scale", workers.size() + 1));
      workers.push_back(StartWorker(dir, coordinator.address, names.back()));
      // Registered before the submit, so every job is cut for `count` workers.
      ASSERT_TRUE(WaitForRegistration(dir, names.back()))
          << ReadAll((dir / "coordinator.log").string());
    }
    const std::string before = FetchMetrics(coordinator.metrics_address);
    const absl::StatusOr<std::string> id =
        Submit(Plain(coordinator.address), spec_path, absl::StrCat("scale-", count));
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_NO_FATAL_FAILURE(
        RunToSuccessAndDownload(coordinator.address, *id, dir / absl::StrCat("remote", count)));
    const std::string after = FetchMetrics(coordinator.metrics_address);
    // Workers that computed shards of this run (-1: not registered before).
    int busy = 0;
    const char* series = "smfg_worker_shards_completed_total";
    for (const std::string& name : names) {
      const int64_t earlier = std::max<int64_t>(0, WorkerMetric(before, series, name));
      busy += WorkerMetric(after, series, name) > earlier ? 1 : 0;
    }
    EXPECT_EQ(busy > 1, count > 1) << count << " workers:\n" << after;
    RecordProperty(absl::StrCat("busy_workers_of_", count), busy);
  }
  TrainLocally(spec_path, dir);
  for (const int count : {1, 2, 4}) {
    ExpectSameResultsAsLocal(dir / absl::StrCat("remote", count), dir / "local");
  }
  for (std::unique_ptr<Child>& worker : workers) ExpectCleanExit(*worker);
  ExpectCleanExit(*coordinator.process);
  fs::remove_all(dir);
}

// WriteSmallSpec with learning followers (issue 11): a small network and two
// short PPO phases per equilibrium solve, enough for every kind of learning
// work (policy statistics, gradients, the learned and the exact
// exploitability) to go through the workers several times.
std::string WritePpoSpec(const fs::path& dir, int iterations) {
  std::string spec = ReadAll(WriteSmallSpec(dir, iterations));
  const std::string anchor = "  households_represented: 50\n";
  EXPECT_NE(spec.find(anchor), std::string::npos);
  spec = absl::StrReplaceAll(
      spec,
      {{anchor,
        anchor + "  follower {\n"
                 "    learner: FOLLOWER_LEARNER_PPO\n"
                 "    ppo { hidden_sizes: [16, 16] phases_per_solve: 2 phases_per_warm_solve: 1\n"
                 "          epochs_per_phase: 2 episodes_per_household_day: 1\n"
                 "          episode_days: 1 }\n"
                 "  }\n"}});
  const std::string path = (dir / "ppo.textproto").string();
  std::ofstream(path) << spec;
  return path;
}

// Learning followers' gradients computed by one worker, then by three of which
// one is SIGKILLed mid-run: both runs equal the local `smfg train` bit for
// bit (gradients reduced in shard order, Adam on the coordinator), and the
// three-worker run spread its shards over more than one worker.
TEST(MultiProcessTest, PpoFollowersGiveTheLocalResultWithOneAndThreeWorkersAndAKill) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WritePpoSpec(dir, 3);
  MonitoredCoordinator coordinator =
      StartMonitoredCoordinator(dir, {"--heartbeat_timeout_ms=1000"});
  ASSERT_FALSE(coordinator.metrics_address.empty()) << ReadAll((dir / "coordinator.log").string());
  std::vector<std::unique_ptr<Child>> workers;
  workers.push_back(StartWorker(dir, coordinator.address, "ppo1"));
  ASSERT_TRUE(WaitForRegistration(dir, "ppo1")) << ReadAll((dir / "coordinator.log").string());
  absl::StatusOr<std::string> id = Submit(Plain(coordinator.address), spec_path, "ppo-1");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_NO_FATAL_FAILURE(RunToSuccessAndDownload(coordinator.address, *id, dir / "remote1"));

  for (const char* name : {"ppo2", "ppo3"}) {
    workers.push_back(StartWorker(dir, coordinator.address, name));
    ASSERT_TRUE(WaitForRegistration(dir, name)) << ReadAll((dir / "coordinator.log").string());
  }
  const std::string before = FetchMetrics(coordinator.metrics_address);
  id = Submit(Plain(coordinator.address), spec_path, "ppo-3");
  ASSERT_TRUE(id.ok()) << id.status();
  const absl::Status first_iteration = WaitForFirstIteration(Plain(coordinator.address), *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration;
  workers[1]->Kill();
  ASSERT_NO_FATAL_FAILURE(RunToSuccessAndDownload(coordinator.address, *id, dir / "remote3"));
  EXPECT_TRUE(WaitForLogLine(dir / "coordinator.log", "(ppo2) missed its heartbeat",
                             absl::Now() + absl::Seconds(30)))
      << ReadAll((dir / "coordinator.log").string());
  const std::string after = FetchMetrics(coordinator.metrics_address);
  int busy = 0;
  for (const char* name : {"ppo1", "ppo2", "ppo3"}) {
    const char* series = "smfg_worker_shards_completed_total";
    busy +=
        WorkerMetric(after, series, name) > std::max<int64_t>(0, WorkerMetric(before, series, name))
            ? 1
            : 0;
  }
  EXPECT_GT(busy, 1) << after;
  EXPECT_NE(after.find("smfg_stale_gradients_total 0\n"), std::string::npos) << after;

  TrainLocally(spec_path, dir);
  ExpectSameResultsAsLocal(dir / "remote1", dir / "local");
  ExpectSameResultsAsLocal(dir / "remote3", dir / "local");
  // The learned followers' report sits beside the exact best response's.
  EXPECT_THAT(ReadAll((dir / "local" / "summary.json").string()),
              HasSubstr("\"follower_learner\":\"ppo\""));
  for (size_t w = 0; w < workers.size(); ++w) {
    if (w != 1) ExpectCleanExit(*workers[w]);
  }
  ExpectCleanExit(*coordinator.process);
  fs::remove_all(dir);
}

// A worker that registers while a run is under way (after its first outer
// iteration) is given shards, and the result is still the local one.
TEST(MultiProcessTest, WorkerJoiningMidRunTakesShards) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 3);
  MonitoredCoordinator coordinator = StartMonitoredCoordinator(dir, {});
  ASSERT_FALSE(coordinator.metrics_address.empty()) << ReadAll((dir / "coordinator.log").string());
  std::unique_ptr<Child> first = StartWorker(dir, coordinator.address, "first");
  const absl::StatusOr<std::string> id =
      Submit(Plain(coordinator.address), spec_path, "elastic-join");
  ASSERT_TRUE(id.ok()) << id.status();
  const absl::Status iteration = WaitForIteration(Plain(coordinator.address), *id, 1);
  ASSERT_TRUE(iteration.ok()) << iteration;

  std::unique_ptr<Child> joiner = StartWorker(dir, coordinator.address, "joiner");
  EXPECT_TRUE(WaitForRegistration(dir, "joiner")) << ReadAll((dir / "coordinator.log").string());
  ASSERT_NO_FATAL_FAILURE(RunToSuccessAndDownload(coordinator.address, *id, dir / "remote"));
  const std::string metrics = FetchMetrics(coordinator.metrics_address);
  const int64_t joiner_shards =
      WorkerMetric(metrics, "smfg_worker_shards_completed_total", "joiner");
  EXPECT_GT(joiner_shards, 0) << metrics;
  RecordProperty("joiner_shards", joiner_shards);
  EXPECT_GT(WorkerMetric(metrics, "smfg_worker_shards_completed_total", "first"), 0) << metrics;

  TrainLocally(spec_path, dir);
  ExpectSameResultsAsLocal(dir / "remote", dir / "local");
  for (Child* process : {first.get(), joiner.get(), coordinator.process.get()}) {
    ExpectCleanExit(*process);
  }
  fs::remove_all(dir);
}

// Starts workers "doomed1", "doomed2", ... one at a time and SIGKILLs each
// while the coordinator has an item assigned to it (KillWhileHoldingAnItem),
// until the coordinator, once it has missed the victim's heartbeat, reports
// that it took an item back from it. The first victim usually suffices; but
// an item takes only ~4 ms on the test spec, and on a loaded machine the
// victim may already have sent its result when it is frozen: that result is
// accepted after the kill and the victim held nothing, so another is tried.
// Returns the name of the victim an item was taken back from ("" after
// `max_victims`, with the test failed) and the number of victims in *killed.
std::string KillWorkersUntilAnItemIsTakenBack(const fs::path& dir,
                                              const MonitoredCoordinator& coordinator,
                                              int max_victims, int* killed) {
  const fs::path coordinator_log = dir / "coordinator.log";
  for (*killed = 1; *killed <= max_victims; ++*killed) {
    const std::string name = absl::StrCat("doomed", *killed);
    std::unique_ptr<Child> victim = StartWorker(dir, coordinator.address, name);
    const fs::path log = dir / (name + ".log");
    if (KillWhileHoldingAnItem(*victim, log, name, coordinator.metrics_address,
                               absl::Now() + absl::Seconds(60)) == 0) {
      ADD_FAILURE() << name << " never held an item:\n" << ReadAll(log.string());
      return "";
    }
    // The heartbeat is missed a second after the kill, long after anything
    // the victim sent has been handled: its counters are final.
    if (!WaitForLogLine(coordinator_log, "(" + name + ") missed its heartbeat",
                        absl::Now() + absl::Seconds(30))) {
      ADD_FAILURE() << ReadAll(coordinator_log.string());
      return "";
    }
    const std::string metrics = FetchMetrics(coordinator.metrics_address);
    if (WorkerMetric(metrics, "smfg_worker_reassignments_total", name) >= 1) return name;
  }
  ADD_FAILURE() << "no item was taken back from " << max_victims << " killed workers";
  return "";
}

// A worker SIGKILLed while the coordinator has an item assigned to it (the
// KilledWorkerIsDetected... test above kills between iterations): the
// coordinator notices the missed heartbeat, takes the item back, the
// survivor computes it, and the run succeeds with the local result.
TEST(MultiProcessTest, WorkerKilledWhileHoldingAnItemIsReplaced) {
  const fs::path dir = FreshDir();
  // Six outer iterations, so that a second or third victim still finds work
  // when the first one's result was accepted before it was frozen (the run
  // once ended with 3 while doomed2 waited for an item).
  const std::string spec_path = WriteSmallSpec(dir, 6);
  MonitoredCoordinator coordinator =
      StartMonitoredCoordinator(dir, {"--heartbeat_timeout_ms=1000"});
  ASSERT_FALSE(coordinator.metrics_address.empty()) << ReadAll((dir / "coordinator.log").string());
  std::unique_ptr<Child> survivor = StartWorker(dir, coordinator.address, "survivor");
  const absl::StatusOr<std::string> id =
      Submit(Plain(coordinator.address), spec_path, "killed-holding-work");
  ASSERT_TRUE(id.ok()) << id.status();

  int killed = 0;
  const std::string victim =
      KillWorkersUntilAnItemIsTakenBack(dir, coordinator, /*max_victims=*/3, &killed);
  ASSERT_FALSE(victim.empty());
  RecordProperty("workers_killed", killed);
  ASSERT_NO_FATAL_FAILURE(RunToSuccessAndDownload(coordinator.address, *id, dir / "remote"));
  const std::string metrics = FetchMetrics(coordinator.metrics_address);
  EXPECT_GE(WorkerMetric(metrics, "smfg_worker_failures_total", victim), 1) << metrics;
  EXPECT_EQ(WorkerMetric(metrics, "smfg_worker_live", victim), 0) << metrics;
  EXPECT_EQ(ItemsHeld(metrics, victim), 0) << metrics;
  EXPECT_GT(WorkerMetric(metrics, "smfg_worker_shards_completed_total", "survivor"), 0) << metrics;

  TrainLocally(spec_path, dir);
  ExpectSameResultsAsLocal(dir / "remote", dir / "local");
  ExpectCleanExit(*survivor);
  ExpectCleanExit(*coordinator.process);
  fs::remove_all(dir);
}

// Submitted with no worker at all: the experiment visibly waits
// (WAITING_FOR_WORKERS, not FAILED) and runs to the local result once a
// worker starts.
TEST(MultiProcessTest, RunWaitsForAWorkerAndFinishesWhenOneStarts) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 2);
  MonitoredCoordinator coordinator = StartMonitoredCoordinator(dir, {});
  ASSERT_FALSE(coordinator.metrics_address.empty()) << ReadAll((dir / "coordinator.log").string());
  const absl::StatusOr<std::string> id =
      Submit(Plain(coordinator.address), spec_path, "zero-workers");
  ASSERT_TRUE(id.ok()) << id.status();

  const v1::Experiment waiting = PollForStatus(coordinator.address, *id, v1::WAITING_FOR_WORKERS,
                                               absl::Now() + absl::Seconds(60));
  ASSERT_EQ(waiting.status(), v1::WAITING_FOR_WORKERS) << waiting.ShortDebugString();
  EXPECT_THAT(FetchMetrics(coordinator.metrics_address),
              HasSubstr("smfg_experiments{status=\"WAITING_FOR_WORKERS\"} 1"));

  std::unique_ptr<Child> worker = StartWorker(dir, coordinator.address, "late");
  ASSERT_NO_FATAL_FAILURE(RunToSuccessAndDownload(coordinator.address, *id, dir / "remote"));
  TrainLocally(spec_path, dir);
  ExpectSameResultsAsLocal(dir / "remote", dir / "local");
  ExpectCleanExit(*worker);
  ExpectCleanExit(*coordinator.process);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace smfg
