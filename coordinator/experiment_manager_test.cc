// ExperimentManager + ExperimentServiceImpl over in-process gRPC, with a
// LocalPopulationEvaluator (no workers) on a 2-day, 2-iteration three_bus_small.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "config/spec_loader.h"
#include "coordinator/experiment_service.h"
#include "environment/population_evaluator.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "training/iteration_record.h"
#include "training/trainer_params.h"

namespace smfg::coordinator {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kRunDeadline = absl::Minutes(5);

v1::ExperimentSpec SmallSpec(int iterations = 2) {
  absl::StatusOr<config::LoadedSpec> loaded =
      training::LoadExperimentFile("configs/three_bus_small.textproto");
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  v1::ExperimentSpec s = loaded.ok() ? loaded->spec : v1::ExperimentSpec();
  s.mutable_scenario()->set_days(2);
  s.mutable_loop()->set_max_iterations(iterations);
  // One rollout of the 2-day pool per update, a short reference search.
  s.mutable_learner()->clear_rollout_days_per_update();
  s.mutable_reference()->set_max_evaluations(6);
  return s;
}

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) /
                       (name + "-" + std::to_string(::getpid()) + "-" +
                        testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  return dir.string();
}

// A record without its wall-time figures, which differ between runs.
std::string WithoutWallTime(v1::IterationRecord record) {
  record.clear_seconds();
  record.clear_bytes();
  return record.SerializeAsString();
}

// A local evaluator that, like a remote one with no worker, calls
// `on_waiting` and blocks until `workers_arrived` is notified.
class WaitingEvaluator final : public env::PopulationEvaluator {
 public:
  WaitingEvaluator(const env::Scenario& sc, absl::Notification* workers_arrived,
                   std::function<void()> on_waiting)
      : local_(sc, 1), workers_arrived_(workers_arrived), on_waiting_(std::move(on_waiting)) {}
  absl::StatusOr<env::PopulationStats> Evaluate(const env::Tariff& tariff,
                                                const env::PriceBelief& belief) override {
    if (!workers_arrived_->HasBeenNotified()) on_waiting_();
    if (!workers_arrived_->WaitForNotificationWithTimeout(kRunDeadline)) {
      return absl::UnavailableError("no worker");
    }
    return local_.Evaluate(tariff, belief);
  }
  absl::StatusOr<env::ExploitabilityStats> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override {
    return local_.Exploitability(tariff, belief, realised);
  }

 private:
  env::LocalPopulationEvaluator local_;
  absl::Notification* workers_arrived_;
  std::function<void()> on_waiting_;
};

// A coordinator in this process: store, manager, in-process gRPC server.
class Coordinator {
 public:
  explicit Coordinator(const std::string& data_dir,
                       std::function<bool(const std::string&, int)> hook = nullptr,
                       bool start = true, std::function<int()> live_workers = nullptr,
                       absl::Notification* workers_arrived = nullptr) {
    auto store = ExperimentStore::Open(data_dir);
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ExperimentManagerParams p;
    p.store = store_.get();
    p.evaluator_factory = [workers_arrived](const std::string&, const env::Scenario& sc,
                                            std::function<void()> on_waiting)
        -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
      if (workers_arrived != nullptr) {
        return std::make_unique<WaitingEvaluator>(sc, workers_arrived, std::move(on_waiting));
      }
      return std::make_unique<env::LocalPopulationEvaluator>(sc, 1);
    };
    p.live_workers = std::move(live_workers);
    p.poll_interval = absl::Milliseconds(50);
    p.continue_after_iteration_for_testing = std::move(hook);
    auto manager = ExperimentManager::Create(std::move(p));
    EXPECT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
    service_ = std::make_unique<ExperimentServiceImpl>(manager_.get());
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::ExperimentService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    if (start) manager_->Start();
  }
  ~Coordinator() {
    manager_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  v1::ExperimentService::Stub& stub() { return *stub_; }
  ExperimentManager& manager() { return *manager_; }

  static void SetDeadline(grpc::ClientContext* context, absl::Duration d = absl::Seconds(30)) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }

  grpc::Status Submit(const v1::ExperimentSpec& spec, const std::string& key,
                      v1::SubmitResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::SubmitRequest request;
    *request.mutable_spec() = spec;
    request.set_idempotency_key(key);
    return stub_->Submit(&context, request, response);
  }

  // Watches `id` to its end; returns the events and the stream's status.
  // `on_event` is called on each event as it arrives.
  grpc::Status WatchToEnd(const std::string& id, std::vector<v1::WatchEvent>* events,
                          const std::function<void(const v1::WatchEvent&)>& on_event = nullptr) {
    grpc::ClientContext context;
    SetDeadline(&context, kRunDeadline);
    v1::WatchRequest request;
    request.set_id(id);
    auto reader = stub_->Watch(&context, request);
    v1::WatchEvent event;
    while (reader->Read(&event)) {
      if (on_event) on_event(event);
      events->push_back(event);
    }
    return reader->Finish();
  }

  std::map<std::string, std::string> Results(const std::string& id) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::GetResultsRequest request;
    request.set_id(id);
    auto reader = stub_->GetResults(&context, request);
    std::map<std::string, std::string> files;
    v1::ResultChunk chunk;
    while (reader->Read(&chunk)) {
      EXPECT_EQ(chunk.offset(), static_cast<int64_t>(files[chunk.path()].size())) << chunk.path();
      files[chunk.path()] += chunk.data();
    }
    const grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return files;
  }

 private:
  std::unique_ptr<ExperimentStore> store_;
  std::unique_ptr<ExperimentManager> manager_;
  std::unique_ptr<ExperimentServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

std::vector<std::string> MetricsOf(const std::vector<v1::WatchEvent>& events) {
  std::vector<std::string> rows;
  for (const auto& e : events) {
    for (const auto& r : e.records()) rows.push_back(WithoutWallTime(r));
  }
  return rows;
}

TEST(ExperimentServiceTest, SubmitWatchToSucceededWithResults) {
  Coordinator c(FreshDir("svc"));
  v1::SubmitResponse submitted;
  ASSERT_TRUE(c.Submit(SmallSpec(), "key-1", &submitted).ok());
  EXPECT_TRUE(submitted.created());
  EXPECT_EQ(submitted.experiment_id(), "exp-000001");

  std::vector<v1::WatchEvent> events;
  const grpc::Status s = c.WatchToEnd(submitted.experiment_id(), &events);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().experiment().status(), v1::SUCCEEDED)
      << events.back().experiment().message();
  EXPECT_EQ(events.back().experiment().outer_iteration(), 2);
  std::vector<int64_t> iterations;
  for (const auto& e : events) {
    for (const auto& r : e.records()) iterations.push_back(r.iteration());
  }
  EXPECT_EQ(iterations, (std::vector<int64_t>{1, 2}));
  // The manager counts every equilibrium the run solved once (the metric
  // smfg_equilibria_total): each record's, and the reference search's (1 to
  // its budget of 6, one per evaluation).
  int64_t in_records = 0;
  for (const auto& e : events) {
    for (const auto& r : e.records()) {
      in_records += r.equilibria().converged() + training::NotConverged(r.equilibria());
    }
  }
  EXPECT_GE(in_records, 2 * 2);  // at least one rollout and one evaluation each
  const v1::EquilibriumEnds totals = c.manager().EquilibriumEndTotals();
  const int64_t counted = totals.converged() + training::NotConverged(totals);
  EXPECT_GE(counted - in_records, 1);
  EXPECT_LE(counted - in_records, 6);

  const auto files = c.Results(submitted.experiment_id());
  for (const char* name :
       {"comparison.json", "learned_tariff.json", "learned_tariff.csv", "metrics.jsonl",
        "metrics.csv", "plots/convergence.svg", "summary.json", "learned/report.json"}) {
    EXPECT_EQ(files.count(name), 1u) << name;
  }
  EXPECT_THAT(files.count("comparison.json") ? files.at("comparison.json") : "",
              HasSubstr("\"learned\""));

  grpc::ClientContext context;
  Coordinator::SetDeadline(&context);
  v1::ListExperimentsRequest list;
  list.set_status(v1::SUCCEEDED);
  v1::ListExperimentsResponse listed;
  ASSERT_TRUE(c.stub().List(&context, list, &listed).ok());
  ASSERT_EQ(listed.experiments_size(), 1);
  EXPECT_EQ(listed.experiments(0).id(), submitted.experiment_id());
}

TEST(ExperimentServiceTest, CreateRejectsIncompleteParams) {
  auto store = ExperimentStore::Open(FreshDir("svc"));
  ASSERT_TRUE(store.ok()) << store.status();
  ExperimentManagerParams p;
  EXPECT_TRUE(absl::IsInvalidArgument(ExperimentManager::Create(p).status()));
  p.store = store->get();
  EXPECT_THAT(ExperimentManager::Create(p).status().message(), HasSubstr("evaluator_factory"));
  p.evaluator_factory =
      [](const std::string&, const env::Scenario& sc,
         std::function<void()>) -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
    return std::make_unique<env::LocalPopulationEvaluator>(sc, 1);
  };
  p.max_concurrent = 0;
  EXPECT_THAT(ExperimentManager::Create(p).status().message(), HasSubstr("max_concurrent"));
  p.max_concurrent = 2;
  EXPECT_TRUE(ExperimentManager::Create(p).ok());
}

TEST(ExperimentServiceTest, SubmitIsIdempotentPerKey) {
  Coordinator c(FreshDir("svc"), nullptr, /*start=*/false);
  v1::SubmitResponse first, again, other;
  ASSERT_TRUE(c.Submit(SmallSpec(), "k", &first).ok());
  ASSERT_TRUE(c.Submit(SmallSpec(), "k", &again).ok());
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(first.experiment_id(), again.experiment_id());
  const grpc::Status s = c.Submit(SmallSpec(3), "k", &other);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists)) << s.error_message();
  ASSERT_TRUE(c.Submit(SmallSpec(3), "k2", &other).ok());
  EXPECT_NE(other.experiment_id(), first.experiment_id());
}

TEST(ExperimentServiceTest, InvalidSpecNamesTheFieldPath) {
  Coordinator c(FreshDir("svc"), nullptr, /*start=*/false);
  v1::ExperimentSpec spec = SmallSpec();
  spec.mutable_scenario()->set_days(-3);
  v1::SubmitResponse response;
  grpc::Status s = c.Submit(spec, "bad", &response);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  // The path from the request's root, no file or line of a server rendering.
  EXPECT_THAT(s.error_message(), StartsWith("spec.scenario.days: "));

  spec = SmallSpec();
  spec.mutable_learner()->set_clip_epsilon(1.5);
  s = c.Submit(spec, "bad-learner", &response);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.error_message(), StartsWith("spec.learner.clip_epsilon: "));

  // The coordinator never opens a path a client sent.
  spec = SmallSpec();
  spec.mutable_scenario()->set_matpower_file("/etc/passwd");
  s = c.Submit(spec, "file", &response);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.error_message(), StartsWith("spec.scenario.matpower_file: "));
  EXPECT_THAT(s.error_message(), HasSubstr("never opens a file"));

  s = c.Submit(SmallSpec(), "", &response);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.error_message(), HasSubstr("idempotency_key"));
}

TEST(ExperimentServiceTest, UnknownIdIsNotFound) {
  Coordinator c(FreshDir("svc"));
  {
    grpc::ClientContext context;
    Coordinator::SetDeadline(&context);
    v1::GetExperimentRequest request;
    request.set_id("exp-424242");
    v1::Experiment response;
    EXPECT_THAT(c.stub().Get(&context, request, &response), StatusIs(absl::StatusCode::kNotFound));
  }
  {
    grpc::ClientContext context;
    Coordinator::SetDeadline(&context);
    v1::CancelRequest request;
    request.set_id("exp-424242");
    v1::Experiment response;
    EXPECT_THAT(c.stub().Cancel(&context, request, &response),
                StatusIs(absl::StatusCode::kNotFound));
  }
  {
    grpc::ClientContext context;
    Coordinator::SetDeadline(&context);
    v1::GetResultsRequest request;
    request.set_id("exp-424242");
    auto reader = c.stub().GetResults(&context, request);
    v1::ResultChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kNotFound));
  }
  std::vector<v1::WatchEvent> events;
  EXPECT_THAT(c.WatchToEnd("exp-424242", &events), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(events.empty());
}

TEST(ExperimentServiceTest, CancelQueuedAndRunning) {
  // Queued: nothing runs (the manager is not started), cancel is immediate.
  {
    Coordinator c(FreshDir("svc-q"), nullptr, /*start=*/false);
    v1::SubmitResponse submitted;
    ASSERT_TRUE(c.Submit(SmallSpec(), "k", &submitted).ok());
    grpc::ClientContext context;
    Coordinator::SetDeadline(&context);
    v1::CancelRequest request;
    request.set_id(submitted.experiment_id());
    v1::Experiment response;
    ASSERT_TRUE(c.stub().Cancel(&context, request, &response).ok());
    EXPECT_EQ(response.status(), v1::CANCELLED);
  }
  // Running: cancelled after its first outer iteration, it stops there.
  ExperimentManager* manager = nullptr;
  Coordinator c(FreshDir("svc-r"), [&manager](const std::string& id, int iteration) {
    if (iteration == 1) {
      EXPECT_TRUE(manager->Cancel(id).ok());
    }
    return true;
  });
  manager = &c.manager();
  v1::SubmitResponse submitted;
  ASSERT_TRUE(c.Submit(SmallSpec(3), "k", &submitted).ok());
  std::vector<v1::WatchEvent> events;
  ASSERT_TRUE(c.WatchToEnd(submitted.experiment_id(), &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().experiment().status(), v1::CANCELLED);
  EXPECT_EQ(events.back().experiment().outer_iteration(), 1);
  EXPECT_THAT(c.manager().Results(submitted.experiment_id()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CANCELLED")));
}

// Watches experiment `id` to its end and returns the distinct successive
// statuses seen. The first WAITING_FOR_WORKERS event is passed to
// `on_first_wait`, then `workers_arrived` is notified (also on failure, so a
// blocked run never hangs the test).
std::vector<v1::ExperimentState> WatchStatuses(
    Coordinator& c, const std::string& id, absl::Notification& workers_arrived,
    const std::function<void(const v1::WatchEvent&)>& on_first_wait) {
  std::vector<v1::ExperimentState> states;
  std::vector<v1::WatchEvent> events;
  const grpc::Status s = c.WatchToEnd(id, &events, [&](const v1::WatchEvent& e) {
    if (states.empty() || states.back() != e.experiment().status()) {
      states.push_back(e.experiment().status());
    }
    if (e.experiment().status() == v1::WAITING_FOR_WORKERS && !workers_arrived.HasBeenNotified()) {
      on_first_wait(e);
      workers_arrived.Notify();
    }
  });
  if (!workers_arrived.HasBeenNotified()) workers_arrived.Notify();
  EXPECT_TRUE(s.ok()) << s.error_message();
  return states;
}

// WAITING_FOR_WORKERS, then RUNNING again, and finally SUCCEEDED.
void ExpectWaitedThenSucceeded(const std::vector<v1::ExperimentState>& states) {
  ASSERT_FALSE(states.empty());
  const auto waiting = std::find(states.begin(), states.end(), v1::WAITING_FOR_WORKERS);
  ASSERT_NE(waiting, states.end()) << "never showed WAITING_FOR_WORKERS";
  EXPECT_NE(std::find(waiting, states.end(), v1::RUNNING), states.end());
  EXPECT_EQ(states.back(), v1::SUCCEEDED);
}

TEST(ExperimentServiceTest, WaitsForWorkersVisiblyThenRuns) {
  std::atomic<int> live{0};
  absl::Notification workers_arrived;
  Coordinator c(
      FreshDir("svc"), nullptr, /*start=*/true, [&live] { return live.load(); }, &workers_arrived);
  v1::SubmitResponse submitted;
  ASSERT_TRUE(c.Submit(SmallSpec(), "k", &submitted).ok());
  ExpectWaitedThenSucceeded(WatchStatuses(
      c, submitted.experiment_id(), workers_arrived, [&live](const v1::WatchEvent& e) {
        EXPECT_THAT(e.experiment().message(), HasSubstr("no live worker"));
        live = 1;
      }));
}

// Workers all vanish inside an iteration (live_workers() still said 1 at the
// iteration boundary): the evaluator's callback shows WAITING_FOR_WORKERS at
// once, and the run is RUNNING again when they come back. live_workers() is
// always 1, so only that callback can set WAITING_FOR_WORKERS.
TEST(ExperimentServiceTest, WaitingInsideAnIterationIsVisibleAtOnce) {
  absl::Notification workers_arrived;
  Coordinator c(
      FreshDir("svc"), nullptr, /*start=*/true, [] { return 1; }, &workers_arrived);
  v1::SubmitResponse submitted;
  ASSERT_TRUE(c.Submit(SmallSpec(), "k", &submitted).ok());
  ExpectWaitedThenSucceeded(
      WatchStatuses(c, submitted.experiment_id(), workers_arrived, [](const v1::WatchEvent& e) {
        // inside the first iteration
        EXPECT_LT(e.experiment().outer_iteration(), 1);
      }));
}

TEST(ExperimentServiceTest, RestartedCoordinatorResumesFromCheckpointIdentically) {
  // Uninterrupted reference run.
  std::vector<std::string> reference_metrics;
  std::string reference_comparison;
  {
    Coordinator c(FreshDir("svc-ref"));
    v1::SubmitResponse submitted;
    ASSERT_TRUE(c.Submit(SmallSpec(3), "k", &submitted).ok());
    std::vector<v1::WatchEvent> events;
    ASSERT_TRUE(c.WatchToEnd(submitted.experiment_id(), &events).ok());
    ASSERT_EQ(events.back().experiment().status(), v1::SUCCEEDED);
    reference_metrics = MetricsOf(events);
    reference_comparison = c.Results(submitted.experiment_id())["comparison.json"];
  }
  ASSERT_EQ(reference_metrics.size(), 3u);

  // The same experiment, its coordinator "killed" after outer iteration 1.
  const std::string dir = FreshDir("svc-restart");
  std::string id;
  {
    absl::Notification stopped;
    Coordinator c(dir, [&stopped](const std::string&, int iteration) {
      if (iteration < 1) return true;
      stopped.Notify();
      return false;
    });
    v1::SubmitResponse submitted;
    ASSERT_TRUE(c.Submit(SmallSpec(3), "k", &submitted).ok());
    id = submitted.experiment_id();
    ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(kRunDeadline));
  }
  std::vector<int> rerun;  // iterations the restarted coordinator computed
  absl::Mutex rerun_mu;
  Coordinator restarted(dir, [&](const std::string&, int iteration) {
    absl::MutexLock lock(&rerun_mu);
    rerun.push_back(iteration);
    return true;
  });
  std::vector<v1::WatchEvent> events;
  ASSERT_TRUE(restarted.WatchToEnd(id, &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().experiment().status(), v1::SUCCEEDED)
      << events.back().experiment().message();
  EXPECT_EQ(MetricsOf(events), reference_metrics);
  EXPECT_EQ(restarted.Results(id)["comparison.json"], reference_comparison);
  absl::MutexLock lock(&rerun_mu);
  EXPECT_EQ(rerun, (std::vector<int>{2, 3}));  // resumed, not restarted from scratch
}

}  // namespace
}  // namespace smfg::coordinator
