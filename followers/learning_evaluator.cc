#include "followers/learning_evaluator.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
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

}  // namespace

LearningPopulationEvaluator::LearningPopulationEvaluator(const env::Scenario& scenario, int threads)
    : kernel_(scenario), threads_(ResolveThreads(threads)) {}

absl::StatusOr<std::unique_ptr<LearningPopulationEvaluator>> LearningPopulationEvaluator::Create(
    const env::Scenario& scenario, int threads) {
  if (scenario.follower.learner != env::FollowerParams::Learner::kPpo) {
    return absl::InvalidArgumentError(
        "follower.learner: a learning evaluator needs FOLLOWER_LEARNER_PPO");
  }
  std::unique_ptr<LearningPopulationEvaluator> e(
      new LearningPopulationEvaluator(scenario, threads));
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerPolicy> first, FollowerPolicy::Create(scenario));
  e->parameters_ = first->Parameters();
  e->replicas_.push_back(std::move(first));
  for (int t = 1; t < e->threads_; ++t) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerPolicy> copy, e->replicas_[0]->Clone());
    e->replicas_.push_back(std::move(copy));
  }
  absl::MutexLock lock(&e->mu_);
  for (auto& r : e->replicas_) e->free_.push_back(r.get());
  return e;
}

FollowerPolicy* LearningPopulationEvaluator::Acquire() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<FollowerPolicy*>* free) { return !free->empty(); }, &free_));
  FollowerPolicy* r = free_.back();
  free_.pop_back();
  return r;
}

void LearningPopulationEvaluator::Release(FollowerPolicy* replica) {
  absl::MutexLock lock(&mu_);
  free_.push_back(replica);
}

absl::Status LearningPopulationEvaluator::SetAll(const std::vector<double>& parameters) {
  for (auto& r : replicas_) SMFG_RETURN_IF_ERROR(r->SetParameters(parameters));
  parameters_ = parameters;
  return absl::OkStatus();
}

absl::StatusOr<int> LearningPopulationEvaluator::BeginSolve() {
  phases_left_ = kernel_.scenario().follower.ppo.phases_per_solve;
  updates_in_solve_ = 0;
  return phases_left_;
}

absl::Status LearningPopulationEvaluator::TrainPhase(const env::Tariff& tariff,
                                                     const env::PriceBelief& belief) {
  const env::Scenario& sc = kernel_.scenario();
  const env::FollowerParams::Ppo& ppo = sc.follower.ppo;
  const int shards = sc.shards;
  const uint64_t phase = static_cast<uint64_t>(stats_.phases);

  auto start = std::chrono::steady_clock::now();
  std::vector<ShardRollouts> rollouts(shards);
  std::vector<absl::Status> status(shards);
  ParallelFor(shards, threads_, [&](int s) {
    FollowerPolicy* policy = Acquire();
    absl::StatusOr<ShardRollouts> r =
        policy->SampleRollouts(kernel_.FollowerDays(s, tariff, belief), phase);
    Release(policy);
    if (r.ok()) {
      rollouts[s] = std::move(*r);
    } else {
      status[s] = r.status();
    }
  });
  SMFG_RETURN_IF_ERROR(FirstError(status));
  stats_.seconds_rollouts += SecondsSince(start);

  int64_t total_steps = 0;
  double reward = 0, entropy = 0;
  for (const ShardRollouts& r : rollouts) {
    total_steps += r.steps();
    reward += r.mean_daily_reward_usd * static_cast<double>(r.steps());
    entropy += r.mean_entropy * static_cast<double>(r.steps());
  }
  stats_.steps_last_phase = total_steps;
  if (total_steps == 0) {
    stats_.phases += 1;
    return absl::OkStatus();  // no battery household: nothing to learn
  }
  stats_.mean_daily_reward_usd = reward / static_cast<double>(total_steps);
  stats_.mean_entropy = entropy / static_cast<double>(total_steps);

  start = std::chrono::steady_clock::now();
  std::vector<ShardGradient> grads(shards);
  for (int epoch = 0; epoch < ppo.epochs_per_phase; ++epoch) {
    // Annealed over the solve's updates to a tenth (rl::ScheduledLearningRate).
    const rl::AdamParams adam{.rate = rl::ScheduledLearningRate(
                                  ppo.learning_rate, kFinalRateFraction,
                                  ppo.phases_per_solve * ppo.epochs_per_phase, updates_in_solve_)};
    ++updates_in_solve_;
    ParallelFor(shards, threads_, [&](int s) {
      FollowerPolicy* policy = Acquire();
      absl::StatusOr<ShardGradient> g = policy->Gradient(rollouts[s]);
      Release(policy);
      if (g.ok()) {
        grads[s] = std::move(*g);
      } else {
        status[s] = g.status();
      }
    });
    SMFG_RETURN_IF_ERROR(FirstError(status));
    // Summed in shard order, then divided: the same bits for any threads.
    std::vector<double> sum = grads[0].gradient;
    double policy_loss = grads[0].policy_loss_sum, value_loss = grads[0].value_loss_sum;
    double kl = grads[0].approx_kl_sum;
    int64_t clipped = grads[0].clipped_steps;
    for (int s = 1; s < shards; ++s) {
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += grads[s].gradient[i];
      policy_loss += grads[s].policy_loss_sum;
      value_loss += grads[s].value_loss_sum;
      kl += grads[s].approx_kl_sum;
      clipped += grads[s].clipped_steps;
    }
    const double inv = 1.0 / static_cast<double>(total_steps);
    for (double& g : sum) g *= inv;
    std::vector<double> next = parameters_;
    rl::AdamStep(adam, sum, &adam_, &next);
    SMFG_RETURN_IF_ERROR(SetAll(next));
    stats_.updates += 1;
    stats_.policy_loss = policy_loss * inv;
    stats_.value_loss = value_loss * inv;
    stats_.approx_kl = kl * inv;
    stats_.clip_fraction = static_cast<double>(clipped) * inv;
  }
  stats_.seconds_gradients += SecondsSince(start);
  stats_.phases += 1;
  return absl::OkStatus();
}

absl::StatusOr<env::PopulationStats> LearningPopulationEvaluator::Evaluate(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  if (phases_left_ > 0) {
    --phases_left_;
    SMFG_RETURN_IF_ERROR(TrainPhase(tariff, belief));
  }
  const int shards = kernel_.scenario().shards;
  std::vector<env::PopulationStats> parts(shards);
  std::vector<absl::Status> status(shards);
  const FollowerPolicy& policy = *replicas_[0];  // WriteTables is thread-safe
  ParallelFor(shards, threads_, [&](int s) {
    absl::StatusOr<env::PopulationStats> st = kernel_.EvaluateShard(s, tariff, belief, policy);
    if (st.ok()) {
      parts[s] = std::move(*st);
    } else {
      status[s] = st.status();
    }
  });
  SMFG_RETURN_IF_ERROR(FirstError(status));
  return env::ReduceShards(std::move(parts));
}

absl::StatusOr<env::ExploitabilityStats> LearningPopulationEvaluator::Exploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  const int shards = kernel_.scenario().shards;
  std::vector<env::ExploitabilityStats> parts(shards);
  std::vector<absl::Status> status(shards);
  const FollowerPolicy& policy = *replicas_[0];
  ParallelFor(shards, threads_, [&](int s) {
    absl::StatusOr<env::ExploitabilityStats> st =
        kernel_.ShardPolicyExploitability(s, tariff, belief, realised, policy);
    if (st.ok()) {
      parts[s] = *st;
    } else {
      status[s] = st.status();
    }
  });
  SMFG_RETURN_IF_ERROR(FirstError(status));
  return env::ReduceShards(parts);
}

absl::StatusOr<env::ExploitabilityStats> LearningPopulationEvaluator::BestResponseExploitability(
    const env::Tariff& tariff, const env::PriceBelief& belief, const env::PriceBelief& realised) {
  const int shards = kernel_.scenario().shards;
  std::vector<env::ExploitabilityStats> parts(shards);
  ParallelFor(shards, threads_,
              [&](int s) { parts[s] = kernel_.ShardExploitability(s, tariff, belief, realised); });
  return env::ReduceShards(parts);
}

}  // namespace smfg::followers
