#include "follower_workers/worker_core.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "common/status.h"
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
  switch (item.kind()) {
    case v1::WORK_KIND_EVALUATE: {
      if (!item.has_evaluate()) {
        return absl::InvalidArgumentError("evaluate: absent for kind EVALUATE");
      }
      wire_tariff = &item.evaluate().tariff();
      absl::StatusOr<env::PriceBelief> b = workers::BeliefFromProto(item.evaluate().belief());
      if (!b.ok()) return Annotate(b.status(), "evaluate.belief");
      belief = *std::move(b);
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
  const char* payload = item.kind() == v1::WORK_KIND_EVALUATE ? "evaluate" : "exploitability";
  SMFG_RETURN_IF_ERROR(Annotate(workers::CheckKernelInputs(*tariff, belief, shape), payload));
  if (item.kind() == v1::WORK_KIND_EXPLOITABILITY) {
    SMFG_RETURN_IF_ERROR(
        Annotate(workers::CheckKernelInputs(*tariff, realised, shape), "exploitability.realised"));
  }

  const bool evaluate = item.kind() == v1::WORK_KIND_EVALUATE;
  std::vector<v1::ShardResult> results(item.shards_size());
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
    if (evaluate) {
      *results[i].mutable_population() =
          workers::StatsToProto(kernel->EvaluateShard(shard, *tariff, belief));
    } else {
      *results[i].mutable_exploitability() = workers::ExploitabilityToProto(
          kernel->ShardExploitability(shard, *tariff, belief, realised));
    }
  });
  if (stopped.load()) return absl::CancelledError("work item cancelled");
  return results;
}

}  // namespace smfg::workers
