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

absl::Status RemotePopulationEvaluator::CheckInputs(const env::Tariff& tariff,
                                                    const env::PriceBelief& belief) const {
  return workers::CheckKernelInputs(tariff, belief, shape_);
}

absl::StatusOr<JobResults> RemotePopulationEvaluator::RunShards(
    v1::WorkKind kind, std::shared_ptr<const v1::WorkItem> payload, int64_t policy_parameters,
    uint64_t policy_version) {
  JobSpec job = BaseJob();
  job.kind = kind;
  job.payload = std::move(payload);
  job.policy_parameters = policy_parameters;
  job.policy_version = policy_version;
  SMFG_ASSIGN_OR_RETURN(JobResults results, pool_->RunJob(job, WaitOptions()));
  AddJobStats(results.stats);
  return results;
}

absl::StatusOr<env::PopulationStats> RemotePopulationEvaluator::Evaluate(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  // Inputs no worker could read would be failed by every worker in turn.
  SMFG_RETURN_IF_ERROR(workers::CheckKernelInputs(tariff, belief, shape_));
  auto payload = std::make_shared<v1::WorkItem>();
  *payload->mutable_evaluate()->mutable_tariff() = workers::TariffToProto(tariff);
  *payload->mutable_evaluate()->mutable_belief() = workers::BeliefToProto(belief);
  SMFG_ASSIGN_OR_RETURN(JobResults results, RunShards(v1::WORK_KIND_EVALUATE, std::move(payload)));
  return env::ReduceShards(std::move(results.population));
}

absl::StatusOr<env::ExploitabilityStats> RemotePopulationEvaluator::Exploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  SMFG_RETURN_IF_ERROR(workers::CheckKernelInputs(tariff, belief, shape_));
  SMFG_RETURN_IF_ERROR(Annotate(workers::CheckKernelInputs(tariff, realised, shape_), "realised"));
  auto payload = std::make_shared<v1::WorkItem>();
  v1::ExploitabilityPayload* p = payload->mutable_exploitability();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  *p->mutable_realised() = workers::BeliefToProto(realised);
  SMFG_ASSIGN_OR_RETURN(JobResults results,
                        RunShards(v1::WORK_KIND_EXPLOITABILITY, std::move(payload)));
  return env::ReduceShards(results.exploitability);
}

RemoteFollowerBackend::RemoteFollowerBackend(WorkerPool* pool, const env::Scenario& scenario,
                                             int64_t parameter_count,
                                             RemoteEvaluatorOptions options)
    : remote_(pool, scenario, std::move(options)), parameter_count_(parameter_count) {}

absl::StatusOr<std::vector<env::PopulationStats>> RemoteFollowerBackend::Evaluate(
    const env::Tariff& tariff, const env::PriceBelief& belief,
    const followers::PolicyVersion& policy) {
  SMFG_RETURN_IF_ERROR(remote_.CheckInputs(tariff, belief));
  auto payload = std::make_shared<v1::WorkItem>();
  v1::EvaluatePayload* p = payload->mutable_evaluate();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  *p->mutable_policy() = workers::PolicyToProto(policy);
  SMFG_ASSIGN_OR_RETURN(JobResults results,
                        remote_.RunShards(v1::WORK_KIND_EVALUATE, std::move(payload)));
  return std::move(results.population);
}

absl::StatusOr<std::vector<env::ExploitabilityStats>> RemoteFollowerBackend::Exploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised,
    const followers::PolicyVersion* policy) {
  SMFG_RETURN_IF_ERROR(remote_.CheckInputs(tariff, belief));
  SMFG_RETURN_IF_ERROR(Annotate(remote_.CheckInputs(tariff, realised), "realised"));
  auto payload = std::make_shared<v1::WorkItem>();
  v1::ExploitabilityPayload* p = payload->mutable_exploitability();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  *p->mutable_realised() = workers::BeliefToProto(realised);
  if (policy != nullptr) *p->mutable_policy() = workers::PolicyToProto(*policy);
  SMFG_ASSIGN_OR_RETURN(JobResults results,
                        remote_.RunShards(v1::WORK_KIND_EXPLOITABILITY, std::move(payload)));
  return std::move(results.exploitability);
}

absl::StatusOr<std::vector<followers::ShardGradient>> RemoteFollowerBackend::Gradients(
    const env::Tariff& tariff, const env::PriceBelief& belief, uint64_t phase,
    const followers::PolicyVersion& sampling, const followers::PolicyVersion& current) {
  SMFG_RETURN_IF_ERROR(remote_.CheckInputs(tariff, belief));
  auto payload = std::make_shared<v1::WorkItem>();
  v1::PolicyGradientPayload* p = payload->mutable_policy_gradient();
  *p->mutable_tariff() = workers::TariffToProto(tariff);
  *p->mutable_belief() = workers::BeliefToProto(belief);
  p->set_phase(phase);
  *p->mutable_sampling() = workers::PolicyToProto(sampling);
  *p->mutable_current() = workers::PolicyToProto(current);
  SMFG_ASSIGN_OR_RETURN(JobResults results,
                        remote_.RunShards(v1::WORK_KIND_POLICY_GRADIENT, std::move(payload),
                                          parameter_count_, current.version));
  return std::move(results.gradients);
}

}  // namespace smfg::coordinator
