// The real processes: smfg-coordinator and two smfg-worker on 127.0.0.1:0
// (the port read from the coordinator's stdout), driven with the client
// library; the distributed result must equal a local `smfg train` bit for bit.
// Every process is terminated (SIGTERM, then SIGKILL after a deadline) when
// the test ends, whether it passed or not.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/remote_commands.h"
#include "gmock/gmock.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "smfg/v1/experiment.grpc.pb.h"
#include "common/status.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A child process, terminated and reaped by the destructor.
class Child {
 public:
  // Starts `argv`; its stdout goes to a pipe (read with ReadLine) if
  // `capture_stdout`, else to `log_path`; stderr always to `log_path`.
  Child(std::vector<std::string> argv, const std::string& log_path, bool capture_stdout) {
    int fds[2] = {-1, -1};
    if (capture_stdout && pipe(fds) != 0) return;
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    // Built before fork(): the child may only make async-signal-safe calls.
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(capture_stdout ? fds[1] : log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    if (log >= 0) close(log);
    if (capture_stdout) {
      close(fds[1]);
      out_fd_ = fds[0];
    }
  }
  ~Child() {
    Stop(absl::Seconds(20));
    if (out_fd_ >= 0) close(out_fd_);
  }

  bool started() const { return pid_ > 0; }

  // One line of stdout, or "" at EOF / after `timeout`.
  std::string ReadLine(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string line;
    while (out_fd_ >= 0) {
      const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (ms <= 0) return "";
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
      char c;
      if (read(out_fd_, &c, 1) != 1) return "";
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  // SIGKILL, as a crash would; returns once the process is gone.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status as
  // waitpid reports it (-1 if it had to be killed or was not started).
  int Stop(absl::Duration grace) {
    if (pid_ <= 0) return -1;
    const pid_t pid = pid_;
    pid_ = -1;
    kill(pid, SIGTERM);
    bool exited = false;
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      exited = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(grace))) == 1;
      close(pidfd);
    }
    if (!exited) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return exited ? status : -1;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path FreshDir() {
  const fs::path dir =
      fs::path(testing::TempDir()) /
      absl::StrCat("smfg-mp-", getpid(), "-",
                   testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// three_bus_small cut to 2 days and `iterations` outer iterations, in `dir`.
std::string WriteSmallSpec(const fs::path& dir, int iterations) {
  std::string spec = ReadAll(SMFG_SOURCE_DIR "/configs/three_bus_small.textproto");
  EXPECT_THAT(spec, HasSubstr("  days: 10 "));
  EXPECT_THAT(spec, HasSubstr("  max_iterations: 60\n"));
  spec = absl::StrReplaceAll(
      spec, {{"  days: 10 ", "  days: 2 "},
             {"  max_iterations: 60\n", absl::StrCat("  max_iterations: ", iterations, "\n")}});
  const std::string path = (dir / "small.textproto").string();
  std::ofstream(path) << spec;
  return path;
}

// Starts smfg-coordinator on 127.0.0.1:0 and reads its address from stdout
// ("" if it did not come up within a minute).
std::unique_ptr<Child> StartCoordinator(const fs::path& dir, const std::string& log,
                                        std::vector<std::string> extra_flags,
                                        std::string* address) {
  std::vector<std::string> argv = {SMFG_COORDINATOR_BIN, "--listen=127.0.0.1:0",
                                   "--data_dir=" + (dir / "data").string()};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto child = std::make_unique<Child>(argv, (dir / log).string(), /*capture_stdout=*/true);
  const std::string line = child->ReadLine(absl::Seconds(60));
  const std::string prefix = "listening on 127.0.0.1:";
  address->clear();
  if (line.rfind(prefix, 0) == 0) *address = line.substr(std::string("listening on ").size());
  return child;
}

// grpc.health.v1.Health/Check for the whole server, through a generic stub
// (the health proto's stubs are not installed): the request is an empty
// HealthCheckRequest, SERVING is the response bytes 08 01 (status = 1).
std::string HealthCheck(const std::string& address) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  grpc::Slice empty;
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // bounded by the call's deadline
  if (!status.ok()) return "error: " + status.error_message();
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return "error: unreadable response";
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// Trains `spec_path` locally (`smfg train --threads 1`) into dir/local.
void TrainLocally(const std::string& spec_path, const fs::path& dir) {
  client::TrainOptions train;
  train.spec_path = spec_path;
  train.out_dir = (dir / "local").string();
  train.threads = 1;
  std::ostringstream train_out, train_progress;
  const absl::Status trained = client::RunTrain(train, train_out, train_progress);
  ASSERT_TRUE(trained.ok()) << trained;
}

// The client steps every test takes, as the `smfg` commands do them.
absl::StatusOr<std::string> Submit(const std::string& address, const std::string& spec_path,
                                   const std::string& key) {
  client::SubmitOptions submit;
  submit.remote.coordinator = address;
  submit.spec_path = spec_path;
  submit.key = key;
  std::ostringstream submitted;
  SMFG_RETURN_IF_ERROR(client::RunSubmit(submit, submitted));
  return submitted.str().substr(0, submitted.str().find('\n'));
}

// Streams Watch events until the first outer iteration's metrics are stored.
// Fails if the stream ends first or the experiment reports FAILED.
absl::Status WaitForFirstIteration(const std::string& address, const std::string& id) {
  auto stub = v1::ExperimentService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(5)));
  v1::WatchRequest request;
  request.set_id(id);
  auto reader = stub->Watch(&context, request);
  v1::WatchEvent event;
  absl::Status result = absl::DeadlineExceededError("watch ended before the first iteration");
  while (reader->Read(&event)) {
    if (event.experiment().status() == v1::FAILED) {
      result = absl::InternalError(event.experiment().message());
      break;
    }
    if (event.metrics_size() > 0) {
      result = absl::OkStatus();
      break;
    }
  }
  context.TryCancel();
  reader->Finish();
  return result;
}

// `smfg watch ID` until the experiment ends; the printed progress in *progress.
absl::Status WatchToEnd(const std::string& address, const std::string& id,
                        std::string* progress) {
  client::ExperimentIdOptions watch;
  watch.remote.coordinator = address;
  watch.id = id;
  watch.watch_timeout = absl::Minutes(10);
  std::ostringstream out;
  const absl::Status watched = client::RunWatch(watch, out);
  *progress = out.str();
  return watched;
}

// `smfg results ID --out dir/remote`.
absl::Status DownloadResults(const std::string& address, const std::string& id,
                             const fs::path& dir) {
  client::ResultsOptions results;
  results.remote.coordinator = address;
  results.id = id;
  results.out_dir = (dir / "remote").string();
  std::ostringstream ignored;
  return client::RunResults(results, ignored);
}

TEST(MultiProcessTest, CoordinatorWithTwoWorkersMatchesALocalRun) {
  const fs::path dir = FreshDir();
  const std::string spec_path = WriteSmallSpec(dir, 2);
  std::string address;
  std::unique_ptr<Child> coordinator_process =
      StartCoordinator(dir, "coordinator.log", {"--heartbeat_timeout_ms=5000"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  Child& coordinator = *coordinator_process;
  EXPECT_EQ(HealthCheck(address), std::string("\x08\x01"));
  Child worker1({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=w1"},
                (dir / "worker1.log").string(), false);
  Child worker2({SMFG_WORKER_BIN, "--coordinator=" + address, "--name=w2"},
                (dir / "worker2.log").string(), false);

  const absl::StatusOr<std::string> id = Submit(address, spec_path, "multiprocess");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "exp-000001");
  std::string progress;
  const absl::Status watched = WatchToEnd(address, *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(progress, HasSubstr("outer   2"));
  ASSERT_TRUE(DownloadResults(address, *id, dir).ok());

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

// True once `path` contains `text`, polling until `deadline` (a log written by
// another process: there is nothing to wait on but the file itself).
bool WaitForLogLine(const fs::path& path, const std::string& text, absl::Time deadline) {
  while (absl::Now() < deadline) {
    if (ReadAll(path.string()).find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return ReadAll(path.string()).find(text) != std::string::npos;
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

  const absl::StatusOr<std::string> id = Submit(address, spec_path, "killed-worker");
  ASSERT_TRUE(id.ok()) << id.status();
  // Kill one worker as soon as the first iteration's metrics are stored.
  const absl::Status first_iteration = WaitForFirstIteration(address, *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration;
  doomed.Kill();
  std::string progress;
  const absl::Status watched = WatchToEnd(address, *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_TRUE(WaitForLogLine(dir / "coordinator.log", "(doomed) missed its heartbeat",
                             absl::Now() + absl::Seconds(30)))
      << ReadAll((dir / "coordinator.log").string());
  ASSERT_TRUE(DownloadResults(address, *id, dir).ok());
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

  const absl::StatusOr<std::string> id = Submit(address, spec_path, "killed");
  ASSERT_TRUE(id.ok()) << id.status();
  // Watch until the first iteration's metrics are stored, then kill.
  const absl::Status first_iteration = WaitForFirstIteration(address, *id);
  ASSERT_TRUE(first_iteration.ok()) << first_iteration;
  first->Kill();

  std::unique_ptr<Child> second =
      StartCoordinator(dir, "coordinator2.log", {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator2.log").string());
  std::string progress;
  const absl::Status watched = WatchToEnd(address, *id, &progress);
  ASSERT_TRUE(watched.ok()) << watched << "\n" << progress;
  EXPECT_THAT(progress, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(ReadAll((dir / "coordinator2.log").string()),
              HasSubstr(*id + " resumed at outer iteration "));
  ASSERT_TRUE(DownloadResults(address, *id, dir).ok());
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

}  // namespace
}  // namespace smfg
