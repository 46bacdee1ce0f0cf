// WorkerClient against a scripted in-test coordinator (follower_workers/ may
// not depend on coordinator/; the real service is exercised with a test
// worker in coordinator/distributed_test.cc).
#include "follower_workers/worker_client.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "config/spec_convert.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "follower_workers/wire_convert.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace smfg::workers {
namespace {

class FakeCoordinator final : public v1::WorkerService::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*,
                        v1::RegisterResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++register_calls_;
    if (register_calls_ <= fail_registers_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not yet");
    }
    response->set_worker_id("w" + std::to_string(register_calls_));
    response->set_heartbeat_interval_ms(50);
    response->set_heartbeat_timeout_ms(1000);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status GetWork(grpc::ServerContext* context, const v1::GetWorkRequest* request,
                       v1::GetWorkResponse* response) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++get_work_calls_;
    last_known_ = std::vector<uint64_t>(request->known_scenario_fingerprints().begin(),
                                        request->known_scenario_fingerprints().end());
    cv_.notify_all();
    if (forget_next_poll_) {
      forget_next_poll_ = false;
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "who are you");
    }
    // Answer a little before the client's deadline.
    const auto until = context->deadline() - std::chrono::milliseconds(100);
    cv_.wait_until(lock, until, [&] { return shutdown_ || !items_.empty(); });
    if (!items_.empty()) {
      *response->mutable_item() = items_.front();
      items_.pop_front();
    }
    return grpc::Status::OK;
  }
  grpc::Status SubmitResult(grpc::ServerContext*, const v1::SubmitResultRequest* request,
                            v1::SubmitResultResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    submitted_.push_back(*request);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++heartbeats_;
    cv_.notify_all();
    return grpc::Status::OK;
  }

  void Push(v1::WorkItem item) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(std::move(item));
    cv_.notify_all();
  }
  // Waits (up to 30 s) until `done()` holds under the lock.
  template <typename Pred>
  bool WaitUntil(Pred done) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), done);
  }
  void Shutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int fail_registers_ = 0;
  int register_calls_ = 0;
  int get_work_calls_ = 0;
  int heartbeats_ = 0;
  bool forget_next_poll_ = false;
  bool shutdown_ = false;
  std::vector<uint64_t> last_known_;
  std::deque<v1::WorkItem> items_;
  std::vector<v1::SubmitResultRequest> submitted_;
};

class WorkerClientTest : public ::testing::Test {
 protected:
  WorkerClientTest()
      : scenario_(env::MakeTestScenario(2, 2)),
        tariff_(env::FlatTestTariff(scenario_, 0.15)),
        belief_(env::PriceBelief::Constant(
            scenario_.days, static_cast<int>(scenario_.network.buses.size()), 40.0)) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    wire_scenario_ = config::FromScenario(scenario_).scenario();
    fingerprint_ = workers::ScenarioFingerprint(wire_scenario_);
  }
  ~WorkerClientTest() override {
    StopClient();
    fake_.Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  void StartClient(WorkerClientOptions options) {
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(20);
    client_ = std::make_unique<WorkerClient>(server_->InProcessChannel(grpc::ChannelArguments()),
                                             options);
    thread_ = std::thread([this] { run_status_ = client_->Run(); });
  }
  void StopClient() {
    if (client_) client_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  v1::WorkItem Item(uint64_t work_id, bool with_scenario) const {
    v1::WorkItem item;
    item.set_work_id(work_id);
    item.set_scenario_fingerprint(fingerprint_);
    if (with_scenario) *item.mutable_scenario() = wire_scenario_;
    for (int s = 0; s < scenario_.shards; ++s) item.add_shards(s);
    item.set_kind(v1::WORK_KIND_EVALUATE);
    *item.mutable_evaluate()->mutable_tariff() = workers::TariffToProto(tariff_);
    *item.mutable_evaluate()->mutable_belief() = workers::BeliefToProto(belief_);
    return item;
  }

  env::Scenario scenario_;
  env::Tariff tariff_;
  env::PriceBelief belief_;
  v1::Scenario wire_scenario_;
  uint64_t fingerprint_ = 0;
  FakeCoordinator fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<WorkerClient> client_;
  std::thread thread_;
  absl::Status run_status_ = absl::UnknownError("not run");
};

TEST_F(WorkerClientTest, ComputesItemsAndSubmitsExactResults) {
  fake_.Push(Item(7, /*with_scenario=*/true));
  StartClient({});
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.submitted_.size() == 1; }));
  // The next poll lists the scenario, so it need not be sent again.
  ASSERT_TRUE(fake_.WaitUntil([&] { return !fake_.last_known_.empty(); }));
  EXPECT_EQ(fake_.last_known_, std::vector<uint64_t>{fingerprint_});
  fake_.Push(Item(8, /*with_scenario=*/false));
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.submitted_.size() == 2; }));
  // The poll after the second submission means the client has seen its answer.
  int polls = 0;
  {
    std::lock_guard<std::mutex> lock(fake_.mu_);
    polls = fake_.get_work_calls_;
  }
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.get_work_calls_ > polls; }));
  StopClient();
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  EXPECT_EQ(client_->items_completed(), 2);

  const env::ShardKernel kernel(scenario_);
  for (const v1::SubmitResultRequest& r : fake_.submitted_) {
    EXPECT_EQ(r.worker_id(), "w1");
    EXPECT_TRUE(r.error_message().empty()) << r.error_message();
    ASSERT_EQ(r.results_size(), scenario_.shards);
    for (int s = 0; s < scenario_.shards; ++s) {
      EXPECT_EQ(r.results(s).shard(), s);
      auto got = workers::StatsFromProto(r.results(s).population());
      ASSERT_TRUE(got.ok()) << got.status();
      const env::PopulationStats want = kernel.EvaluateShard(s, tariff_, belief_);
      EXPECT_EQ(got->net_load_kw, want.net_load_kw);
      EXPECT_EQ(got->behaviour, want.behaviour);
      EXPECT_EQ(got->group_bill_by_day, want.group_bill_by_day);
    }
  }
  EXPECT_EQ(fake_.submitted_[0].work_id(), 7u);
  EXPECT_EQ(fake_.submitted_[1].work_id(), 8u);
}

TEST_F(WorkerClientTest, ReportsItemsItCannotCompute) {
  fake_.Push(Item(3, /*with_scenario=*/false));  // unknown fingerprint, no scenario
  StartClient({});
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.submitted_.size() == 1; }));
  StopClient();
  EXPECT_EQ(fake_.submitted_[0].work_id(), 3u);
  EXPECT_FALSE(fake_.submitted_[0].error_message().empty());
  EXPECT_EQ(client_->items_completed(), 0);
}

TEST_F(WorkerClientTest, RetriesRegistrationWithBackoff) {
  fake_.fail_registers_ = 3;
  StartClient({});
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.get_work_calls_ > 0; }));
  StopClient();
  EXPECT_EQ(fake_.register_calls_, 4);
  EXPECT_EQ(client_->registrations(), 1);
}

TEST_F(WorkerClientTest, RegistersAgainWhenForgotten) {
  fake_.forget_next_poll_ = true;
  StartClient({});
  ASSERT_TRUE(
      fake_.WaitUntil([&] { return fake_.register_calls_ == 2 && fake_.get_work_calls_ >= 2; }));
  StopClient();
  EXPECT_EQ(client_->registrations(), 2);
}

TEST_F(WorkerClientTest, HeartbeatsWhileRegistered) {
  StartClient({});
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.heartbeats_ >= 2; }));
  StopClient();
}

TEST_F(WorkerClientTest, StopEndsALongPollPromptly) {
  WorkerClientOptions options;
  options.long_poll = absl::Minutes(10);
  StartClient(options);
  ASSERT_TRUE(fake_.WaitUntil([&] { return fake_.get_work_calls_ > 0; }));
  const absl::Time start = absl::Now();
  StopClient();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(run_status_.ok());
}

}  // namespace
}  // namespace smfg::workers
