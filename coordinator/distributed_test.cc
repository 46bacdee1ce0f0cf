// End-to-end tests of the distributed population evaluation over in-process
// gRPC. coordinator/ may not include follower_workers/ (tests/layering_test),
// so the workers here are a minimal test client written against the
// generated stub; it computes with env::ShardKernel built from the scenario it
// receives over the wire, as smfg-worker does.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "coordinator/remote_evaluator.h"
#include "coordinator/worker_pool.h"
#include "coordinator/worker_service.h"
#include "environment/equilibrium.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "follower_workers/wire_convert.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace smfg::coordinator {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// The coordinator side: a WorkerPool behind an in-process gRPC server.
class Coordinator {
 public:
  explicit Coordinator(WorkerPoolOptions options = {}) : pool_(options), service_(&pool_) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~Coordinator() {
    pool_.Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }
  std::shared_ptr<grpc::Channel> Channel() {
    return server_->InProcessChannel(grpc::ChannelArguments());
  }
  WorkerPool& pool() { return pool_; }
  WorkerCounters Counters(const std::string& id) {
    for (const WorkerCounters& c : pool_.Workers()) {
      if (c.worker_id == id) return c;
    }
    ADD_FAILURE() << "no worker " << id;
    return {};
  }

 private:
  WorkerPool pool_;
  WorkerServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
};

// Computes a work item with a kernel of the item's own (wire) scenario.
std::vector<v1::ShardResult> ComputeItem(const env::ShardKernel& kernel, const v1::WorkItem& item) {
  std::vector<v1::ShardResult> out;
  const bool evaluate = item.kind() == v1::WORK_KIND_EVALUATE;
  const v1::WireTariff& wt = evaluate ? item.evaluate().tariff() : item.exploitability().tariff();
  const env::Tariff tariff = *workers::TariffFromProto(wt);
  const env::PriceBelief belief = *workers::BeliefFromProto(
      evaluate ? item.evaluate().belief() : item.exploitability().belief());
  for (int shard : item.shards()) {
    v1::ShardResult r;
    r.set_shard(shard);
    if (evaluate) {
      *r.mutable_population() = workers::StatsToProto(kernel.EvaluateShard(shard, tariff, belief));
    } else {
      const env::PriceBelief realised = *workers::BeliefFromProto(item.exploitability().realised());
      *r.mutable_exploitability() = workers::ExploitabilityToProto(
          kernel.ShardExploitability(shard, tariff, belief, realised));
    }
    out.push_back(std::move(r));
  }
  return out;
}

// A well-behaved worker: registers, long-polls, computes, submits, heartbeats
// between polls; re-registers when forgotten.
class TestWorker {
 public:
  explicit TestWorker(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::WorkerService::NewStub(channel)) {}
  ~TestWorker() { Stop(); }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      for (grpc::ClientContext* c : active_) c->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }
  int items() const { return items_.load(); }

 private:
  // Runs `call` with a cancellable context carrying `timeout`.
  template <typename Fn>
  grpc::Status Call(absl::Duration timeout, Fn call) {
    auto context = ContextWithDeadline(timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return grpc::Status(grpc::StatusCode::CANCELLED, "stopped");
      active_.insert(context.get());
    }
    grpc::Status status = call(context.get());
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(context.get());
    return status;
  }
  bool Stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

  void Run() {
    std::string id;
    absl::Duration poll = absl::Seconds(1);
    while (!Stopped()) {
      if (id.empty()) {
        v1::RegisterRequest request;
        request.set_name("test-worker");
        request.set_threads(1);
        v1::RegisterResponse response;
        if (Call(kRpcTimeout, [&](grpc::ClientContext* c) {
              return stub_->Register(c, request, &response);
            }).ok()) {
          id = response.worker_id();
          poll = absl::Milliseconds(response.heartbeat_interval_ms());
        }
        continue;
      }
      v1::HeartbeatRequest heartbeat;
      heartbeat.set_worker_id(id);
      v1::HeartbeatResponse heartbeat_response;
      grpc::Status status = Call(kRpcTimeout, [&](grpc::ClientContext* c) {
        return stub_->Heartbeat(c, heartbeat, &heartbeat_response);
      });
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        id.clear();
        continue;
      }
      v1::GetWorkRequest request;
      request.set_worker_id(id);
      for (const auto& [f, k] : kernels_) request.add_known_scenario_fingerprints(f);
      v1::GetWorkResponse response;
      // Polls no longer than the heartbeat interval (a poll is a sign of life).
      status = Call(poll + absl::Milliseconds(200),
                    [&](grpc::ClientContext* c) { return stub_->GetWork(c, request, &response); });
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) id.clear();
      if (!status.ok() || !response.has_item()) continue;
      const v1::WorkItem& item = response.item();
      auto& kernel = kernels_[item.scenario_fingerprint()];
      if (kernel == nullptr) {
        ASSERT_TRUE(item.has_scenario());
        v1::ExperimentSpec spec;
        *spec.mutable_scenario() = item.scenario();
        kernel = std::make_unique<env::ShardKernel>(*config::ToScenario(spec, ""));
      }
      v1::SubmitResultRequest submit;
      submit.set_worker_id(id);
      submit.set_work_id(item.work_id());
      for (v1::ShardResult& r : ComputeItem(*kernel, item)) *submit.add_results() = std::move(r);
      v1::SubmitResultResponse submitted;
      if (Call(kRpcTimeout, [&](grpc::ClientContext* c) {
            return stub_->SubmitResult(c, submit, &submitted);
          }).ok()) {
        items_++;
      }
    }
  }

  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::map<uint64_t, std::unique_ptr<env::ShardKernel>> kernels_;  // Run() thread only
  std::mutex mu_;
  bool stopped_ = false;
  std::set<grpc::ClientContext*> active_;
  std::thread thread_;
  std::atomic<int> items_{0};
};

// A worker driven step by step from the test (to misbehave on purpose).
class ManualWorker {
 public:
  explicit ManualWorker(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::WorkerService::NewStub(channel)) {
    v1::RegisterRequest request;
    request.set_name("manual");
    v1::RegisterResponse response;
    auto context = ContextWithDeadline(kRpcTimeout);
    EXPECT_TRUE(stub_->Register(context.get(), request, &response).ok());
    id_ = response.worker_id();
  }
  // Long-polls until an item arrives (or `timeout`).
  std::optional<v1::WorkItem> GetWork(absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      v1::GetWorkRequest request;
      request.set_worker_id(id_);
      v1::GetWorkResponse response;
      auto context = ContextWithDeadline(absl::Seconds(2));
      if (stub_->GetWork(context.get(), request, &response).ok() && response.has_item()) {
        return response.item();
      }
    }
    return std::nullopt;
  }
  grpc::Status Submit(uint64_t work_id, const std::vector<v1::ShardResult>& results,
                      const std::string& as_worker = "") {
    return Send(Request(work_id, results, as_worker));
  }
  v1::SubmitResultRequest Request(uint64_t work_id, const std::vector<v1::ShardResult>& results,
                                  const std::string& as_worker = "") const {
    v1::SubmitResultRequest request;
    request.set_worker_id(as_worker.empty() ? id_ : as_worker);
    request.set_work_id(work_id);
    for (const v1::ShardResult& r : results) *request.add_results() = r;
    return request;
  }
  grpc::Status Send(const v1::SubmitResultRequest& request) {
    v1::SubmitResultResponse response;
    auto context = ContextWithDeadline(kRpcTimeout);
    return stub_->SubmitResult(context.get(), request, &response);
  }
  const std::string& id() const { return id_; }

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::string id_;
};

class DistributedTest : public ::testing::Test {
 protected:
  DistributedTest()
      : scenario_(env::MakeTestScenario(6, 3)),
        buses_(static_cast<int>(scenario_.network.buses.size())),
        tariff_(env::FlatTestTariff(scenario_, 0.14)),
        belief_(env::PriceBelief::Constant(scenario_.days, buses_, 0.0)),
        realised_(env::PriceBelief::Constant(scenario_.days, buses_, 0.0)),
        local_(scenario_, 2) {
    for (size_t i = 0; i < belief_.lmp_per_mwh.size(); ++i) {
      belief_.lmp_per_mwh[i] = 25.0 + static_cast<double>(i % 29) * 1.7;
      realised_.lmp_per_mwh[i] = 31.0 + static_cast<double>(i % 13) * 2.3;
    }
  }

  void ExpectSameStats(const env::PopulationStats& a, const env::PopulationStats& b) {
    EXPECT_EQ(a.net_load_kw, b.net_load_kw);
    EXPECT_EQ(a.group_wear_usd, b.group_wear_usd);
    EXPECT_EQ(a.group_import_kwh, b.group_import_kwh);
    EXPECT_EQ(a.group_export_kwh, b.group_export_kwh);
    EXPECT_EQ(a.group_bill_by_day, b.group_bill_by_day);
    EXPECT_EQ(a.group_households, b.group_households);
    EXPECT_EQ(a.group_annual_income_usd, b.group_annual_income_usd);
    EXPECT_EQ(a.import_kwh_bus_hour, b.import_kwh_bus_hour);
    EXPECT_EQ(a.export_kwh_bus_hour, b.export_kwh_bus_hour);
    EXPECT_EQ(a.behaviour, b.behaviour);
    EXPECT_EQ(a.class_der_household_days, b.class_der_household_days);
    EXPECT_EQ(a.household_days, b.household_days);
    EXPECT_EQ(a.battery_household_days, b.battery_household_days);
    EXPECT_EQ(a.policy_iterations, b.policy_iterations);
    EXPECT_EQ(a.unconverged_household_days, b.unconverged_household_days);
    EXPECT_EQ(a.nonunique_distribution_household_days, b.nonunique_distribution_household_days);
  }
  void ExpectMatchesLocal(const absl::StatusOr<env::PopulationStats>& remote) {
    ASSERT_TRUE(remote.ok()) << remote.status();
    ExpectSameStats(*remote, *local_.Evaluate(tariff_, belief_));
  }

  env::Scenario scenario_;
  int buses_;
  env::Tariff tariff_;
  env::PriceBelief belief_, realised_;
  env::LocalPopulationEvaluator local_;
};

class DistributedWorkersTest : public DistributedTest, public ::testing::WithParamInterface<int> {};

TEST_P(DistributedWorkersTest, BitIdenticalToLocal) {
  Coordinator coordinator;
  std::vector<std::unique_ptr<TestWorker>> workers;
  for (int i = 0; i < GetParam(); ++i) {
    workers.push_back(std::make_unique<TestWorker>(coordinator.Channel()));
    workers.back()->Start();
  }
  ASSERT_TRUE(coordinator.pool().WaitForLiveWorkers(GetParam(), absl::Seconds(30)));
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);

  ExpectMatchesLocal(remote.Evaluate(tariff_, belief_));
  // The shards were split into one item per live worker.
  int64_t items = 0;
  for (const WorkerCounters& c : coordinator.pool().Workers()) items += c.items_assigned;
  EXPECT_EQ(items, GetParam());

  const auto remote_x = remote.Exploitability(tariff_, belief_, realised_);
  const auto local_x = local_.Exploitability(tariff_, belief_, realised_);
  ASSERT_TRUE(remote_x.ok()) << remote_x.status();
  EXPECT_GT(local_x->household_days, 0);
  EXPECT_EQ(remote_x->household_days, local_x->household_days);
  EXPECT_EQ(remote_x->sum_regularised, local_x->sum_regularised);
  EXPECT_EQ(remote_x->max_regularised, local_x->max_regularised);
  EXPECT_EQ(remote_x->sum_plain, local_x->sum_plain);
  EXPECT_EQ(remote_x->max_plain, local_x->max_plain);

  // One market each: clearing keeps solver warm-start state between calls.
  auto local_market =
      env::MarketClearing::Create(scenario_, local_.kernel().shapes(), local_.kernel().days());
  auto remote_market =
      env::MarketClearing::Create(scenario_, local_.kernel().shapes(), local_.kernel().days());
  ASSERT_TRUE(local_market.ok()) << local_market.status();
  ASSERT_TRUE(remote_market.ok()) << remote_market.status();
  const auto local_inner =
      env::SolveMeanField(local_, **local_market, tariff_, scenario_.inner, nullptr);
  const auto remote_inner =
      env::SolveMeanField(remote, **remote_market, tariff_, scenario_.inner, nullptr);
  ASSERT_TRUE(local_inner.ok()) << local_inner.status();
  ASSERT_TRUE(remote_inner.ok()) << remote_inner.status();
  EXPECT_EQ(remote_inner->iterations, local_inner->iterations);
  EXPECT_EQ(remote_inner->belief.lmp_per_mwh, local_inner->belief.lmp_per_mwh);
  EXPECT_EQ(remote_inner->residual, local_inner->residual);
  ExpectSameStats(remote_inner->stats, local_inner->stats);

  int64_t shards = 0;
  for (const WorkerCounters& c : coordinator.pool().Workers()) shards += c.shards_completed;
  EXPECT_EQ(shards % scenario_.shards, 0);
  for (auto& w : workers) w->Stop();
}

INSTANTIATE_TEST_SUITE_P(Workers, DistributedWorkersTest, ::testing::Values(1, 2, 4));

TEST_F(DistributedTest, SilentWorkerLosesItsShardsAtTheDeadline) {
  WorkerPoolOptions options;
  options.work_deadline = absl::Seconds(1);
  options.heartbeat_timeout = absl::Seconds(60);  // only the deadline can fire
  Coordinator coordinator(options);
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  ManualWorker silent(coordinator.Channel());

  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  const std::optional<v1::WorkItem> item = silent.GetWork();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->shards_size(), scenario_.shards);  // the only live worker
  TestWorker good(coordinator.Channel());
  good.Start();
  run.join();
  ExpectMatchesLocal(result);

  const WorkerCounters c = coordinator.Counters(silent.id());
  EXPECT_EQ(c.reassignments, 1);
  EXPECT_EQ(c.failures, 1);
  EXPECT_EQ(c.items_completed, 0);
  // Its late answer is stale now.
  EXPECT_THAT(silent.Submit(item->work_id(), {}), StatusIs(absl::StatusCode::kFailedPrecondition));
  good.Stop();
}

TEST_F(DistributedTest, DeadWorkerIsDetectedByHeartbeat) {
  WorkerPoolOptions options;
  options.heartbeat_timeout = absl::Seconds(1);
  options.heartbeat_interval = absl::Milliseconds(100);
  options.work_deadline = absl::Minutes(10);  // only the heartbeat can fire
  Coordinator coordinator(options);
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  ManualWorker dead(coordinator.Channel());

  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  ASSERT_TRUE(dead.GetWork().has_value());
  TestWorker good(coordinator.Channel());
  good.Start();
  run.join();
  ExpectMatchesLocal(result);
  const WorkerCounters c = coordinator.Counters(dead.id());
  EXPECT_FALSE(c.live);
  EXPECT_EQ(c.reassignments, 1);
  EXPECT_EQ(c.failures, 1);
  good.Stop();
}

TEST_F(DistributedTest, BadResultsAreRejectedWithoutDisturbingTheRun) {
  WorkerPoolOptions options;
  options.heartbeat_timeout = absl::Seconds(60);
  Coordinator coordinator(options);
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  env::ShardKernel kernel(scenario_);
  ManualWorker a(coordinator.Channel());

  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  const std::optional<v1::WorkItem> first = a.GetWork();
  ASSERT_TRUE(first.has_value());
  ManualWorker b(coordinator.Channel());
  const std::vector<v1::ShardResult> good_results = ComputeItem(kernel, *first);

  // Another worker answering a's item: refused, a keeps it.
  EXPECT_THAT(a.Submit(first->work_id(), good_results, b.id()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(coordinator.Counters(a.id()).reassignments, 0);
  EXPECT_EQ(coordinator.Counters(b.id()).rejected_results, 1);
  // A work id that was never issued.
  EXPECT_THAT(a.Submit(first->work_id() + 1000, good_results),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Unknown worker.
  EXPECT_THAT(a.Submit(first->work_id(), good_results, "nobody"),
              StatusIs(absl::StatusCode::kNotFound));

  // Garbage sizes: INVALID_ARGUMENT, and the item goes back to the queue.
  std::vector<v1::ShardResult> garbage = good_results;
  garbage[2].mutable_population()->mutable_net_load_kw()->RemoveLast();
  EXPECT_THAT(a.Submit(first->work_id(), garbage), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(coordinator.Counters(a.id()).reassignments, 1);
  // The correct answer for that item is now stale.
  EXPECT_THAT(a.Submit(first->work_id(), good_results),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // A result for a shard not in the item.
  const std::optional<v1::WorkItem> second = a.GetWork();
  ASSERT_TRUE(second.has_value());
  std::vector<v1::ShardResult> wrong_shard = ComputeItem(kernel, *second);
  wrong_shard[0].set_shard(second->shards(second->shards_size() - 1) + 1);
  EXPECT_THAT(a.Submit(second->work_id(), wrong_shard),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // A NaN in an otherwise well-formed result.
  const std::optional<v1::WorkItem> third = a.GetWork();
  ASSERT_TRUE(third.has_value());
  std::vector<v1::ShardResult> nan = ComputeItem(kernel, *third);
  nan[0].mutable_population()->set_behaviour(0, std::nan(""));
  EXPECT_THAT(a.Submit(third->work_id(), nan), StatusIs(absl::StatusCode::kInvalidArgument));

  // The run still completes with the exact local answer.
  TestWorker good(coordinator.Channel());
  good.Start();
  run.join();
  ExpectMatchesLocal(result);
  EXPECT_EQ(coordinator.Counters(a.id()).rejected_results, 5);
  EXPECT_EQ(coordinator.Counters(a.id()).items_completed, 0);
  good.Stop();
}

// Learning followers' gradients (issue 11): a gradient quoting another policy
// version than the job steps is rejected, counted as stale and its item
// reassigned; gradients of the right version come back per shard.
TEST_F(DistributedTest, StaleGradientsAreRejectedCountedAndReassigned) {
  WorkerPoolOptions options;
  options.heartbeat_timeout = absl::Seconds(60);
  Coordinator coordinator(options);
  RemoteFollowerBackend backend(&coordinator.pool(), scenario_, /*parameter_count=*/3);
  const followers::PolicyVersion sampling{
      .version = 4, .values = std::make_shared<const std::vector<double>>(3, 0.5)};
  const followers::PolicyVersion current{
      .version = 5, .values = std::make_shared<const std::vector<double>>(3, 0.25)};
  absl::StatusOr<std::vector<followers::ShardGradient>> result;
  std::thread run(
      [&] { result = backend.Gradients(tariff_, belief_, /*phase=*/7, sampling, current); });
  ManualWorker a(coordinator.Channel());
  // Shard s's gradient: {s, -s, 1}, at `version`.
  auto answer = [](const v1::WorkItem& item, uint64_t version) {
    std::vector<v1::ShardResult> results;
    for (int s : item.shards()) {
      v1::ShardResult r;
      r.set_shard(s);
      followers::ShardGradient g;
      g.policy_version = version;
      g.gradient = {static_cast<double>(s), -static_cast<double>(s), 1.0};
      g.steps = 10;
      *r.mutable_gradient() = workers::GradientToProto(g);
      results.push_back(r);
    }
    return results;
  };
  const std::optional<v1::WorkItem> first = a.GetWork();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->kind(), v1::WORK_KIND_POLICY_GRADIENT);
  EXPECT_EQ(first->policy_gradient().phase(), 7u);
  EXPECT_EQ(first->policy_gradient().sampling().version(), 4u);
  EXPECT_EQ(first->policy_gradient().current().version(), 5u);
  EXPECT_THAT(a.Submit(first->work_id(), answer(*first, /*version=*/4)),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("stale")));
  EXPECT_EQ(coordinator.pool().Totals().stale_gradients, 1);
  EXPECT_EQ(coordinator.Counters(a.id()).reassignments, 1);
  // A gradient of the wrong size is garbage, not stale.
  const std::optional<v1::WorkItem> second = a.GetWork();
  ASSERT_TRUE(second.has_value());
  std::vector<v1::ShardResult> short_gradient = answer(*second, 5);
  short_gradient[0].mutable_gradient()->mutable_gradient()->RemoveLast();
  EXPECT_THAT(a.Submit(second->work_id(), short_gradient),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("gradient")));
  EXPECT_EQ(coordinator.pool().Totals().stale_gradients, 1);
  // Every item answered at the right version: the job completes.
  while (true) {
    const std::optional<v1::WorkItem> item = a.GetWork(absl::Seconds(2));
    if (!item.has_value()) break;
    EXPECT_TRUE(a.Submit(item->work_id(), answer(*item, 5)).ok());
  }
  run.join();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(static_cast<int>(result->size()), scenario_.shards);
  for (int s = 0; s < scenario_.shards; ++s) {
    EXPECT_EQ((*result)[s].policy_version, 5u);
    EXPECT_EQ((*result)[s].gradient, (std::vector<double>{1.0 * s, -1.0 * s, 1.0}));
  }
}

TEST_F(DistributedTest, WaitsForTheFirstWorker) {
  Coordinator coordinator;
  absl::Notification waiting;
  RemoteEvaluatorOptions options;
  options.worker_wait_timeout = absl::Seconds(60);
  options.on_waiting_for_workers = [&] { waiting.Notify(); };
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_, options);

  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  ASSERT_TRUE(waiting.WaitForNotificationWithTimeout(absl::Seconds(30)));
  TestWorker worker(coordinator.Channel());
  worker.Start();
  run.join();
  ExpectMatchesLocal(result);
  EXPECT_EQ(coordinator.pool().worker_waits(), 1);
  worker.Stop();
}

TEST_F(DistributedTest, NoWorkerIsUnavailableAfterTheWaitDeadline) {
  Coordinator coordinator;
  RemoteEvaluatorOptions options;
  options.worker_wait_timeout = absl::Milliseconds(50);
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_, options);
  EXPECT_THAT(remote.Evaluate(tariff_, belief_).status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(remote.Exploitability(tariff_, belief_, realised_).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(DistributedTest, WorkerErrorReportIsReassigned) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  ManualWorker failing(coordinator.Channel());
  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  const std::optional<v1::WorkItem> item = failing.GetWork();
  ASSERT_TRUE(item.has_value());
  EXPECT_TRUE(item->has_scenario());  // the worker listed no fingerprints
  {
    v1::SubmitResultRequest request;
    request.set_worker_id(failing.id());
    request.set_work_id(item->work_id());
    request.set_error_message("out of memory");
    auto stub = v1::WorkerService::NewStub(coordinator.Channel());
    v1::SubmitResultResponse response;
    auto context = ContextWithDeadline(kRpcTimeout);
    EXPECT_TRUE(stub->SubmitResult(context.get(), request, &response).ok());
  }
  TestWorker good(coordinator.Channel());
  good.Start();
  run.join();
  ExpectMatchesLocal(result);
  EXPECT_EQ(coordinator.Counters(failing.id()).failures, 1);
  EXPECT_EQ(coordinator.Counters(failing.id()).reassignments, 1);
  good.Stop();
}

TEST_F(DistributedTest, PollingAgainGivesBackTheHeldItem) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  ManualWorker forgetful(coordinator.Channel());
  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  const std::optional<v1::WorkItem> first = forgetful.GetWork();
  ASSERT_TRUE(first.has_value());
  const std::optional<v1::WorkItem> second = forgetful.GetWork();
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->work_id(), first->work_id());
  EXPECT_EQ(std::vector<int>(second->shards().begin(), second->shards().end()),
            std::vector<int>(first->shards().begin(), first->shards().end()));
  EXPECT_THAT(forgetful.Submit(first->work_id(), {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  env::ShardKernel kernel(scenario_);
  EXPECT_TRUE(forgetful.Submit(second->work_id(), ComputeItem(kernel, *second)).ok());
  run.join();
  ExpectMatchesLocal(result);
  const WorkerCounters c = coordinator.Counters(forgetful.id());
  EXPECT_EQ(c.reassignments, 1);
  EXPECT_EQ(c.failures, 0);
  EXPECT_EQ(c.items_completed, 1);
}

TEST_F(DistributedTest, ShardThatKeepsFailingAbortsTheJob) {
  WorkerPoolOptions options;
  options.max_shard_failures = 2;
  Coordinator coordinator(options);
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  ManualWorker broken(coordinator.Channel());
  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::optional<v1::WorkItem> item = broken.GetWork();
    ASSERT_TRUE(item.has_value());
    v1::SubmitResultRequest request;
    request.set_worker_id(broken.id());
    request.set_work_id(item->work_id());
    request.set_error_message("cannot compute");
    auto stub = v1::WorkerService::NewStub(coordinator.Channel());
    v1::SubmitResultResponse response;
    auto context = ContextWithDeadline(kRpcTimeout);
    EXPECT_TRUE(stub->SubmitResult(context.get(), request, &response).ok());
  }
  run.join();
  EXPECT_THAT(result.status(), StatusIs(absl::StatusCode::kAborted)) << result.status();
  EXPECT_NE(result.status().message().find("cannot compute"), absl::string_view::npos);
}

TEST_F(DistributedTest, InputsTheKernelCannotReadAreRejectedUpFront) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  const env::PriceBelief short_belief =
      env::PriceBelief::Constant(scenario_.days - 1, buses_, 30.0);
  EXPECT_THAT(remote.Evaluate(tariff_, short_belief).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  env::Tariff bad = tariff_;
  bad.import_rate_per_kwh[0].pop_back();
  EXPECT_THAT(remote.Evaluate(bad, belief_).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(remote.Exploitability(tariff_, belief_, short_belief).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// The same over a real TCP socket on an ephemeral port.
TEST_F(DistributedTest, OverTcp) {
  WorkerPool pool;
  WorkerServiceImpl service(&pool);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  std::vector<std::unique_ptr<TestWorker>> workers;
  for (int i = 0; i < 2; ++i) {
    workers.push_back(std::make_unique<TestWorker>(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials())));
    workers.back()->Start();
  }
  RemotePopulationEvaluator remote(&pool, scenario_);
  ExpectMatchesLocal(remote.Evaluate(tariff_, belief_));
  for (auto& w : workers) w->Stop();
  pool.Shutdown();
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
}

// The size of the GetWork answer that carried `item`, as the pool sized it.
int64_t ResponseBytes(const v1::WorkItem& item) {
  v1::GetWorkResponse response;
  *response.mutable_item() = item;
  return static_cast<int64_t>(response.ByteSizeLong());
}

TEST_F(DistributedTest, ByteCountersEqualTheSerialisedExchange) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  env::ShardKernel kernel(scenario_);
  ManualWorker worker(coordinator.Channel());
  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });

  // An error report, then the reassigned item computed properly: both
  // exchanges count, the scenario travelling each time (no fingerprints listed).
  const std::optional<v1::WorkItem> first = worker.GetWork();
  ASSERT_TRUE(first.has_value());
  v1::SubmitResultRequest error = worker.Request(first->work_id(), {});
  error.set_error_message("try again");
  ASSERT_TRUE(worker.Send(error).ok());
  const std::optional<v1::WorkItem> second = worker.GetWork();
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->has_scenario());
  const v1::SubmitResultRequest good =
      worker.Request(second->work_id(), ComputeItem(kernel, *second));
  ASSERT_TRUE(worker.Send(good).ok());
  run.join();
  ExpectMatchesLocal(result);

  const int64_t sent = ResponseBytes(*first) + ResponseBytes(*second);
  const int64_t received = static_cast<int64_t>(error.ByteSizeLong() + good.ByteSizeLong());
  EXPECT_GT(sent, static_cast<int64_t>(second->scenario().ByteSizeLong()));
  const env::EvaluatorCounters counters = remote.Counters();
  EXPECT_EQ(counters.jobs, 1);
  EXPECT_EQ(counters.bytes_sent, sent);
  EXPECT_EQ(counters.bytes_received, received);
  EXPECT_EQ(coordinator.pool().Totals().bytes_to_workers, sent);
  EXPECT_EQ(coordinator.pool().Totals().bytes_from_workers, received);

  // A stale result is traffic of the pool, not of any job.
  EXPECT_THAT(worker.Send(good), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(coordinator.pool().Totals().bytes_from_workers,
            received + static_cast<int64_t>(good.ByteSizeLong()));
  EXPECT_EQ(remote.Counters().bytes_received, received);
}

TEST_F(DistributedTest, ReportedComputeSecondsReachTheCounters) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  env::ShardKernel kernel(scenario_);
  ManualWorker worker(coordinator.Channel());
  for (const double reported : {0.75, 0.5}) {
    absl::StatusOr<env::PopulationStats> result;
    std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
    const std::optional<v1::WorkItem> item = worker.GetWork();
    ASSERT_TRUE(item.has_value());
    v1::SubmitResultRequest request = worker.Request(item->work_id(), ComputeItem(kernel, *item));
    request.set_compute_seconds(reported);
    ASSERT_TRUE(worker.Send(request).ok());
    run.join();
    ExpectMatchesLocal(result);
  }
  const WorkerCounters c = coordinator.Counters(worker.id());
  EXPECT_EQ(c.compute_seconds, 1.25);
  EXPECT_EQ(c.shards_completed, 2 * scenario_.shards);
  const env::EvaluatorCounters counters = remote.Counters();
  EXPECT_EQ(counters.jobs, 2);
  EXPECT_EQ(counters.compute_seconds, 1.25);  // the only worker: its own figure
  EXPECT_GE(counters.communication_seconds, 0.0);
  EXPECT_EQ(counters.barrier_seconds, 0.0);  // nobody to wait for
  EXPECT_EQ(coordinator.pool().Totals().barrier_wait_seconds, 0.0);
}

TEST_F(DistributedTest, BarrierWaitIsTheTimeTheSlowWorkerTook) {
  Coordinator coordinator;
  RemotePopulationEvaluator remote(&coordinator.pool(), scenario_);
  env::ShardKernel kernel(scenario_);
  ManualWorker fast(coordinator.Channel()), slow(coordinator.Channel());
  absl::StatusOr<env::PopulationStats> result;
  std::thread run([&] { result = remote.Evaluate(tariff_, belief_); });
  const std::optional<v1::WorkItem> fast_item = fast.GetWork();
  const std::optional<v1::WorkItem> slow_item = slow.GetWork();
  ASSERT_TRUE(fast_item.has_value());
  ASSERT_TRUE(slow_item.has_value());  // two live workers: half the shards each
  const v1::SubmitResultRequest fast_result =
      fast.Request(fast_item->work_id(), ComputeItem(kernel, *fast_item));
  const v1::SubmitResultRequest slow_result =
      slow.Request(slow_item->work_id(), ComputeItem(kernel, *slow_item));

  const absl::Time fast_sent = absl::Now();
  ASSERT_TRUE(fast.Send(fast_result).ok());
  // Not synchronisation: the slow worker's extra compute time, which the fast
  // one spends waiting at the barrier.
  constexpr absl::Duration kSlower = absl::Milliseconds(300);
  absl::SleepFor(kSlower);
  ASSERT_TRUE(slow.Send(slow_result).ok());
  const absl::Time slow_done = absl::Now();
  run.join();
  ExpectMatchesLocal(result);

  // The slow worker waits 0, so the pool total is the fast worker's wait and
  // the evaluator's figure the mean over the two. The fast result was
  // accepted before Send returned, the slow one at least kSlower later.
  const double fast_wait = coordinator.pool().Totals().barrier_wait_seconds;
  EXPECT_GE(fast_wait, absl::ToDoubleSeconds(kSlower));
  EXPECT_LE(fast_wait, absl::ToDoubleSeconds(slow_done - fast_sent));
  EXPECT_NEAR(remote.Counters().barrier_seconds, fast_wait / 2, 1e-12);
}

}  // namespace
}  // namespace smfg::coordinator
