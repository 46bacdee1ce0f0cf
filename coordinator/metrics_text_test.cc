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

TEST(MetricsTextTest, ExactTextForSmallFixture) {
  CoordinatorMetrics m;
  m.experiments_by_status = {{"RUNNING", 1}, {"QUEUED", 2}};
  m.outer_iterations_completed = 7;
  m.live_workers = 1;
  m.worker_waits = 3;
  m.equilibria_converged = 40;
  m.equilibria_stalled = 2;
  m.equilibria_out_of_iterations = 1;
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
  m.pool.stale_gradients = 2;
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
      "# HELP smfg_equilibria_total Follower equilibria solved by runs (reference searches and "
      "outer iterations), by how they ended.\n"
      "# TYPE smfg_equilibria_total counter\n"
      "smfg_equilibria_total{end=\"converged\"} 40\n"
      "smfg_equilibria_total{end=\"stalled\"} 2\n"
      "smfg_equilibria_total{end=\"out_of_iterations\"} 1\n"
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
      "# HELP smfg_stale_gradients_total Learning followers' gradients refused for quoting "
      "another policy version.\n"
      "# TYPE smfg_stale_gradients_total counter\n"
      "smfg_stale_gradients_total 2\n"
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
  absl::StatusOr<v1::GetWorkResponse> work = pool.GetWork(poll, absl::Seconds(30));
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

}  // namespace
}  // namespace smfg::coordinator
