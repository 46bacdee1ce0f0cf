#include "coordinator/metrics_text.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smfg::coordinator {
namespace {

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string* out, const char* name, const char* type, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

std::string Seconds(double value) { return absl::StrFormat("%.9g", value); }

double SecondsPerShard(const WorkerCounters& w) {
  return w.shards_completed > 0 ? w.compute_seconds / static_cast<double>(w.shards_completed) : 0.0;
}

std::string WorkerLabels(const WorkerCounters& w) {
  return absl::StrCat("{worker_id=\"", EscapeLabel(w.worker_id), "\",name=\"", EscapeLabel(w.name),
                      "\"} ");
}

// Pool-wide traffic and barrier wait (WorkerPool::Totals()).
void AppendPoolTotals(std::string* out, const PoolTotals& pool) {
  Header(out, "smfg_bytes_to_workers_total", "counter",
         "Serialised bytes of the work items sent to workers.");
  absl::StrAppend(out, "smfg_bytes_to_workers_total ", pool.bytes_to_workers, "\n");
  Header(out, "smfg_bytes_from_workers_total", "counter",
         "Serialised bytes of the results received from workers.");
  absl::StrAppend(out, "smfg_bytes_from_workers_total ", pool.bytes_from_workers, "\n");
  Header(out, "smfg_barrier_wait_seconds_total", "counter",
         "Seconds workers that had finished waited for a job's last shard, summed.");
  absl::StrAppend(out, "smfg_barrier_wait_seconds_total ", Seconds(pool.barrier_wait_seconds),
                  "\n");
  Header(out, "smfg_stale_gradients_total", "counter",
         "Learning followers' gradients refused for quoting another policy version.");
  absl::StrAppend(out, "smfg_stale_gradients_total ", pool.stale_gradients, "\n");
}

}  // namespace

std::string FormatPrometheus(const CoordinatorMetrics& m) {
  std::string out;
  Header(&out, "smfg_experiments", "gauge", "Experiments by status.");
  for (const auto& [status, count] : m.experiments_by_status) {
    absl::StrAppend(&out, "smfg_experiments{status=\"", EscapeLabel(status), "\"} ", count, "\n");
  }
  Header(&out, "smfg_outer_iterations_completed", "gauge",
         "Outer iterations with stored metrics, summed over experiments.");
  absl::StrAppend(&out, "smfg_outer_iterations_completed ", m.outer_iterations_completed, "\n");
  Header(&out, "smfg_workers_live", "gauge", "Workers currently live.");
  absl::StrAppend(&out, "smfg_workers_live ", m.live_workers, "\n");
  Header(&out, "smfg_worker_waits_total", "counter",
         "Times a job had to wait for a worker to register.");
  absl::StrAppend(&out, "smfg_worker_waits_total ", m.worker_waits, "\n");
  Header(&out, "smfg_equilibria_total", "counter",
         "Follower equilibria solved by runs (reference searches and outer iterations), by how "
         "they ended.");
  absl::StrAppend(&out, "smfg_equilibria_total{end=\"converged\"} ", m.equilibria_converged, "\n",
                  "smfg_equilibria_total{end=\"stalled\"} ", m.equilibria_stalled, "\n",
                  "smfg_equilibria_total{end=\"out_of_iterations\"} ",
                  m.equilibria_out_of_iterations, "\n");
  AppendPoolTotals(&out, m.pool);

  std::vector<WorkerCounters> workers = m.workers;
  std::sort(workers.begin(), workers.end(), [](const WorkerCounters& a, const WorkerCounters& b) {
    return a.worker_id < b.worker_id;
  });
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    int64_t (*value)(const WorkerCounters&);
  };
  const Series series[] = {
      {"smfg_worker_live", "gauge", "1 if the worker is live, 0 if it was declared dead.",
       [](const WorkerCounters& w) -> int64_t { return w.live ? 1 : 0; }},
      {"smfg_worker_items_assigned_total", "counter", "Work items assigned to the worker.",
       [](const WorkerCounters& w) { return w.items_assigned; }},
      {"smfg_worker_items_completed_total", "counter", "Work items whose results were accepted.",
       [](const WorkerCounters& w) { return w.items_completed; }},
      {"smfg_worker_shards_completed_total", "counter", "Shards computed by the worker.",
       [](const WorkerCounters& w) { return w.shards_completed; }},
      {"smfg_worker_failures_total", "counter",
       "Missed deadlines or heartbeats, error reports, invalid results.",
       [](const WorkerCounters& w) { return w.failures; }},
      {"smfg_worker_reassignments_total", "counter",
       "Work items taken back from the worker for reassignment.",
       [](const WorkerCounters& w) { return w.reassignments; }},
      {"smfg_worker_rejected_results_total", "counter", "SubmitResult calls refused.",
       [](const WorkerCounters& w) { return w.rejected_results; }},
  };
  for (const Series& s : series) {
    Header(&out, s.name, s.type, s.help);
    for (const WorkerCounters& w : workers) {
      absl::StrAppend(&out, s.name, WorkerLabels(w), s.value(w), "\n");
    }
  }
  struct SecondsSeries {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const WorkerCounters&);
  };
  const SecondsSeries seconds_series[] = {
      {"smfg_worker_compute_seconds_total", "counter",
       "Seconds the worker reported computing its accepted items.",
       [](const WorkerCounters& w) { return w.compute_seconds; }},
      {"smfg_worker_seconds_per_shard", "gauge",
       "Mean compute seconds per accepted shard (0 before the first).", SecondsPerShard},
  };
  for (const SecondsSeries& s : seconds_series) {
    Header(&out, s.name, s.type, s.help);
    for (const WorkerCounters& w : workers) {
      absl::StrAppend(&out, s.name, WorkerLabels(w), Seconds(s.value(w)), "\n");
    }
  }
  return out;
}

}  // namespace smfg::coordinator
