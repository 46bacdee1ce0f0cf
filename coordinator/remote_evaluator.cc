#include "coordinator/remote_evaluator.h"

#include <utility>

#include "common/status.h"
#include "config/spec_convert.h"

namespace smfg::coordinator {

RemotePopulationEvaluator::RemotePopulationEvaluator(WorkerPool* pool,
                                                     const env::Scenario& scenario,
                                                     RemoteEvaluatorOptions options)
    : pool_(pool),
      options_(std::move(options)),
      shards_(scenario.shards),
      shape_(workers::StatsShape::Of(scenario)),
      wire_scenario_(
          std::make_shared<const v1::Scenario>(config::FromScenario(scenario).scenario())),
      fingerprint_(workers::ScenarioFingerprint(*wire_scenario_)) {}

JobSpec RemotePopulationEvaluator::BaseJob() const {
  JobSpec job;
  job.experiment_id = options_.experiment_id;
  job.scenario_fingerprint = fingerprint_;
  job.scenario = wire_scenario_;
  job.shards = shards_;
  job.shape = shape_;
  return job;
}

JobWaitOptions RemotePopulationEvaluator::WaitOptions() const {
  JobWaitOptions wait;
  wait.no_worker_timeout = options_.worker_wait_timeout;
  wait.on_waiting_for_workers = options_.on_waiting_for_workers;
  return wait;
}

env::EvaluatorCounters RemotePopulationEvaluator::Counters() const {
  absl::MutexLock lock(&counters_mu_);
  return counters_;
}

void RemotePopulationEvaluator::AddJobStats(const JobStats& stats) {
  absl::MutexLock lock(&counters_mu_);
  counters_.jobs++;
  counters_.bytes_sent += stats.bytes_to_workers;
  counters_.bytes_received += stats.bytes_from_workers;
  if (stats.workers.empty()) return;
  const double n = static_cast<double>(stats.workers.size());
  for (const WorkerJobTime& w : stats.workers) {
    counters_.compute_seconds += w.compute_seconds / n;
    counters_.communication_seconds += w.communication_seconds / n;
    counters_.barrier_seconds += w.barrier_seconds / n;
  }
}

absl::StatusOr<env::PopulationStats> RemotePopulationEvaluator::Evaluate(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  // Inputs no worker could read would be failed by every worker in turn.
  SMFG_RETURN_IF_ERROR(workers::CheckKernelInputs(tariff, belief, shape_));
  JobSpec job = BaseJob();
  job.kind = v1::WORK_KIND_EVALUATE;
  auto payload = std::make_shared<v1::WorkItem>();
  *payload->mutable_evaluate()->mutable_tariff() = workers::TariffToProto(tariff);
  *payload->mutable_evaluate()->mutable_belief() = workers::BeliefToProto(belief);
  job.payload = std::move(payload);
  SMFG_ASSIGN_OR_RETURN(JobResults results, pool_->RunJob(job, WaitOptions()));
  AddJobStats(results.stats);
  return env::ReduceShards(std::move(results.population));
}

absl::StatusOr<env::ExploitabilityStats> RemotePopulationEvaluator::Exploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  SMFG_RETURN_IF_ERROR(workers::CheckKernelInputs(tariff, belief, shape_));
  SMFG_RETURN_IF_ERROR(Annotate(workers::CheckKernelInputs(tariff, realised, shape_), "realised"));
  JobSpec job = BaseJob();
  job.kind = v1::WORK_KIND_EXPLOITABILITY;
  auto payload = std::make_shared<v1::WorkItem>();
  v1::ExploitabilityPayload* p = payload->mutable_exploitability();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  *p->mutable_realised() = workers::BeliefToProto(realised);
  job.payload = std::move(payload);
  SMFG_ASSIGN_OR_RETURN(JobResults results, pool_->RunJob(job, WaitOptions()));
  AddJobStats(results.stats);
  return env::ReduceShards(results.exploitability);
}

}  // namespace smfg::coordinator
