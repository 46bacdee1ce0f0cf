#include "coordinator/metrics_text.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gtest/gtest.h"
#include "training/trainer.h"

namespace smfg::coordinator {
namespace {

using training::IterationJson;
using training::IterationRecord;
using training::StackelbergTrainer;
using training::TrainerParams;

TEST(MetricsTextTest, ExactTextForSmallFixture) {
  CoordinatorMetrics m;
  m.experiments_by_status = {{"RUNNING", 1}, {"QUEUED", 2}};
  m.outer_iterations_completed = 7;
  m.live_workers = 1;
  m.worker_waits = 3;
  WorkerCounters b;
  b.worker_id = "w-2";
  b.name = "say \"hi\"";
  WorkerCounters a;
  a.worker_id = "w-1";
  a.name = "host-1";
  a.live = true;
  a.items_assigned = 4;
  a.items_completed = 3;
  a.shards_completed = 12;
  a.reassignments = 1;
  a.failures = 1;
  a.rejected_results = 0;
  a.compute_seconds = 3.75;
  m.workers = {b, a};
  m.pool.bytes_to_workers = 123456789;
  m.pool.bytes_from_workers = 98765;
  m.pool.barrier_wait_seconds = 0.125;
  const std::string expected =
      "# HELP smfg_experiments Experiments by status.\n"
      "# TYPE smfg_experiments gauge\n"
      "smfg_experiments{status=\"QUEUED\"} 2\n"
      "smfg_experiments{status=\"RUNNING\"} 1\n"
      "# HELP smfg_outer_iterations_completed Outer iterations with stored metrics, summed over "
      "experiments.\n"
      "# TYPE smfg_outer_iterations_completed gauge\n"
      "smfg_outer_iterations_completed 7\n"
      "# HELP smfg_workers_live Workers currently live.\n"
      "# TYPE smfg_workers_live gauge\n"
      "smfg_workers_live 1\n"
      "# HELP smfg_worker_waits_total Times a job had to wait for a worker to register.\n"
      "# TYPE smfg_worker_waits_total counter\n"
      "smfg_worker_waits_total 3\n"
      "# HELP smfg_bytes_to_workers_total Serialised bytes of the work items sent to workers.\n"
      "# TYPE smfg_bytes_to_workers_total counter\n"
      "smfg_bytes_to_workers_total 123456789\n"
      "# HELP smfg_bytes_from_workers_total Serialised bytes of the results received from "
      "workers.\n"
      "# TYPE smfg_bytes_from_workers_total counter\n"
      "smfg_bytes_from_workers_total 98765\n"
      "# HELP smfg_barrier_wait_seconds_total Seconds workers that had finished waited for a "
      "job's last shard, summed.\n"
      "# TYPE smfg_barrier_wait_seconds_total counter\n"
      "smfg_barrier_wait_seconds_total 0.125\n"
      "# HELP smfg_worker_live 1 if the worker is live, 0 if it was declared dead.\n"
      "# TYPE smfg_worker_live gauge\n"
      "smfg_worker_live{worker_id=\"w-1\",name=\"host-1\"} 1\n"
      "smfg_worker_live{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_items_assigned_total Work items assigned to the worker.\n"
      "# TYPE smfg_worker_items_assigned_total counter\n"
      "smfg_worker_items_assigned_total{worker_id=\"w-1\",name=\"host-1\"} 4\n"
      "smfg_worker_items_assigned_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_items_completed_total Work items whose results were accepted.\n"
      "# TYPE smfg_worker_items_completed_total counter\n"
      "smfg_worker_items_completed_total{worker_id=\"w-1\",name=\"host-1\"} 3\n"
      "smfg_worker_items_completed_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_shards_completed_total Shards computed by the worker.\n"
      "# TYPE smfg_worker_shards_completed_total counter\n"
      "smfg_worker_shards_completed_total{worker_id=\"w-1\",name=\"host-1\"} 12\n"
      "smfg_worker_shards_completed_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_failures_total Missed deadlines or heartbeats, error reports, invalid "
      "results.\n"
      "# TYPE smfg_worker_failures_total counter\n"
      "smfg_worker_failures_total{worker_id=\"w-1\",name=\"host-1\"} 1\n"
      "smfg_worker_failures_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_reassignments_total Work items taken back from the worker for "
      "reassignment.\n"
      "# TYPE smfg_worker_reassignments_total counter\n"
      "smfg_worker_reassignments_total{worker_id=\"w-1\",name=\"host-1\"} 1\n"
      "smfg_worker_reassignments_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_rejected_results_total SubmitResult calls refused.\n"
      "# TYPE smfg_worker_rejected_results_total counter\n"
      "smfg_worker_rejected_results_total{worker_id=\"w-1\",name=\"host-1\"} 0\n"
      "smfg_worker_rejected_results_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_compute_seconds_total Seconds the worker reported computing its "
      "accepted items.\n"
      "# TYPE smfg_worker_compute_seconds_total counter\n"
      "smfg_worker_compute_seconds_total{worker_id=\"w-1\",name=\"host-1\"} 3.75\n"
      "smfg_worker_compute_seconds_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n"
      "# HELP smfg_worker_seconds_per_shard Mean compute seconds per accepted shard (0 before "
      "the first).\n"
      "# TYPE smfg_worker_seconds_per_shard gauge\n"
      "smfg_worker_seconds_per_shard{worker_id=\"w-1\",name=\"host-1\"} 0.3125\n"
      "smfg_worker_seconds_per_shard{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n";
  EXPECT_EQ(FormatPrometheus(m), expected);
}

// The compute time a worker reports reaches the per-shard gauge, and the
// pool's byte totals are the serialised sizes of what it exchanged.
TEST(MetricsTextTest, ReportedComputeTimeBecomesTimePerShard) {
  WorkerPool pool;
  v1::RegisterRequest registration;
  registration.set_name("host");
  const std::string id = pool.Register(registration).worker_id();
  JobSpec job;
  job.experiment_id = "e";
  job.scenario = std::make_shared<v1::Scenario>();
  job.shards = 2;
  job.kind = v1::WORK_KIND_EXPLOITABILITY;
  job.payload = std::make_shared<v1::WorkItem>();
  absl::StatusOr<JobResults> results;
  std::thread run([&] { results = pool.RunJob(job, {}); });
  v1::GetWorkRequest poll;
  poll.set_worker_id(id);
  absl::StatusOr<v1::GetWorkResponse> work = pool.GetWork(poll, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(work.ok() && work->has_item()) << work.status();
  ASSERT_EQ(work->item().shards_size(), 2);  // the only worker gets both shards
  v1::SubmitResultRequest submit;
  submit.set_worker_id(id);
  submit.set_work_id(work->item().work_id());
  for (int shard : work->item().shards()) {
    v1::ShardResult* r = submit.add_results();
    r->set_shard(shard);
    r->mutable_exploitability()->set_household_days(3);
  }
  submit.set_compute_seconds(0.5);
  ASSERT_TRUE(pool.SubmitResult(submit).ok());
  run.join();
  ASSERT_TRUE(results.ok()) << results.status();

  CoordinatorMetrics m;
  m.workers = pool.Workers();
  m.pool = pool.Totals();
  const std::string text = FormatPrometheus(m);
  const std::string labels = "{worker_id=\"" + id + "\",name=\"host\"} ";
  EXPECT_NE(text.find("smfg_worker_compute_seconds_total" + labels + "0.5\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("smfg_worker_seconds_per_shard" + labels + "0.25\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("smfg_bytes_to_workers_total " + std::to_string(work->ByteSizeLong()) + "\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("smfg_bytes_from_workers_total " + std::to_string(submit.ByteSizeLong()) + "\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("smfg_barrier_wait_seconds_total 0\n"), std::string::npos) << text;
  ASSERT_EQ(results->stats.workers.size(), 1u);
  EXPECT_EQ(results->stats.workers[0].compute_seconds, 0.5);
  EXPECT_EQ(results->stats.workers[0].shards, 2);
}

// A local evaluator whose counters advance by fixed, exactly representable
// amounts per call, as a distributed one's would.
class CountingEvaluator final : public env::PopulationEvaluator {
 public:
  explicit CountingEvaluator(const env::Scenario& scenario) : local_(scenario, 1) {}
  absl::StatusOr<env::PopulationStats> Evaluate(const env::Tariff& tariff,
                                                const env::PriceBelief& belief) override {
    Count();
    return local_.Evaluate(tariff, belief);
  }
  absl::StatusOr<env::ExploitabilityStats> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override {
    Count();
    return local_.Exploitability(tariff, belief, realised);
  }
  env::EvaluatorCounters Counters() const override { return counters_; }
  const env::ShardKernel& kernel() const { return local_.kernel(); }

 private:
  void Count() {
    counters_.compute_seconds += 0.5;
    counters_.communication_seconds += 0.25;
    counters_.barrier_seconds += 0.125;
    counters_.bytes_sent += 100;
    counters_.bytes_received += 1000;
    counters_.jobs++;
  }
  env::LocalPopulationEvaluator local_;
  env::EvaluatorCounters counters_;
};

// The per-iteration metrics row (IterationJson: metrics.jsonl, Watch, the
// API's history) carries the evaluator's counters accrued in the iteration;
// they survive a checkpoint and change no decision of the loop.
TEST(IterationMetricsTest, RowCarriesTheIterationsDistributedFigures) {
  const env::Scenario scenario = env::MakeTestScenario(4, 3);
  CountingEvaluator counting(scenario);
  env::LocalPopulationEvaluator plain(scenario, 1);
  auto market_a =
      env::MarketClearing::Create(scenario, counting.kernel().shapes(), counting.kernel().days());
  auto market_b =
      env::MarketClearing::Create(scenario, counting.kernel().shapes(), counting.kernel().days());
  ASSERT_TRUE(market_a.ok() && market_b.ok());
  TrainerParams params;
  params.scenario = scenario;
  params.base = env::FlatTestTariff(scenario, 0.0);
  params.ppo.seed = 5;
  params.ppo.minibatch_size = 3;
  params.checkpoint_dir = ::testing::TempDir() + "/smfg_iteration_metrics";
  std::filesystem::remove_all(params.checkpoint_dir);
  auto counted =
      StackelbergTrainer::Create(params, &counting, market_a->get(), counting.kernel().days());
  params.checkpoint_dir.clear();
  auto reference =
      StackelbergTrainer::Create(params, &plain, market_b->get(), counting.kernel().days());
  ASSERT_TRUE(counted.ok() && reference.ok());

  std::vector<IterationRecord> records;
  for (int k = 0; k < 2; ++k) {
    const int64_t calls_before = counting.Counters().jobs;
    absl::StatusOr<IterationRecord> r = (*counted)->Step();
    absl::StatusOr<IterationRecord> same = (*reference)->Step();
    ASSERT_TRUE(r.ok() && same.ok());
    const int64_t calls = counting.Counters().jobs - calls_before;
    ASSERT_GT(calls, 2);  // two equilibria and the exploitability check
    EXPECT_EQ(r->seconds_worker_compute, 0.5 * calls);
    EXPECT_EQ(r->seconds_communication, 0.25 * calls);
    EXPECT_EQ(r->seconds_barrier_wait, 0.125 * calls);
    EXPECT_EQ(r->bytes_to_workers, 100 * calls);
    EXPECT_EQ(r->bytes_from_workers, 1000 * calls);
    const std::string json = IterationJson(*r, scenario);
    EXPECT_NE(json.find(absl::StrCat("\"worker_compute\":", 0.5 * calls, ",\"communication\":",
                                     0.25 * calls, ",\"barrier_wait\":", 0.125 * calls, "}")),
              std::string::npos)
        << json;
    EXPECT_NE(json.find(absl::StrCat("\"bytes\":{\"to_workers\":", 100 * calls,
                                     ",\"from_workers\":", 1000 * calls, "}")),
              std::string::npos)
        << json;
    // Observability only: the loop decides exactly as without the counters.
    EXPECT_EQ(r->evaluated.objective, same->evaluated.objective);
    EXPECT_EQ(r->rollout_mean_reward, same->rollout_mean_reward);
    records.push_back(*r);
  }

  // The checkpoint keeps them (loop.state v2).
  params.checkpoint_dir = ::testing::TempDir() + "/smfg_iteration_metrics";
  auto resumed =
      StackelbergTrainer::Create(params, &counting, market_a->get(), counting.kernel().days());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->Resume().ok());
  ASSERT_EQ((*resumed)->history().size(), records.size());
  for (size_t k = 0; k < records.size(); ++k) {
    EXPECT_EQ(IterationJson((*resumed)->history()[k], scenario),
              IterationJson(records[k], scenario));
  }

  // A loop.state written before these figures existed (v1: same records
  // without their 5 trailing numbers) still resumes, with the figures zero;
  // a v2 file whose records lack them is corrupt.
  const std::string state = params.checkpoint_dir + "/loop.state";
  const auto rewrite = [&](const std::string& magic) {
    std::ifstream in(state);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    lines[0] = magic;
    std::ostringstream out;
    bool history = false;
    for (std::string& line : lines) {
      if (history) {
        for (int n = 0; n < 5; ++n) line.erase(line.rfind(' '));
      }
      history = history || line.rfind("history ", 0) == 0;
      out << line << "\n";
    }
    std::ofstream(state, std::ios::trunc) << out.str();
  };
  rewrite("smfg-loop-state-v1");
  auto old =
      StackelbergTrainer::Create(params, &counting, market_a->get(), counting.kernel().days());
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE((*old)->Resume().ok());
  ASSERT_EQ((*old)->history().size(), records.size());
  EXPECT_EQ((*old)->history()[1].evaluated.objective, records[1].evaluated.objective);
  EXPECT_EQ((*old)->history()[1].bytes_to_workers, 0);
  EXPECT_EQ((*old)->history()[1].seconds_worker_compute, 0.0);
  rewrite("smfg-loop-state-v2");  // strips 5 more numbers, claims v2
  EXPECT_EQ((*old)->Resume().code(), absl::StatusCode::kDataLoss);
  std::filesystem::remove_all(params.checkpoint_dir);
}

}  // namespace
}  // namespace smfg::coordinator
