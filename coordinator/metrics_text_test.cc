#include "coordinator/metrics_text.h"

#include "gtest/gtest.h"

namespace smfg::coordinator {
namespace {

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
  m.workers = {b, a};
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
      "smfg_worker_rejected_results_total{worker_id=\"w-2\",name=\"say \\\"hi\\\"\"} 0\n";
  EXPECT_EQ(FormatPrometheus(m), expected);
}

}  // namespace
}  // namespace smfg::coordinator
