#include "followers/learning_evaluator.h"

#include <chrono>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/parallel.h"
#include "common/status.h"

namespace smfg::followers {

namespace {

// The learning rate decays linearly over a solve's updates to this fraction.
constexpr double kFinalRateFraction = 0.1;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The first error of per-shard results, in shard order.
absl::Status FirstError(const std::vector<absl::Status>& statuses) {
  for (size_t s = 0; s < statuses.size(); ++s) {
    if (!statuses[s].ok()) {
      return absl::Status(statuses[s].code(),
                          absl::StrCat("shard ", s, ": ", statuses[s].message()));
    }
  }
  return absl::OkStatus();
}

// Runs fn(shard) on every shard with `threads` threads, each result in its
// slot; the first failing shard's error.
template <typename T, typename Fn>
absl::StatusOr<std::vector<T>> EveryShard(int shards, int threads, Fn fn) {
  std::vector<T> out(shards);
  std::vector<absl::Status> status(shards);
  ParallelFor(shards, threads, [&](int s) {
    absl::StatusOr<T> r = fn(s);
    if (r.ok()) {
      out[s] = *std::move(r);
    } else {
      status[s] = r.status();
    }
  });
  SMFG_RETURN_IF_ERROR(FirstError(status));
  return out;
}

class LocalBackend final : public FollowerShardBackend {
 public:
  LocalBackend(std::shared_ptr<const env::ShardKernel> kernel,
               std::unique_ptr<FollowerShardWork> work, int threads)
      : kernel_(std::move(kernel)), work_(std::move(work)), threads_(threads) {}

  absl::StatusOr<std::vector<env::PopulationStats>> Evaluate(const env::Tariff& tariff,
                                                             const env::PriceBelief& belief,
                                                             const PolicyVersion& policy) override {
    return EveryShard<env::PopulationStats>(shards(), threads_, [&](int s) {
      return work_->Evaluate(s, tariff, belief, *policy.values);
    });
  }
  absl::StatusOr<std::vector<env::ExploitabilityStats>> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised,
      const PolicyVersion* policy) override {
    return EveryShard<env::ExploitabilityStats>(
        shards(), threads_, [&](int s) -> absl::StatusOr<env::ExploitabilityStats> {
          if (policy == nullptr) return kernel_->ShardExploitability(s, tariff, belief, realised);
          return work_->Exploitability(s, tariff, belief, realised, *policy->values);
        });
  }
  absl::StatusOr<std::vector<ShardGradient>> Gradients(const env::Tariff& tariff,
                                                       const env::PriceBelief& belief,
                                                       uint64_t phase,
                                                       const PolicyVersion& sampling,
                                                       const PolicyVersion& current) override {
    // One process, one run: (phase, sampling version) names the episodes.
    const uint64_t words[2] = {phase, sampling.version};
    const uint64_t key =
        Fnv1a64(absl::string_view(reinterpret_cast<const char*>(words), sizeof(words)));
    return EveryShard<ShardGradient>(
        shards(), threads_, [&](int s) -> absl::StatusOr<ShardGradient> {
          SMFG_ASSIGN_OR_RETURN(
              ShardGradient g,
              work_->Gradient(s, tariff, belief, phase, *sampling.values, *current.values, key));
          g.policy_version = current.version;
          return g;
        });
  }
  const env::ShardKernel* in_process_kernel() const override { return kernel_.get(); }

 private:
  int shards() const { return kernel_->scenario().shards; }
  std::shared_ptr<const env::ShardKernel> kernel_;
  std::unique_ptr<FollowerShardWork> work_;
  int threads_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FollowerShardBackend>> LocalFollowerBackend(
    const env::Scenario& scenario, int threads) {
  const int n = ResolveThreads(threads);
  auto kernel = std::make_shared<const env::ShardKernel>(scenario);
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerShardWork> work,
                        FollowerShardWork::Create(kernel, n));
  return std::unique_ptr<FollowerShardBackend>(
      new LocalBackend(std::move(kernel), std::move(work), n));
}

absl::StatusOr<std::vector<double>> InitialFollowerParameters(const env::Scenario& scenario) {
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerPolicy> policy, FollowerPolicy::Create(scenario));
  return policy->Parameters();
}

LearningPopulationEvaluator::LearningPopulationEvaluator(
    const env::Scenario& scenario, std::unique_ptr<FollowerShardBackend> backend)
    : ppo_(scenario.follower.ppo), backend_(std::move(backend)) {}

absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> LearningPopulationEvaluator::Create(
    const env::Scenario& scenario, std::unique_ptr<FollowerShardBackend> backend) {
  if (scenario.follower.learner != env::FollowerParams::Learner::kPpo) {
    return absl::InvalidArgumentError(
        "follower.learner: a learning evaluator needs FOLLOWER_LEARNER_PPO");
  }
  SMFG_ASSIGN_OR_RETURN(std::vector<double> initial, InitialFollowerParameters(scenario));
  std::unique_ptr<LearningPopulationEvaluator> e(
      new LearningPopulationEvaluator(scenario, std::move(backend)));
  e->policy_ = {.version = 0,
                .values = std::make_shared<const std::vector<double>>(std::move(initial))};
  return e;
}

absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> LearningPopulationEvaluator::Create(
    const env::Scenario& scenario, int threads) {
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerShardBackend> backend,
                        LocalFollowerBackend(scenario, threads));
  return Create(scenario, std::move(backend));
}

std::optional<env::LearnerState> LearningPopulationEvaluator::SaveLearnerState() const {
  env::LearnerState s;
  s.policy_version = policy_.version;
  s.parameters = *policy_.values;
  s.adam_m = adam_.m;
  s.adam_v = adam_.v;
  s.adam_steps = adam_.steps;
  s.phases = stats_.phases;
  s.solves = solves_;
  return s;
}

absl::Status LearningPopulationEvaluator::RestoreLearnerState(const env::LearnerState& s) {
  const size_t n = policy_.values->size();
  if (s.parameters.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("follower state: parameters: ", s.parameters.size(), " values, expected ", n));
  }
  for (const auto& [field, v] :
       {std::pair<const char*, const std::vector<double>*>{"adam_m", &s.adam_m},
        {"adam_v", &s.adam_v}}) {
    if (!v->empty() && v->size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("follower state: ", field, ": ", v->size(), " values, expected 0 or ", n));
    }
  }
  if (s.adam_m.size() != s.adam_v.size() || s.adam_steps < 0 || s.phases < 0 || s.solves < 0) {
    return absl::InvalidArgumentError(
        "follower state: adam_m and adam_v differ in size, or a counter is negative");
  }
  for (const std::vector<double>* v : {&s.parameters, &s.adam_m, &s.adam_v}) {
    for (double x : *v) {
      if (!std::isfinite(x)) {
        return absl::InvalidArgumentError("follower state: a value is not finite");
      }
    }
  }
  policy_ = {.version = s.policy_version,
             .values = std::make_shared<const std::vector<double>>(s.parameters)};
  adam_.m = s.adam_m;
  adam_.v = s.adam_v;
  adam_.steps = s.adam_steps;
  stats_ = FollowerTrainingStats{};
  stats_.phases = s.phases;
  stats_.updates = static_cast<int64_t>(s.policy_version);
  solves_ = s.solves;
  phases_left_ = 0;
  return absl::OkStatus();
}

absl::StatusOr<int> LearningPopulationEvaluator::BeginSolve() {
  phases_per_solve_ = solves_ == 0 ? ppo_.phases_per_solve : ppo_.phases_per_warm_solve;
  ++solves_;
  phases_left_ = phases_per_solve_;
  updates_in_solve_ = 0;
  return phases_left_;
}

absl::Status LearningPopulationEvaluator::TrainPhase(const env::Tariff& tariff,
                                                     const env::PriceBelief& belief) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t phase = static_cast<uint64_t>(stats_.phases);
  const PolicyVersion sampling = policy_;
  for (int epoch = 0; epoch < ppo_.epochs_per_phase; ++epoch) {
    SMFG_ASSIGN_OR_RETURN(std::vector<ShardGradient> grads,
                          backend_->Gradients(tariff, belief, phase, sampling, policy_));
    // Summed in shard order, then divided: the same bits for any threads
    // or workers.
    const size_t n = policy_.values->size();
    std::vector<double> sum(n, 0.0);
    int64_t steps = 0, clipped = 0;
    double policy_loss = 0, value_loss = 0, kl = 0, reward = 0, entropy = 0;
    for (size_t s = 0; s < grads.size(); ++s) {
      const ShardGradient& g = grads[s];
      if (g.policy_version != policy_.version || g.gradient.size() != n) {
        return absl::InternalError(absl::StrCat(
            "shard ", s, ": a gradient for policy version ", g.policy_version, " with ",
            g.gradient.size(), " values, expected version ", policy_.version, " with ", n));
      }
      for (size_t i = 0; i < n; ++i) sum[i] += g.gradient[i];
      steps += g.steps;
      clipped += g.clipped_steps;
      policy_loss += g.policy_loss_sum;
      value_loss += g.value_loss_sum;
      kl += g.approx_kl_sum;
      reward += g.mean_daily_reward_usd * static_cast<double>(g.steps);
      entropy += g.mean_entropy * static_cast<double>(g.steps);
    }
    stats_.steps_last_phase = steps;
    if (steps == 0) break;  // no battery household: nothing to learn
    const double inv = 1.0 / static_cast<double>(steps);
    for (double& g : sum) g *= inv;
    // Annealed over the solve's updates to a tenth (rl::ScheduledLearningRate).
    const rl::AdamParams adam{.rate = rl::ScheduledLearningRate(
                                  ppo_.learning_rate, kFinalRateFraction,
                                  phases_per_solve_ * ppo_.epochs_per_phase, updates_in_solve_)};
    ++updates_in_solve_;
    auto next = std::make_shared<std::vector<double>>(*policy_.values);
    rl::AdamStep(adam, sum, &adam_, next.get());
    policy_ = {.version = policy_.version + 1, .values = std::move(next)};
    stats_.updates += 1;
    stats_.policy_loss = policy_loss * inv;
    stats_.value_loss = value_loss * inv;
    stats_.approx_kl = kl * inv;
    stats_.clip_fraction = static_cast<double>(clipped) * inv;
    stats_.mean_daily_reward_usd = reward * inv;
    stats_.mean_entropy = entropy * inv;
  }
  stats_.phases += 1;
  stats_.seconds_training += SecondsSince(start);
  return absl::OkStatus();
}

absl::StatusOr<env::PopulationStats> LearningPopulationEvaluator::Evaluate(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  if (phases_left_ > 0) {
    --phases_left_;
    SMFG_RETURN_IF_ERROR(TrainPhase(tariff, belief));
    if (phase_progress_) {
      phase_progress_(stats_, phases_per_solve_ - phases_left_, phases_per_solve_);
    }
  }
  SMFG_ASSIGN_OR_RETURN(std::vector<env::PopulationStats> parts,
                        backend_->Evaluate(tariff, belief, policy_));
  return env::ReduceShards(std::move(parts));
}

absl::StatusOr<env::ExploitabilityStats> LearningPopulationEvaluator::Exploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  SMFG_ASSIGN_OR_RETURN(std::vector<env::ExploitabilityStats> parts,
                        backend_->Exploitability(tariff, belief, realised, &policy_));
  return env::ReduceShards(parts);
}

absl::StatusOr<env::ExploitabilityStats> LearningPopulationEvaluator::BestResponseExploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  SMFG_ASSIGN_OR_RETURN(std::vector<env::ExploitabilityStats> parts,
                        backend_->Exploitability(tariff, belief, realised, nullptr));
  return env::ReduceShards(parts);
}

}  // namespace smfg::followers
