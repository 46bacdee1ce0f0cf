#include "coordinator/worker_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace smfg::coordinator {
namespace {

// Cancellation of a long poll is only visible by polling ServerContext, so a
// waiting GetWork re-checks at least this often.
constexpr absl::Duration kCancelCheck = absl::Seconds(1);

}  // namespace

namespace {

// 32 random bits as hex, from the OS: a pool's worker ids are unique to it,
// so an id handed out by an earlier coordinator is never accepted by a new
// one (its worker re-registers instead of sharing an id with another).
std::string PoolIncarnation() {
  std::random_device device;
  return absl::StrCat(absl::Hex(device(), absl::kZeroPad8));
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolOptions options)
    : options_(std::move(options)), incarnation_(PoolIncarnation()) {}

absl::Time WorkerPool::Now() const { return options_.clock ? options_.clock() : absl::Now(); }

void WorkerPool::WaitUntilLocked(absl::Time deadline) {
  // A timeout rather than a deadline: the deadline is on the pool's clock,
  // which tests may replace, while the wait is in real time. Every change a
  // waiter cares about signals changed_; a test that moves its clock wakes
  // waiters through any call that sweeps (LiveWorkers(), say).
  changed_.WaitWithTimeout(&mu_, std::max(deadline - Now(), absl::ZeroDuration()));
}

v1::RegisterResponse WorkerPool::Register(const v1::RegisterRequest& request) {
  absl::MutexLock lock(&mu_);
  const std::string id = absl::StrCat("w", next_worker_++, "-", incarnation_);
  Worker& w = workers_[id];
  w.counters.worker_id = id;
  w.counters.name = request.name();
  w.counters.live = true;
  w.last_seen = Now();
  std::fprintf(stderr, "worker pool: registered %s (%s, %d threads)\n", id.c_str(),
               request.name().c_str(), request.threads());
  changed_.SignalAll();
  v1::RegisterResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(options_.heartbeat_interval));
  response.set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(options_.heartbeat_timeout));
  return response;
}

absl::Status WorkerPool::Heartbeat(const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(request.worker_id());
  if (it == workers_.end() || !it->second.counters.live) {
    return absl::NotFoundError(
        absl::StrCat("worker '", request.worker_id(), "' is not registered"));
  }
  it->second.last_seen = Now();
  return absl::OkStatus();
}

int WorkerPool::LiveWorkersLocked() const {
  int live = 0;
  for (const auto& [id, w] : workers_) live += w.counters.live ? 1 : 0;
  return live;
}

int WorkerPool::LiveWorkers() {
  absl::MutexLock lock(&mu_);
  SweepLocked(Now());
  return LiveWorkersLocked();
}

bool WorkerPool::WaitForLiveWorkers(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time give_up = Now() + timeout;
  while (true) {
    SweepLocked(Now());
    if (LiveWorkersLocked() >= n) return true;
    if (Now() >= give_up) return false;
    WaitUntilLocked(std::min(give_up, NextSweepLocked()));
  }
}

int64_t WorkerPool::worker_waits() const {
  absl::MutexLock lock(&mu_);
  return worker_waits_;
}

PoolTotals WorkerPool::Totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

std::vector<WorkerCounters> WorkerPool::Workers() {
  absl::MutexLock lock(&mu_);
  SweepLocked(Now());
  std::vector<WorkerCounters> out;
  for (const auto& [id, w] : workers_) out.push_back(w.counters);
  return out;
}

void WorkerPool::CancelJobs(const std::string& experiment_id) {
  absl::MutexLock lock(&mu_);
  for (auto& [job_id, job] : jobs_) {
    if (job.spec.experiment_id == experiment_id && job.failure.ok()) {
      job.failure =
          absl::CancelledError(absl::StrCat("experiment '", experiment_id, "' was cancelled"));
    }
  }
  changed_.SignalAll();
}

void WorkerPool::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  changed_.SignalAll();
}

void WorkerPool::RequeueLocked(uint64_t work_id, const absl::Status& failure,
                               bool worker_already_charged) {
  auto it = assignments_.find(work_id);
  if (it == assignments_.end()) return;
  Assignment& a = it->second;
  auto job = jobs_.find(a.job_id);
  if (job != jobs_.end()) {
    Job& j = job->second;
    j.pending.insert(a.shards.begin(), a.shards.end());
    if (!failure.ok()) {
      for (int shard : a.shards) {
        if (++j.shard_failures[shard] >= options_.max_shard_failures && j.failure.ok()) {
          j.failure =
              absl::AbortedError(absl::StrCat("shard ", shard, " failed ", j.shard_failures[shard],
                                              " times; last: ", failure.message()));
        }
      }
    }
  }
  auto w = workers_.find(a.worker_id);
  if (w != workers_.end()) {
    w->second.counters.reassignments++;
    if (!failure.ok() && !worker_already_charged) w->second.counters.failures++;
  }
  assignments_.erase(it);
  changed_.SignalAll();
}

void WorkerPool::SweepLocked(absl::Time now) {
  for (auto& [id, w] : workers_) {
    if (!w.counters.live || now - w.last_seen <= options_.heartbeat_timeout) continue;
    w.counters.live = false;
    w.counters.failures++;
    std::fprintf(stderr, "worker pool: %s (%s) missed its heartbeat; reassigning its work\n",
                 id.c_str(), w.counters.name.c_str());
    changed_.SignalAll();
  }
  std::vector<uint64_t> overdue;
  for (const auto& [work_id, a] : assignments_) {
    auto w = workers_.find(a.worker_id);
    const bool dead = w == workers_.end() || !w->second.counters.live;
    if (dead || now > a.deadline) overdue.push_back(work_id);
  }
  for (uint64_t work_id : overdue) {
    const Assignment& a = assignments_.at(work_id);
    const bool dead = !workers_.at(a.worker_id).counters.live;
    if (!dead) {
      std::fprintf(stderr, "worker pool: %s missed the deadline of work %llu; reassigning\n",
                   a.worker_id.c_str(), static_cast<unsigned long long>(work_id));
    }
    const absl::Status why = absl::DeadlineExceededError(
        absl::StrCat("worker ", a.worker_id, dead ? " died" : " missed the deadline"));
    // A dead worker's failure was counted once above, not once per item.
    RequeueLocked(work_id, why, /*worker_already_charged=*/dead);
  }
}

absl::Time WorkerPool::NextSweepLocked() const {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [id, w] : workers_) {
    if (w.counters.live) next = std::min(next, w.last_seen + options_.heartbeat_timeout);
  }
  for (const auto& [work_id, a] : assignments_) next = std::min(next, a.deadline);
  // Strictly after the boundary, since SweepLocked uses strict comparisons.
  return next + absl::Milliseconds(1);
}

void WorkerPool::EraseJobLocked(uint64_t job_id) {
  for (auto it = assignments_.begin(); it != assignments_.end();) {
    it = it->second.job_id == job_id ? assignments_.erase(it) : std::next(it);
  }
  jobs_.erase(job_id);
}

absl::StatusOr<v1::GetWorkResponse> WorkerPool::GetWork(const v1::GetWorkRequest& request,
                                                        absl::Duration max_wait,
                                                        const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  const absl::Time wait_until = Now() + std::min(max_wait, options_.max_long_poll);
  while (true) {
    const absl::Time now = Now();
    SweepLocked(now);
    auto w = workers_.find(request.worker_id());
    if (w == workers_.end() || !w->second.counters.live) {
      return absl::NotFoundError(
          absl::StrCat("worker '", request.worker_id(), "' is not registered"));
    }
    // Being in a call is a sign of life, even while it waits.
    w->second.last_seen = now;
    // A worker computes one item at a time: polling again means it lost what
    // it held (typically a response that arrived after its deadline).
    std::vector<uint64_t> held;
    for (const auto& [work_id, a] : assignments_) {
      if (a.worker_id == request.worker_id()) held.push_back(work_id);
    }
    for (uint64_t work_id : held) {
      RequeueLocked(work_id, absl::OkStatus(), /*worker_already_charged=*/false);
    }
    if (shutdown_ || (cancelled && cancelled())) return v1::GetWorkResponse();

    for (auto& [job_id, job] : jobs_) {
      if (job.pending.empty()) continue;
      const int live = std::max(1, LiveWorkersLocked());
      const int chunk = (job.spec.shards + live - 1) / live;
      v1::GetWorkResponse response;
      v1::WorkItem* item = response.mutable_item();
      *item = *job.spec.payload;
      const uint64_t work_id = next_work_id_++;
      item->set_work_id(work_id);
      item->set_experiment_id(job.spec.experiment_id);
      item->set_scenario_fingerprint(job.spec.scenario_fingerprint);
      item->set_kind(job.spec.kind);
      item->set_deadline_ms(absl::ToInt64Milliseconds(options_.work_deadline));
      const auto& known = request.known_scenario_fingerprints();
      if (std::find(known.begin(), known.end(), job.spec.scenario_fingerprint) == known.end()) {
        *item->mutable_scenario() = *job.spec.scenario;
      }
      Assignment& a = assignments_[work_id];
      a.job_id = job_id;
      a.worker_id = request.worker_id();
      a.assigned = now;
      a.deadline = now + options_.work_deadline;
      while (static_cast<int>(a.shards.size()) < chunk && !job.pending.empty()) {
        a.shards.push_back(*job.pending.begin());
        item->add_shards(*job.pending.begin());
        job.pending.erase(job.pending.begin());
      }
      w->second.counters.items_assigned++;
      const int64_t bytes = static_cast<int64_t>(response.ByteSizeLong());
      job.bytes_to_workers += bytes;
      totals_.bytes_to_workers += bytes;
      return response;
    }
    if (now >= wait_until) return v1::GetWorkResponse();
    WaitUntilLocked(std::min({wait_until, now + kCancelCheck, NextSweepLocked()}));
  }
}

absl::Status WorkerPool::AcceptResultLocked(const v1::SubmitResultRequest& request, Assignment& a,
                                            Job& job) {
  if (request.results_size() != static_cast<int>(a.shards.size())) {
    return absl::InvalidArgumentError(absl::StrCat("results: ", request.results_size(),
                                                   " entries for ", a.shards.size(), " shards"));
  }
  std::vector<env::PopulationStats> population;
  std::vector<env::ExploitabilityStats> exploitability;
  std::vector<followers::ShardGradient> gradients;
  for (int i = 0; i < request.results_size(); ++i) {
    const v1::ShardResult& r = request.results(i);
    const std::string field = absl::StrCat("results[", i, "]");
    if (r.shard() != a.shards[i]) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ".shard: ", r.shard(), " is not shard ", a.shards[i], " of work ",
                       request.work_id(), " owned by ", a.worker_id));
    }
    if (job.spec.kind == v1::WORK_KIND_EVALUATE) {
      if (!r.has_population()) return absl::InvalidArgumentError(field + ".population: absent");
      absl::StatusOr<env::PopulationStats> s =
          workers::StatsFromProto(r.population(), &job.spec.shape);
      if (!s.ok()) return Annotate(s.status(), field + ".population");
      population.push_back(*std::move(s));
    } else if (job.spec.kind == v1::WORK_KIND_POLICY_GRADIENT) {
      if (!r.has_gradient()) return absl::InvalidArgumentError(field + ".gradient: absent");
      absl::StatusOr<followers::ShardGradient> g =
          workers::GradientFromProto(r.gradient(), job.spec.policy_parameters);
      if (!g.ok()) return Annotate(g.status(), field + ".gradient");
      if (g->policy_version != job.spec.policy_version) {
        ++totals_.stale_gradients;
        return absl::FailedPreconditionError(
            absl::StrCat(field, ".gradient.policy_version: ", g->policy_version,
                         " is stale: the job steps version ", job.spec.policy_version));
      }
      gradients.push_back(*std::move(g));
    } else {
      if (!r.has_exploitability()) {
        return absl::InvalidArgumentError(field + ".exploitability: absent");
      }
      absl::StatusOr<env::ExploitabilityStats> s =
          workers::ExploitabilityFromProto(r.exploitability());
      if (!s.ok()) return Annotate(s.status(), field + ".exploitability");
      exploitability.push_back(*s);
    }
  }
  // Everything decoded: only now touch the job, so a bad result leaves no trace.
  for (size_t i = 0; i < a.shards.size(); ++i) {
    const int shard = a.shards[i];
    if (job.spec.kind == v1::WORK_KIND_EVALUATE) {
      job.results.population[shard] = std::move(population[i]);
    } else if (job.spec.kind == v1::WORK_KIND_POLICY_GRADIENT) {
      job.results.gradients[shard] = std::move(gradients[i]);
    } else {
      job.results.exploitability[shard] = exploitability[i];
    }
  }
  job.remaining -= static_cast<int>(a.shards.size());
  return absl::OkStatus();
}

void WorkerPool::RecordAcceptedLocked(const v1::SubmitResultRequest& request, const Assignment& a,
                                      Job& job, absl::Time now) {
  const double reported = request.compute_seconds();
  const double compute = std::isfinite(reported) && reported > 0 ? reported : 0.0;
  const double round_trip = absl::ToDoubleSeconds(now - a.assigned);
  WorkerJobTime& t = job.worker_times[a.worker_id];
  t.worker_id = a.worker_id;
  t.items++;
  t.shards += static_cast<int>(a.shards.size());
  t.compute_seconds += compute;
  t.communication_seconds += std::max(0.0, round_trip - compute);
  job.last_accepted[a.worker_id] = now;
  if (job.remaining == 0) job.finished = now;
  WorkerCounters& counters = workers_.at(a.worker_id).counters;
  counters.items_completed++;
  counters.shards_completed += static_cast<int64_t>(a.shards.size());
  counters.compute_seconds += compute;
}

JobStats WorkerPool::FinishStatsLocked(Job& job, absl::Time now) {
  JobStats stats;
  stats.wall_seconds = absl::ToDoubleSeconds(now - job.started);
  stats.bytes_to_workers = job.bytes_to_workers;
  stats.bytes_from_workers = job.bytes_from_workers;
  for (auto& [id, t] : job.worker_times) {  // std::map: sorted by worker id
    t.barrier_seconds = absl::ToDoubleSeconds(job.finished - job.last_accepted.at(id));
    totals_.barrier_wait_seconds += t.barrier_seconds;
    stats.workers.push_back(t);
  }
  return stats;
}

absl::Status WorkerPool::SubmitResult(const v1::SubmitResultRequest& request) {
  // Outside the lock: sizing walks the whole message.
  const int64_t bytes = static_cast<int64_t>(request.ByteSizeLong());
  absl::MutexLock lock(&mu_);
  const absl::Time now = Now();
  totals_.bytes_from_workers += bytes;
  auto w = workers_.find(request.worker_id());
  if (w == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("worker '", request.worker_id(), "' is not registered"));
  }
  WorkerCounters& counters = w->second.counters;
  if (counters.live) w->second.last_seen = now;
  auto it = assignments_.find(request.work_id());
  if (it == assignments_.end()) {
    counters.rejected_results++;
    return absl::FailedPreconditionError(
        absl::StrCat("work ", request.work_id(), " is stale or unknown"));
  }
  Assignment& a = it->second;
  jobs_.at(a.job_id).bytes_from_workers += bytes;
  if (a.worker_id != request.worker_id()) {
    counters.rejected_results++;
    return absl::FailedPreconditionError(absl::StrCat(
        "work ", request.work_id(), " is not assigned to worker '", request.worker_id(), "'"));
  }
  if (!request.error_message().empty()) {
    std::fprintf(stderr, "worker pool: %s failed work %llu: %s\n", a.worker_id.c_str(),
                 static_cast<unsigned long long>(request.work_id()),
                 request.error_message().c_str());
    RequeueLocked(request.work_id(),
                  absl::InternalError(absl::StrCat("worker ", request.worker_id(),
                                                   " reported: ", request.error_message())),
                  /*worker_already_charged=*/false);
    return absl::OkStatus();
  }
  Job& job = jobs_.at(a.job_id);
  const absl::Status accepted = AcceptResultLocked(request, a, job);
  if (!accepted.ok()) {
    counters.rejected_results++;
    std::fprintf(stderr, "worker pool: rejected result of work %llu from %s: %s\n",
                 static_cast<unsigned long long>(request.work_id()), a.worker_id.c_str(),
                 std::string(accepted.message()).c_str());
    RequeueLocked(request.work_id(),
                  Annotate(accepted, absl::StrCat("invalid result from ", request.worker_id())),
                  /*worker_already_charged=*/false);
    return accepted;
  }
  RecordAcceptedLocked(request, a, job, now);
  assignments_.erase(it);
  changed_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<JobResults> WorkerPool::RunJob(const JobSpec& spec, const JobWaitOptions& wait) {
  if (spec.shards <= 0 || spec.scenario == nullptr || spec.payload == nullptr) {
    return absl::InvalidArgumentError("job: needs shards > 0, a scenario and a payload");
  }
  absl::MutexLock lock(&mu_);
  const uint64_t job_id = next_job_id_++;
  Job& job = jobs_[job_id];
  job.spec = spec;
  job.started = Now();
  for (int s = 0; s < spec.shards; ++s) job.pending.insert(s);
  job.remaining = spec.shards;
  if (spec.kind == v1::WORK_KIND_EVALUATE) {
    job.results.population.resize(spec.shards);
  } else if (spec.kind == v1::WORK_KIND_POLICY_GRADIENT) {
    job.results.gradients.resize(spec.shards);
  } else {
    job.results.exploitability.resize(spec.shards);
  }
  changed_.SignalAll();

  std::optional<absl::Time> waiting_since;
  while (true) {
    const absl::Time now = Now();
    SweepLocked(now);
    Job& current = jobs_.at(job_id);
    if (current.remaining == 0) {
      JobResults results = std::move(current.results);
      results.stats = FinishStatsLocked(current, now);
      EraseJobLocked(job_id);
      return results;
    }
    if (!current.failure.ok()) {
      const absl::Status failure = current.failure;
      EraseJobLocked(job_id);
      return failure;
    }
    if (shutdown_) {
      EraseJobLocked(job_id);
      return absl::UnavailableError("worker pool shut down");
    }
    absl::Time wake = NextSweepLocked();
    if (LiveWorkersLocked() == 0) {
      if (!waiting_since) {
        waiting_since = now;
        worker_waits_++;
        std::fprintf(stderr,
                     "worker pool: experiment '%s' waits for a worker to register "
                     "(%d shards pending, gives up after %s)\n",
                     spec.experiment_id.c_str(), current.remaining,
                     absl::FormatDuration(wait.no_worker_timeout).c_str());
        if (wait.on_waiting_for_workers) {
          mu_.Unlock();
          wait.on_waiting_for_workers();
          mu_.Lock();
          continue;  // the world may have changed while unlocked
        }
      }
      const absl::Time give_up = *waiting_since + wait.no_worker_timeout;
      if (now >= give_up) {
        EraseJobLocked(job_id);
        return absl::UnavailableError(absl::StrCat("no live worker for ",
                                                   absl::FormatDuration(wait.no_worker_timeout),
                                                   " (experiment '", spec.experiment_id, "')"));
      }
      wake = std::min(wake, give_up);
    } else {
      waiting_since.reset();
    }
    WaitUntilLocked(wake);
  }
}

}  // namespace smfg::coordinator
