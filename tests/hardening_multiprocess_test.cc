// Issue 9's faults, each against the real smfg-coordinator (and smfg-worker)
// processes on 127.0.0.1:0, each failing before its fix:
//   1. a submitted spec naming a file (/dev/zero, a FIFO, the coordinator's
//      own token file) was opened; shutdown could hang on a stuck handler;
//   2. a restored backup reused ids and resumed another experiment's
//      checkpoint; an empty database next to checkpoints was accepted;
//   3. worker ids restarted at w1 after a coordinator restart;
//   4. a cancel during set-up ended in FAILED; a huge leader network was
//      accepted and killed the coordinator;
//   5. a read-only store reported SERVING and looped;
//   6. an unbounded name made List unusable; List was not paged; no delete;
//   7. a cancel while waiting for workers was ignored;
//   8. households_represented 1e12 passed Submit, a lower-case "bearer" was
//      refused, an undecodable request beat the token check, --help printed
//      the build machine's paths.
// Waits are on conditions (process output, RPC answers) with deadlines.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "smfg/v1/experiment.grpc.pb.h"
#include "tests/cluster_util.h"
#include "training/trainer_params.h"

namespace smfg {
namespace {

namespace fs = std::filesystem;
using ::smfg::testing_util::Child;
using ::smfg::testing_util::FreshDir;
using ::smfg::testing_util::GetExperiment;
using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::Plain;
using ::smfg::testing_util::ReadAll;
using ::smfg::testing_util::StatusIs;
using ::smfg::testing_util::WriteSmallSpec;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::unique_ptr<Child> StartCoordinator(const fs::path& dir, const std::string& log,
                                        std::vector<std::string> flags, std::string* address,
                                        std::vector<std::string> env = {}) {
  return testing_util::StartCoordinator(SMFG_COORDINATOR_BIN, dir, log, std::move(flags), address,
                                        std::move(env));
}

std::unique_ptr<Child> StartWorker(const fs::path& dir, const std::string& address,
                                   const std::string& name) {
  return std::make_unique<Child>(
      std::vector<std::string>{SMFG_WORKER_BIN, "--coordinator=" + address, "--name=" + name,
                               "--threads=1"},
      (dir / (name + ".log")).string(), /*capture_stdout=*/false);
}

std::unique_ptr<v1::ExperimentService::Stub> Stub(const std::string& address) {
  return v1::ExperimentService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

void Prepare(grpc::ClientContext* context, const std::string& authorization = "") {
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
}

// The spec of `path` as `smfg submit` sends it (effective: network inline).
v1::ExperimentSpec EffectiveSpec(const std::string& path) {
  absl::StatusOr<config::LoadedSpec> loaded = training::LoadExperimentFile(path);
  EXPECT_THAT(loaded, IsOk());
  return loaded.ok() ? config::EffectiveSpec(loaded->spec, loaded->scenario) : v1::ExperimentSpec();
}

absl::StatusOr<std::string> SubmitMessage(const std::string& address,
                                          const v1::ExperimentSpec& spec, const std::string& key) {
  v1::SubmitRequest request;
  *request.mutable_spec() = spec;
  request.set_idempotency_key(key);
  v1::SubmitResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  const grpc::Status s = Stub(address)->Submit(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response.experiment_id();
}

absl::StatusOr<v1::Experiment> Cancel(const std::string& address, const std::string& id) {
  v1::CancelRequest request;
  request.set_id(id);
  v1::Experiment response;
  grpc::ClientContext context;
  Prepare(&context);
  const grpc::Status s = Stub(address)->Cancel(&context, request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

// Polls Get until `done(experiment)` or the deadline; returns the last state.
absl::StatusOr<v1::Experiment> WaitFor(const std::string& address, const std::string& id,
                                       const std::function<bool(const v1::Experiment&)>& done,
                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::Experiment> e = GetExperiment(Plain(address), id);
  while (e.ok() && !done(*e) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));  // polling an RPC: nothing to wait on locally
    e = GetExperiment(Plain(address), id);
  }
  return e;
}

bool IsTerminal(const v1::Experiment& e) {
  return e.status() == v1::SUCCEEDED || e.status() == v1::FAILED || e.status() == v1::CANCELLED;
}

// Resident memory of process `pid`, kB (from /proc).
int64_t RssKb(pid_t pid) {
  const std::string status = ReadAll(absl::StrCat("/proc/", pid, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kb = 0;
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb;
    }
  }
  return -1;
}

bool ExitedWithin(Child& child, absl::Duration timeout, int* status) {
  *status = child.Wait(timeout);
  return *status != -1;
}

// ---- 1 ---------------------------------------------------------------------

TEST(HardeningTest, Fault1_SpecNamingAFileIsRefusedWithoutOpeningIt) {
  const fs::path dir = FreshDir("fault1");
  const std::string token_file = (dir / "cluster.token").string();
  std::ofstream(token_file) << "secret-cluster-token-4711\n";
  const std::string fifo = (dir / "spec.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0666), 0);
  std::string address;
  auto coordinator =
      StartCoordinator(dir, "coordinator.log",
                       {"--local_threads=1", "--cluster_token_file=" + token_file}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  const int64_t rss_before = RssKb(coordinator->pid());
  const v1::ExperimentSpec valid = EffectiveSpec(WriteSmallSpec(dir, 1));
  for (const std::string& path : {std::string("/dev/zero"), fifo, token_file}) {
    v1::ExperimentSpec spec = valid;
    spec.mutable_scenario()->set_matpower_file(path);
    const absl::Time start = absl::Now();
    const absl::StatusOr<std::string> id = SubmitMessage(address, spec, "file-" + path);
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << path;
    EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument,
                             AllOf(StartsWith("spec.scenario.matpower_file: "),
                                   HasSubstr("never opens a file"),
                                   Not(HasSubstr("secret-cluster-token")))))
        << path;
  }
  // Nobody has the FIFO open for reading: a non-blocking writer finds no reader.
  const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, ENXIO);
  if (fd >= 0) close(fd);
  const int64_t rss_after = RssKb(coordinator->pid());
  EXPECT_LT(rss_after - rss_before, 50 * 1024) << rss_before << " kB -> " << rss_after << " kB";
  EXPECT_EQ(testing_util::HealthCheck(address), "SERVING");
  const int status = coordinator->Stop(absl::Seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A run in the middle of a long outer iteration does not reach an iteration
// boundary soon; SIGTERM still ends the process within --shutdown_timeout_s,
// and the run is resumed by the next coordinator.
TEST(HardeningTest, Fault1_ShutdownIsBoundedWhileARunIsBusy) {
  const fs::path dir = FreshDir("fault1-shutdown");
  std::string spec = ReadAll(SMFG_SOURCE_DIR "/configs/three_bus.textproto");
  ASSERT_NE(spec.find("  days: 100 "), std::string::npos);
  // The reference search stops between its evaluations; without it the first
  // busy phase is the leader's first outer iteration, which only stops at its
  // end, so the process has to exit without waiting for it.
  ASSERT_NE(spec.find("  max_evaluations: 300\n"), std::string::npos);
  spec = absl::StrReplaceAll(
      spec, {{"  days: 100 ", "  days: 60 "}, {"  max_evaluations: 300\n", "  disabled: true\n"}});
  const std::string spec_path = (dir / "big.textproto").string();
  std::ofstream(spec_path) << spec;
  std::string address;
  auto coordinator = StartCoordinator(dir, "coordinator.log",
                                      {"--local_threads=1", "--shutdown_timeout_s=2"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  absl::StatusOr<std::string> id = testing_util::Submit(Plain(address), spec_path, "big");
  ASSERT_THAT(id, IsOk());
  absl::StatusOr<v1::Experiment> running = WaitFor(
      address, *id,
      [](const v1::Experiment& e) { return e.status() == v1::RUNNING && e.message().empty(); },
      absl::Minutes(2));
  ASSERT_THAT(running, IsOk());
  ASSERT_EQ(running->status(), v1::RUNNING) << running->message();
  ASSERT_EQ(running->outer_iteration(), -1) << "the first iteration is still being computed";
  const absl::Time signalled = absl::Now();
  kill(coordinator->pid(), SIGTERM);
  int status = 0;
  ASSERT_TRUE(ExitedWithin(*coordinator, absl::Seconds(15), &status))
      << "still running 15 s after SIGTERM";
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(10));
  EXPECT_THAT(ReadAll((dir / "coordinator.log").string()), HasSubstr("exiting without waiting"));

  // The next coordinator takes the run up again.
  std::string again;
  auto second = StartCoordinator(dir, "coordinator2.log",
                                 {"--local_threads=1", "--shutdown_timeout_s=2"}, &again);
  ASSERT_FALSE(again.empty()) << ReadAll((dir / "coordinator2.log").string());
  absl::StatusOr<v1::Experiment> resumed = WaitFor(
      again, *id, [](const v1::Experiment& e) { return e.status() == v1::RUNNING; },
      absl::Minutes(1));
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(resumed->status(), v1::RUNNING);
  second->Kill();
}

// ---- 2 ---------------------------------------------------------------------

TEST(HardeningTest, Fault2_RestoredBackupNeverResumesAnotherExperiment) {
  const fs::path dir = FreshDir("fault2");
  const fs::path db = dir / "data" / "smfg.db";
  const fs::path backup = dir / "smfg.db.backup";
  const std::string spec_x = WriteSmallSpec(dir, 2);
  {
    // The backup: a store holding no experiment yet (a clean stop folds the
    // WAL into smfg.db, as OPERATIONS.md's backup procedure requires).
    std::string address;
    auto c = StartCoordinator(dir, "c1.log", {"--local_threads=1"}, &address);
    ASSERT_FALSE(address.empty());
    ASSERT_EQ(c->Stop(absl::Seconds(30)), 0);
    fs::copy_file(db, backup);
  }
  {
    std::string address;
    auto c = StartCoordinator(dir, "c2.log", {"--local_threads=1"}, &address);
    ASSERT_FALSE(address.empty());
    absl::StatusOr<std::string> x = testing_util::Submit(Plain(address), spec_x, "x");
    ASSERT_THAT(x, IsOk());
    EXPECT_EQ(*x, "exp-000001");
    std::string progress;
    ASSERT_THAT(testing_util::WatchToEnd(Plain(address), *x, &progress), IsOk()) << progress;
    ASSERT_EQ(c->Stop(absl::Seconds(30)), 0);
  }
  ASSERT_TRUE(fs::exists(dir / "data" / "checkpoints" / "exp-000001"));
  // Restore the backup.
  fs::copy_file(backup, db, fs::copy_options::overwrite_existing);
  fs::remove(dir / "data" / "smfg.db-wal");
  fs::remove(dir / "data" / "smfg.db-shm");

  // Another spec (3 iterations instead of 2): its experiment must start afresh.
  const fs::path y_dir = dir / "y";
  fs::create_directories(y_dir);
  const std::string spec_y = WriteSmallSpec(y_dir, 3);
  std::string address;
  auto c = StartCoordinator(dir, "c3.log", {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "c3.log").string());
  absl::StatusOr<std::string> y = testing_util::Submit(Plain(address), spec_y, "y");
  ASSERT_THAT(y, IsOk());
  EXPECT_EQ(*y, "exp-000002") << "exp-000001 was given out before the backup was restored";
  std::string progress;
  ASSERT_THAT(testing_util::WatchToEnd(Plain(address), *y, &progress), IsOk()) << progress;
  EXPECT_THAT(ReadAll((dir / "c3.log").string()), Not(HasSubstr("resumed")));
  ASSERT_THAT(testing_util::DownloadResults(Plain(address), *y, dir / "remote"), IsOk());
  testing_util::TrainLocally(spec_y, dir / "local");
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()),
            ReadAll((dir / "local" / "comparison.json").string()));
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);
}

TEST(HardeningTest, Fault2_EmptyDatabaseNextToCheckpointsIsRefused) {
  const fs::path dir = FreshDir("fault2-empty");
  fs::create_directories(dir / "data" / "checkpoints" / "exp-000007");
  std::ofstream(dir / "data" / "checkpoints" / "exp-000007" / "checkpoint.pb") << "x";
  std::ofstream(dir / "data" / "smfg.db");  // zero bytes
  std::string address;
  auto c = StartCoordinator(dir, "coordinator.log", {"--local_threads=1"}, &address);
  EXPECT_TRUE(address.empty());
  int status = 0;
  ASSERT_TRUE(ExitedWithin(*c, absl::Seconds(30), &status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_THAT(ReadAll((dir / "coordinator.log").string()),
              AllOf(HasSubstr("holds the checkpoints of 1 experiment"),
                    HasSubstr("restore smfg.db from a backup")));
  EXPECT_EQ(fs::file_size(dir / "data" / "smfg.db"), 0u) << "nothing may be changed";
}

// ---- 3 ---------------------------------------------------------------------

TEST(HardeningTest, Fault3_WorkerIdsAreNotReusedAfterACoordinatorRestart) {
  const fs::path dir = FreshDir("fault3");
  std::string address;
  auto first = StartCoordinator(dir, "c1.log", {}, &address);
  ASSERT_FALSE(address.empty());
  auto a = StartWorker(dir, address, "alpha");
  auto b = StartWorker(dir, address, "beta");
  const fs::path log1 = dir / "c1.log";
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    const std::string text = ReadAll(log1.string());
    if (text.find("(alpha,") != std::string::npos && text.find("(beta,") != std::string::npos)
      break;
    absl::SleepFor(absl::Milliseconds(50));  // another process's log: nothing to wait on
  }
  first->Kill();
  // The same port, a new coordinator: the surviving workers' old ids must be
  // refused and each must register again under a new id.
  const std::string port = address.substr(address.rfind(':') + 1);
  std::string again;
  auto second = StartCoordinator(dir, "c2.log", {"--listen=127.0.0.1:" + port}, &again);
  ASSERT_EQ(again, address) << ReadAll((dir / "c2.log").string());
  const fs::path log2 = dir / "c2.log";
  ASSERT_TRUE(testing_util::WaitForLogLine(log2, "(alpha,", absl::Now() + absl::Seconds(60)));
  ASSERT_TRUE(testing_util::WaitForLogLine(log2, "(beta,", absl::Now() + absl::Seconds(60)));
  const std::string spec = WriteSmallSpec(dir, 2);
  absl::StatusOr<std::string> id = testing_util::Submit(Plain(address), spec, "after-restart");
  ASSERT_THAT(id, IsOk());
  std::string progress;
  ASSERT_THAT(testing_util::WatchToEnd(Plain(address), *id, &progress), IsOk()) << progress;
  const std::string log = ReadAll(log2.string());
  EXPECT_THAT(log, Not(HasSubstr("reassigning"))) << "two processes shared a worker id";
  // Ids carry the pool's incarnation: the two coordinators' ids differ.
  const std::string old_log = ReadAll(log1.string());
  const auto id_of = [](const std::string& text, const std::string& name) {
    const size_t at = text.find("(" + name + ",");
    const size_t start = text.rfind("registered ", at) + std::string("registered ").size();
    return text.substr(start, at - 1 - start);
  };
  EXPECT_NE(id_of(old_log, "alpha"), id_of(log, "alpha"));
  EXPECT_NE(id_of(log, "alpha"), id_of(log, "beta"));
  ASSERT_THAT(testing_util::DownloadResults(Plain(address), *id, dir / "remote"), IsOk());
  testing_util::TrainLocally(spec, dir / "local");
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()),
            ReadAll((dir / "local" / "comparison.json").string()));
  EXPECT_EQ(second->Stop(absl::Seconds(30)), 0);
}

// ---- 4 ---------------------------------------------------------------------

TEST(HardeningTest, Fault4_CancelDuringSetUpAlwaysEndsCancelled) {
  const fs::path dir = FreshDir("fault4-cancel");
  std::string address;
  auto c = StartCoordinator(dir, "coordinator.log", {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty());
  const v1::ExperimentSpec spec = EffectiveSpec(WriteSmallSpec(dir, 2));
  for (int k = 0; k < 6; ++k) {
    absl::StatusOr<std::string> id = SubmitMessage(address, spec, absl::StrCat("race-", k));
    ASSERT_THAT(id, IsOk());
    // Some cancels land while queued, some during set-up, some later.
    if (k % 2 == 1) absl::SleepFor(absl::Milliseconds(20 * k));
    ASSERT_THAT(Cancel(address, *id), IsOk());
    absl::StatusOr<v1::Experiment> end = WaitFor(address, *id, IsTerminal, absl::Minutes(1));
    ASSERT_THAT(end, IsOk());
    EXPECT_EQ(end->status(), v1::CANCELLED) << k << ": " << end->message();
  }
  EXPECT_THAT(ReadAll((dir / "coordinator.log").string()),
              Not(HasSubstr("illegal status transition")));
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);
}

TEST(HardeningTest, Fault4_HugeLeaderNetworkIsRefusedWithTheEstimate) {
  const fs::path dir = FreshDir("fault4-huge");
  std::string address;
  auto c = StartCoordinator(dir, "coordinator.log", {}, &address);
  ASSERT_FALSE(address.empty());
  v1::ExperimentSpec spec = EffectiveSpec(WriteSmallSpec(dir, 2));
  spec.mutable_learner()->clear_hidden_sizes();
  for (int i = 0; i < 100; ++i) spec.mutable_learner()->add_hidden_sizes(4096);
  EXPECT_THAT(SubmitMessage(address, spec, "huge"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("spec.learner.hidden_sizes: the run would need about"),
                             HasSubstr("parameters"), HasSubstr("budget"))));
  EXPECT_EQ(testing_util::HealthCheck(address), "SERVING");
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);
}

// ---- 5 ---------------------------------------------------------------------

TEST(HardeningTest, Fault5_ReadOnlyStoreFailsAtStart) {
  const fs::path dir = FreshDir("fault5");
  {
    std::string address;
    auto c = StartCoordinator(dir, "c1.log", {}, &address);
    ASSERT_FALSE(address.empty());
    ASSERT_EQ(c->Stop(absl::Seconds(30)), 0);
  }
  // The store as a user who may read but not write it: root ignores file
  // modes, so a root test runs the coordinator as `nobody`.
  std::vector<std::string> argv = {SMFG_COORDINATOR_BIN, "--listen=127.0.0.1:0",
                                   "--data_dir=" + (dir / "data").string()};
  if (geteuid() == 0) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      fs::permissions(entry.path(), entry.is_directory() ? fs::perms(0755) : fs::perms(0644));
    }
    fs::permissions(dir, fs::perms(0755));
    argv.insert(argv.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  } else {
    for (const auto& entry : fs::recursive_directory_iterator(dir / "data")) {
      fs::permissions(entry.path(),
                      fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                      fs::perm_options::remove);
    }
    fs::permissions(dir / "data", fs::perms::owner_write, fs::perm_options::remove);
  }
  const std::string log = (dir / "readonly.log").string();
  Child c(argv, log, /*capture_stdout=*/true);
  const std::string line = c.ReadLine(absl::Seconds(30));
  EXPECT_THAT(line, Not(HasSubstr("listening on"))) << "a store it cannot write must not be served";
  int status = 0;
  ASSERT_TRUE(ExitedWithin(c, absl::Seconds(30), &status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << "\n" << ReadAll(log);
  EXPECT_THAT(ReadAll(log),
              AllOf(HasSubstr("smfg.db"),
                    testing::AnyOf(HasSubstr("read-only"), HasSubstr("cannot be written"))));
  fs::permissions(dir / "data", fs::perms::owner_all, fs::perm_options::add);
}

// ---- 6 ---------------------------------------------------------------------

TEST(HardeningTest, Fault6_BoundedStringsPagedListAndDelete) {
  const fs::path dir = FreshDir("fault6");
  std::string address;
  // No worker: experiments wait, so they stay cheap.
  auto c = StartCoordinator(dir, "coordinator.log", {"--max_concurrent=1"}, &address);
  ASSERT_FALSE(address.empty());
  v1::ExperimentSpec spec = EffectiveSpec(WriteSmallSpec(dir, 1));
  v1::ExperimentSpec huge = spec;
  huge.set_name(std::string(5 << 20, 'n'));
  EXPECT_THAT(SubmitMessage(address, huge, "huge-name"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("spec.name: 5242880 bytes, at most 200")));
  std::vector<std::string> ids;
  for (int k = 0; k < 7; ++k) {
    spec.set_name(absl::StrCat("e", k));
    absl::StatusOr<std::string> id = SubmitMessage(address, spec, absl::StrCat("k", k));
    ASSERT_THAT(id, IsOk());
    ids.push_back(*id);
  }
  // Pages of 3, newest first, with a default-limit client.
  std::vector<std::string> listed;
  v1::ListExperimentsRequest request;
  request.set_page_size(3);
  int pages = 0;
  do {
    v1::ListExperimentsResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    ASSERT_THAT(Stub(address)->List(&context, request, &response), IsOk());
    EXPECT_LE(response.experiments_size(), 3);
    for (const auto& e : response.experiments()) listed.push_back(e.id());
    request.set_page_token(response.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, std::vector<std::string>(ids.rbegin(), ids.rend()));
  {
    grpc::ClientContext context;
    Prepare(&context);
    request.set_page_token("garbage");
    v1::ListExperimentsResponse response;
    EXPECT_THAT(Stub(address)->List(&context, request, &response),
                StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token: ")));
  }
  // Delete: only once finished; then it is gone with its checkpoints.
  const auto remove = [&](const std::string& id) {
    v1::DeleteRequest del;
    del.set_id(id);
    v1::DeleteResponse ignored;
    grpc::ClientContext context;
    Prepare(&context);
    return Stub(address)->Delete(&context, del, &ignored);
  };
  EXPECT_THAT(remove(ids[0]), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(Cancel(address, ids[0]), IsOk());
  ASSERT_THAT(WaitFor(address, ids[0], IsTerminal, absl::Minutes(1)), IsOk());
  EXPECT_THAT(remove(ids[0]), IsOk());
  EXPECT_THAT(GetExperiment(Plain(address), ids[0]), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(fs::exists(dir / "data" / "checkpoints" / ids[0]));
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);
}

// ---- 7 ---------------------------------------------------------------------

TEST(HardeningTest, Fault7_CancelWhileWaitingForWorkersIsImmediate) {
  const fs::path dir = FreshDir("fault7");
  std::string address;
  auto c = StartCoordinator(dir, "coordinator.log",
                            {"--max_concurrent=1", "--worker_wait_timeout_s=3600"}, &address);
  ASSERT_FALSE(address.empty());
  const v1::ExperimentSpec spec = EffectiveSpec(WriteSmallSpec(dir, 1));
  absl::StatusOr<std::string> first = SubmitMessage(address, spec, "first");
  absl::StatusOr<std::string> second = SubmitMessage(address, spec, "second");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  const auto waiting = [](const v1::Experiment& e) {
    return e.status() == v1::WAITING_FOR_WORKERS;
  };
  ASSERT_THAT(WaitFor(address, *first, waiting, absl::Minutes(1)), IsOk());
  ASSERT_EQ(GetExperiment(Plain(address), *first)->status(), v1::WAITING_FOR_WORKERS);
  const absl::Time cancelled = absl::Now();
  ASSERT_THAT(Cancel(address, *first), IsOk());
  absl::StatusOr<v1::Experiment> end = WaitFor(address, *first, IsTerminal, absl::Seconds(20));
  ASSERT_THAT(end, IsOk());
  EXPECT_EQ(end->status(), v1::CANCELLED) << end->message();
  EXPECT_LT(absl::Now() - cancelled, absl::Seconds(10));
  // The queue moves on.
  absl::StatusOr<v1::Experiment> next = WaitFor(address, *second, waiting, absl::Seconds(20));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->status(), v1::WAITING_FOR_WORKERS);
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);
}

// ---- 8 ---------------------------------------------------------------------

grpc::Status RawUnaryCall(const std::string& address, const std::string& method,
                          const std::string& bytes, const std::string& authorization) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  Prepare(&context, authorization);
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

TEST(HardeningTest, Fault8_SmallerOnes) {
  const fs::path dir = FreshDir("fault8");
  std::string address;
  auto c =
      StartCoordinator(dir, "coordinator.log", {}, &address, {"SMFG_API_TOKEN=api-secret-0815"});
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  // The scheme in any case.
  for (const char* scheme : {"Bearer ", "bearer ", "BEARER "}) {
    grpc::ClientContext context;
    Prepare(&context, std::string(scheme) + "api-secret-0815");
    v1::ListExperimentsResponse response;
    EXPECT_THAT(Stub(address)->List(&context, v1::ListExperimentsRequest(), &response), IsOk())
        << scheme;
  }
  // The token is checked before the request is decoded.
  const std::string garbage("\x0a\x7f\x0f\xff\xff", 5);
  EXPECT_THAT(RawUnaryCall(address, "/smfg.v1.ExperimentService/Submit", garbage, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(
      RawUnaryCall(address, "/smfg.v1.ExperimentService/Submit", garbage, "Bearer api-secret-0815"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("does not decode as smfg.v1.SubmitRequest")));
  // Everything the run checks is checked at Submit.
  v1::ExperimentSpec spec = EffectiveSpec(WriteSmallSpec(dir, 1));
  spec.mutable_scenario()->set_households_represented(1e12);
  v1::SubmitRequest submit;
  *submit.mutable_spec() = spec;
  submit.set_idempotency_key("big-scale");
  v1::SubmitResponse ignored;
  grpc::ClientContext context;
  Prepare(&context, "Bearer api-secret-0815");
  EXPECT_THAT(Stub(address)->Submit(&context, submit, &ignored),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("spec.scenario.households_represented: must be <= 1e+09")));
  EXPECT_EQ(c->Stop(absl::Seconds(30)), 0);

  // --help names source files relative to the project, not the build machine.
  for (const char* bin : {SMFG_COORDINATOR_BIN, SMFG_WORKER_BIN, SMFG_CLIENT_BIN}) {
    const std::string out = (dir / "help.txt").string();
    Child help({bin, "--help"}, out, /*capture_stdout=*/false);
    help.Wait(absl::Seconds(30));
    const std::string text = ReadAll(out);
    EXPECT_THAT(text, HasSubstr("--")) << bin;  // it printed its flags
    EXPECT_THAT(text, Not(HasSubstr(SMFG_SOURCE_DIR))) << bin;
  }
}

}  // namespace
}  // namespace smfg
