#include "follower_workers/worker_core.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "common/status.h"
#include "config/fingerprint.h"
#include "config/spec_convert.h"
#include "follower_workers/wire_convert.h"

namespace smfg::workers {

WorkerCore::WorkerCore(int threads, int max_cached_scenarios)
    : threads_(std::max(1, threads)), max_cached_(std::max(1, max_cached_scenarios)) {}

std::vector<uint64_t> WorkerCore::KnownFingerprints() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& [fingerprint, kernel] : kernels_) out.push_back(fingerprint);
  return out;
}

absl::StatusOr<std::shared_ptr<const env::ShardKernel>> WorkerCore::KernelFor(
    const v1::WorkItem& item) {
  const uint64_t fingerprint = item.scenario_fingerprint();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kernels_.find(fingerprint);
    if (it != kernels_.end()) return it->second;
  }
  if (!item.has_scenario()) {
    return absl::FailedPreconditionError(
        absl::StrCat("scenario: absent and fingerprint ", fingerprint, " is not cached"));
  }
  // Trust nothing: a fingerprint that does not match its scenario would poison
  // the cache for every later item.
  if (workers::ScenarioFingerprint(item.scenario()) != fingerprint) {
    return absl::InvalidArgumentError("scenario_fingerprint: does not match scenario");
  }
  v1::ExperimentSpec spec;
  *spec.mutable_scenario() = item.scenario();
  spec.set_name(item.scenario().name());
  absl::StatusOr<env::Scenario> scenario = config::ToScenario(spec, "");
  if (!scenario.ok()) return Annotate(scenario.status(), "scenario");
  SMFG_RETURN_IF_ERROR(Annotate(env::ValidateScenario(*scenario), "scenario"));
  // Built outside the lock: it is the expensive part, and two threads racing
  // on the same fingerprint build equal kernels.
  auto kernel = std::make_shared<const env::ShardKernel>(*scenario);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = kernels_.emplace(fingerprint, kernel);
  if (inserted) {
    insertion_order_.push_back(fingerprint);
    while (static_cast<int>(insertion_order_.size()) > max_cached_) {
      kernels_.erase(insertion_order_.front());
      insertion_order_.pop_front();
    }
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<followers::FollowerShardWork>> WorkerCore::WorkFor(
    uint64_t fingerprint, std::shared_ptr<const env::ShardKernel> kernel) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = works_.find(fingerprint);
    if (it != works_.end() && &it->second->kernel() == kernel.get()) return it->second;
  }
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<followers::FollowerShardWork> created,
                        followers::FollowerShardWork::Create(kernel, threads_));
  std::shared_ptr<followers::FollowerShardWork> work = std::move(created);
  std::lock_guard<std::mutex> lock(mu_);
  // Forget the work of scenarios whose kernels left the cache.
  for (auto it = works_.begin(); it != works_.end();) {
    it = kernels_.count(it->first) ? std::next(it) : works_.erase(it);
  }
  auto [it, inserted] = works_.emplace(fingerprint, work);
  if (!inserted) it->second = work;
  return it->second;
}

absl::StatusOr<std::vector<v1::ShardResult>> WorkerCore::Compute(
    const v1::WorkItem& item, const std::function<bool()>& cancelled) {
  SMFG_ASSIGN_OR_RETURN(std::shared_ptr<const env::ShardKernel> kernel, KernelFor(item));
  const env::Scenario& sc = kernel->scenario();

  if (item.shards().empty()) return absl::InvalidArgumentError("shards: empty");
  for (int i = 0; i < item.shards_size(); ++i) {
    const int s = item.shards(i);
    if (s < 0 || s >= sc.shards || (i > 0 && s <= item.shards(i - 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shards[", i, "]: ", s, " is out of range [0, ", sc.shards, ") or not ascending"));
    }
  }

  const v1::WireTariff* wire_tariff = nullptr;
  env::PriceBelief belief, realised;
  // Learning followers: the policy of EVALUATE / EXPLOITABILITY items, the
  // two parameter sets of gradient items.
  const v1::FollowerPolicyParameters* wire_policy = nullptr;
  const v1::PolicyGradientPayload* gradient = nullptr;
  const bool learning = sc.follower.learner == env::FollowerParams::Learner::kPpo;
  switch (item.kind()) {
    case v1::WORK_KIND_EVALUATE: {
      if (!item.has_evaluate()) {
        return absl::InvalidArgumentError("evaluate: absent for kind EVALUATE");
      }
      wire_tariff = &item.evaluate().tariff();
      absl::StatusOr<env::PriceBelief> b = workers::BeliefFromProto(item.evaluate().belief());
      if (!b.ok()) return Annotate(b.status(), "evaluate.belief");
      belief = *std::move(b);
      if (item.evaluate().has_policy() != learning) {
        return absl::InvalidArgumentError(
            learning ? "evaluate.policy: absent, and the scenario's followers learn"
                     : "evaluate.policy: set, and the scenario's followers do not learn");
      }
      if (learning) wire_policy = &item.evaluate().policy();
      break;
    }
    case v1::WORK_KIND_EXPLOITABILITY: {
      if (!item.has_exploitability()) {
        return absl::InvalidArgumentError("exploitability: absent for kind EXPLOITABILITY");
      }
      wire_tariff = &item.exploitability().tariff();
      absl::StatusOr<env::PriceBelief> b = workers::BeliefFromProto(item.exploitability().belief());
      if (!b.ok()) return Annotate(b.status(), "exploitability.belief");
      belief = *std::move(b);
      absl::StatusOr<env::PriceBelief> r =
          workers::BeliefFromProto(item.exploitability().realised());
      if (!r.ok()) return Annotate(r.status(), "exploitability.realised");
      realised = *std::move(r);
      if (item.exploitability().has_policy()) {
        if (!learning) {
          return absl::InvalidArgumentError(
              "exploitability.policy: set, and the scenario's followers do not learn");
        }
        wire_policy = &item.exploitability().policy();
      }
      break;
    }
    case v1::WORK_KIND_POLICY_GRADIENT: {
      if (!item.has_policy_gradient()) {
        return absl::InvalidArgumentError("policy_gradient: absent for kind POLICY_GRADIENT");
      }
      if (!learning) {
        return absl::InvalidArgumentError(
            "kind: POLICY_GRADIENT, and the scenario's followers do not learn");
      }
      gradient = &item.policy_gradient();
      wire_tariff = &gradient->tariff();
      absl::StatusOr<env::PriceBelief> b = workers::BeliefFromProto(gradient->belief());
      if (!b.ok()) return Annotate(b.status(), "policy_gradient.belief");
      belief = *std::move(b);
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("kind: unsupported value ", item.kind()));
  }
  absl::StatusOr<env::Tariff> tariff = workers::TariffFromProto(*wire_tariff);
  if (!tariff.ok()) return Annotate(tariff.status(), "tariff");
  // Shapes only (what the kernel reads), not env::ValidateTariff's value
  // policy: a remote evaluation must accept whatever a local one does.
  const workers::StatsShape shape = workers::StatsShape::Of(sc);
  const char* payload = item.kind() == v1::WORK_KIND_EVALUATE         ? "evaluate"
                        : item.kind() == v1::WORK_KIND_EXPLOITABILITY ? "exploitability"
                                                                      : "policy_gradient";
  SMFG_RETURN_IF_ERROR(Annotate(workers::CheckKernelInputs(*tariff, belief, shape), payload));
  if (item.kind() == v1::WORK_KIND_EXPLOITABILITY) {
    SMFG_RETURN_IF_ERROR(
        Annotate(workers::CheckKernelInputs(*tariff, realised, shape), "exploitability.realised"));
  }

  // The learning followers' work and parameters, decoded before any shard runs.
  std::shared_ptr<followers::FollowerShardWork> work;
  followers::PolicyVersion policy, sampling, current;
  uint64_t rollout_key = 0;
  if (learning) {
    SMFG_ASSIGN_OR_RETURN(work, WorkFor(item.scenario_fingerprint(), kernel));
    const long long n = work->parameter_count();
    if (wire_policy != nullptr) {
      absl::StatusOr<followers::PolicyVersion> p = workers::PolicyFromProto(*wire_policy, n);
      if (!p.ok()) return Annotate(p.status(), absl::StrCat(payload, ".policy"));
      policy = *std::move(p);
    }
    if (gradient != nullptr) {
      absl::StatusOr<followers::PolicyVersion> p =
          workers::PolicyFromProto(gradient->sampling(), n);
      if (!p.ok()) return Annotate(p.status(), "policy_gradient.sampling");
      sampling = *std::move(p);
      p = workers::PolicyFromProto(gradient->current(), n);
      if (!p.ok()) return Annotate(p.status(), "policy_gradient.current");
      current = *std::move(p);
      // The episodes depend on everything but the current parameters.
      v1::PolicyGradientPayload key = *gradient;
      key.clear_current();
      rollout_key = config::Fingerprint(key);
    }
  }

  const bool evaluate = item.kind() == v1::WORK_KIND_EVALUATE;
  std::vector<v1::ShardResult> results(item.shards_size());
  std::vector<absl::Status> failed(item.shards_size());
  std::atomic<bool> stopped{false};
  // Each shard writes only its own slot, so the thread count cannot change
  // a single bit of the results.
  ParallelFor(item.shards_size(), threads_, [&](int i) {
    if (stopped.load()) return;
    if (cancelled && cancelled()) {
      stopped = true;
      return;
    }
    const int shard = item.shards(i);
    results[i].set_shard(shard);
    if (gradient != nullptr) {
      absl::StatusOr<followers::ShardGradient> g =
          work->Gradient(shard, *tariff, belief, gradient->phase(), *sampling.values,
                         *current.values, rollout_key);
      if (!g.ok()) {
        failed[i] = g.status();
        return;
      }
      g->policy_version = current.version;
      *results[i].mutable_gradient() = workers::GradientToProto(*g);
    } else if (evaluate && wire_policy != nullptr) {
      absl::StatusOr<env::PopulationStats> st =
          work->Evaluate(shard, *tariff, belief, *policy.values);
      if (!st.ok()) {
        failed[i] = st.status();
        return;
      }
      *results[i].mutable_population() = workers::StatsToProto(*st);
    } else if (evaluate) {
      *results[i].mutable_population() =
          workers::StatsToProto(kernel->EvaluateShard(shard, *tariff, belief));
    } else if (wire_policy != nullptr) {
      absl::StatusOr<env::ExploitabilityStats> st =
          work->Exploitability(shard, *tariff, belief, realised, *policy.values);
      if (!st.ok()) {
        failed[i] = st.status();
        return;
      }
      *results[i].mutable_exploitability() = workers::ExploitabilityToProto(*st);
    } else {
      *results[i].mutable_exploitability() = workers::ExploitabilityToProto(
          kernel->ShardExploitability(shard, *tariff, belief, realised));
    }
  });
  if (stopped.load()) return absl::CancelledError("work item cancelled");
  for (int i = 0; i < item.shards_size(); ++i) {
    if (!failed[i].ok()) return Annotate(failed[i], absl::StrCat("shard ", item.shards(i)));
  }
  return results;
}

}  // namespace smfg::workers
