// Plain values of the learning followers that travel between processes
// (worker.proto's FollowerPolicyParameters and WireShardGradient, decoded by
// follower_workers/wire_convert.h): no LibTorch, no functions.
#ifndef SMFG_FOLLOWERS_POLICY_TYPES_H_
#define SMFG_FOLLOWERS_POLICY_TYPES_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace smfg::followers {

// The parameters of one policy version (version = Adam steps taken).
struct PolicyVersion {
  uint64_t version = 0;
  std::shared_ptr<const std::vector<double>> values;
};

// The gradient of one shard's summed loss at the current parameters, and the
// sums behind PPO's usual diagnostics (divide by steps).
struct ShardGradient {
  // The parameter version the gradient was computed at (set by whoever
  // knows the version: the caller of Gradient); a gradient for another
  // version than the one being stepped is stale and refused.
  uint64_t policy_version = 0;
  std::vector<double> gradient;
  int64_t steps = 0;
  // The episodes' ShardRollouts diagnostics, carried along.
  double mean_daily_reward_usd = 0.0;
  double mean_entropy = 0.0;
  double policy_loss_sum = 0.0;
  double value_loss_sum = 0.0;
  double approx_kl_sum = 0.0;  // rl::ApproxKl's terms, summed
  int64_t clipped_steps = 0;   // rl::ClipActive
};

}  // namespace smfg::followers

#endif  // SMFG_FOLLOWERS_POLICY_TYPES_H_
