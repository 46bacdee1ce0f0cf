#include "followers/shard_work.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace smfg::followers {

// A policy replica held for one call.
class FollowerShardWork::Lease {
 public:
  explicit Lease(FollowerShardWork* work) : work_(work) {
    absl::MutexLock lock(&work_->mu_);
    work_->mu_.Await(absl::Condition(
        +[](std::vector<FollowerPolicy*>* free) { return !free->empty(); }, &work_->free_));
    policy_ = work_->free_.back();
    work_->free_.pop_back();
  }
  ~Lease() {
    absl::MutexLock lock(&work_->mu_);
    work_->free_.push_back(policy_);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  FollowerPolicy& policy() { return *policy_; }

 private:
  FollowerShardWork* work_;
  FollowerPolicy* policy_ = nullptr;
};

FollowerShardWork::FollowerShardWork(std::shared_ptr<const env::ShardKernel> kernel)
    : kernel_(std::move(kernel)) {}

absl::StatusOr<std::unique_ptr<FollowerShardWork>> FollowerShardWork::Create(
    std::shared_ptr<const env::ShardKernel> kernel, int replicas) {
  if (kernel->scenario().follower.learner != env::FollowerParams::Learner::kPpo) {
    return absl::InvalidArgumentError(
        "follower.learner: learning followers' work needs FOLLOWER_LEARNER_PPO");
  }
  std::unique_ptr<FollowerShardWork> w(new FollowerShardWork(std::move(kernel)));
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerPolicy> first,
                        FollowerPolicy::Create(w->kernel_->scenario()));
  w->parameter_count_ = first->parameter_count();
  w->initial_ = first->Parameters();
  w->replicas_.push_back(std::move(first));
  for (int r = 1; r < std::max(1, replicas); ++r) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<FollowerPolicy> copy, w->replicas_[0]->Clone());
    w->replicas_.push_back(std::move(copy));
  }
  absl::MutexLock lock(&w->mu_);
  for (auto& r : w->replicas_) w->free_.push_back(r.get());
  return w;
}

absl::Status FollowerShardWork::CheckShard(int shard) const {
  const int shards = kernel_->scenario().shards;
  if (shard < 0 || shard >= shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard: ", shard, " is out of range [0, ", shards, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<env::PopulationStats> FollowerShardWork::Evaluate(
    int shard, const env::Tariff& tariff, const env::PriceBelief& belief,
    const std::vector<double>& parameters) {
  SMFG_RETURN_IF_ERROR(CheckShard(shard));
  Lease lease(this);
  SMFG_RETURN_IF_ERROR(lease.policy().SetParameters(parameters));
  return kernel_->EvaluateShard(shard, tariff, belief, lease.policy());
}

absl::StatusOr<env::ExploitabilityStats> FollowerShardWork::Exploitability(
    int shard, const env::Tariff& tariff, const env::PriceBelief& belief,
    const env::PriceBelief& realised, const std::vector<double>& parameters) {
  SMFG_RETURN_IF_ERROR(CheckShard(shard));
  Lease lease(this);
  SMFG_RETURN_IF_ERROR(lease.policy().SetParameters(parameters));
  return kernel_->ShardPolicyExploitability(shard, tariff, belief, realised, lease.policy());
}

absl::StatusOr<ShardGradient> FollowerShardWork::Gradient(
    int shard, const env::Tariff& tariff, const env::PriceBelief& belief, uint64_t phase,
    const std::vector<double>& sampling, const std::vector<double>& current, uint64_t rollout_key) {
  SMFG_RETURN_IF_ERROR(CheckShard(shard));
  std::shared_ptr<const ShardRollouts> rollouts;
  {
    absl::MutexLock lock(&mu_);
    auto it = rollouts_.find(shard);
    if (it != rollouts_.end() && it->second.key == rollout_key) {
      rollouts = it->second.rollouts;
      ++hits_;
    }
  }
  Lease lease(this);
  if (rollouts == nullptr) {
    SMFG_RETURN_IF_ERROR(Annotate(lease.policy().SetParameters(sampling), "sampling parameters"));
    SMFG_ASSIGN_OR_RETURN(
        ShardRollouts r,
        lease.policy().SampleRollouts(kernel_->FollowerDays(shard, tariff, belief), phase));
    rollouts = std::make_shared<const ShardRollouts>(std::move(r));
    absl::MutexLock lock(&mu_);
    rollouts_[shard] = {rollout_key, rollouts};
  }
  SMFG_RETURN_IF_ERROR(lease.policy().SetParameters(current));
  SMFG_ASSIGN_OR_RETURN(ShardGradient g, lease.policy().Gradient(*rollouts));
  g.mean_daily_reward_usd = rollouts->mean_daily_reward_usd;
  g.mean_entropy = rollouts->mean_entropy;
  return g;
}

int64_t FollowerShardWork::rollout_cache_hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

}  // namespace smfg::followers
