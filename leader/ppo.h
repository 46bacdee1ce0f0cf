// Proximal policy optimisation (PPO-clip, Schulman et al. 2017) for the leader,
// on LibTorch, behind a facade of plain C++ types: this header includes no torch
// header, so the coordinator can use the learner without torch's include paths or
// compile cost. All torch code lives in leader/ppo.cc.
//
// Model. A diagonal Gaussian policy over an unbounded "raw" action u in R^k:
//   u ~ N(mu(s), diag(sigma^2)),   mu = MLP_pi(s),   sigma = exp(log_std)
// where MLP_pi has tanh hidden layers and a linear output, and log_std is a
// state-independent trainable vector initialised to log(initial_action_std).
// The caller maps u onto its action bounds with SquashToRange (leader/ppo_math.h);
// the squash is a fixed bijection, so its Jacobian cancels in PPO's probability
// ratio and log-probabilities are those of u. A separate MLP_v (same hidden
// widths, tanh, scalar output) estimates the state value V(s).
//
// Update, given a rollout collected with the current (or an earlier) policy:
//   A, R   = GAE(rewards, values, dones, last_value; discount, gae_lambda)
//   A     <- NormalizeAdvantages(A)             (over the whole rollout)
//   for epoch in 1..epochs, for each minibatch of a fresh shuffle:
//     KL   = mean[(r - 1) - log r],  r = pi(u|s) / pi_old(u|s)   (before the step)
//     stop all epochs if target_kl > 0 and KL > target_kl   (that step not taken)
//     loss = -mean[min(r A, clip(r, 1-eps, 1+eps) A)]
//            + value_coefficient * mean[(V(s) - R)^2]
//            - entropy_coefficient * H[pi]
//     one Adam step per network, after clipping the global gradient norm (all
//     policy, log-std and value parameters together) to max_grad_norm.
// The formulas are those of rl/ppo_math.h, where they are tested against hand values.
//
// Determinism. All tensors are float64. No torch random generator is used: network
// initialisation, exploration noise and minibatch shuffling draw from
// smfg::CounterRng streams keyed by (seed, kLeaderPolicy, stream, counter), so
//   - the k-th stochastic Act() sample is a function of (seed, k) only,
//   - the shuffles of the n-th successful Update() are a function of (seed, n),
// independent of any other torch user in the process. Create() also sets torch's
// intra-op thread count to 1 (a process-wide setting: torch exposes no per-object
// one) so that no kernel splits a reduction across threads. Hence two learners
// with equal PpoParams fed the same calls produce bit-identical results, and
// Save() -> Load() -> continue is bit-identical to never having stopped (same
// binary and CPU type; different SIMD widths may round differently).
//
// Errors. No exception leaves this API: torch's are caught and returned as
// absl::Status. Update() and Load() are transactional: on any error the learner
// is left exactly as it was.
//
// Thread safety: a PpoLearner is not thread-safe; use one per thread (or lock).
#ifndef SMFG_LEADER_PPO_H_
#define SMFG_LEADER_PPO_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smfg::leader {

struct PpoParams {
  // Length of an observation (state feature vector), >= 1.
  int observation_size = 0;
  // Length of the raw action u, >= 1.
  int action_size = 0;
  // Hidden layer widths of both MLPs, each in [1, 4096]; empty means linear.
  std::vector<int> hidden_sizes = {64, 64};
  // Adam step sizes (per update step, > 0) of the policy (incl. log_std) and value
  // networks.
  double policy_learning_rate = 3e-4;
  double value_learning_rate = 1e-3;
  // PPO ratio clip epsilon, in (0, 1).
  double clip_epsilon = 0.2;
  // GAE lambda in [0, 1] and discount gamma in (0, 1] per step.
  double gae_lambda = 0.95;
  double discount = 0.99;
  // Loss weights (>= 0) of the entropy bonus (nats) and the value MSE.
  double entropy_coefficient = 0.01;
  double value_coefficient = 0.5;
  // Passes over each rollout (>= 1) and transitions per minibatch (>= 1; the last
  // minibatch of an epoch holds the remainder when it does not divide evenly).
  int epochs = 10;
  int minibatch_size = 8;
  // KL early-stop threshold in nats (>= 0; 0 disables).
  double target_kl = 0.02;
  // Global gradient L2-norm clip (> 0).
  double max_grad_norm = 0.5;
  // Initial sigma of the Gaussian policy, in raw-action units (> 0).
  double initial_action_std = 0.5;
  // Schedules over the first schedule_updates updates (0: none), functions of
  // the update count n only (rl::ScheduledLearningRate, leader/ppo_math.h ActionStdCap):
  // update n uses step sizes decayed linearly towards
  // final_learning_rate_fraction of the ones above, and after it log_std is
  // clamped to log ActionStdCap(n + 1): sigma decays geometrically from
  // initial_action_std to final_action_std (the entropy bonus may hold it
  // below the cap, never above). final_action_std = 0: no cap. A policy
  // evaluated at its mean action is only as good as its exploration noise
  // lets the mean settle, which is what these are for.
  int schedule_updates = 0;
  double final_learning_rate_fraction = 1.0;  // in (0, 1]
  double final_action_std = 0.0;              // 0, or in (0, initial_action_std]
  // The policy's action distribution ignores the observation (its network
  // sees zeros) while the value network still sees it: one action
  // distribution for every state, with a state-dependent baseline that
  // removes the states' own reward differences from the advantages. For a
  // leader that posts one tariff for every day.
  bool state_independent_policy = false;
  // Seeds every random stream of the learner.
  uint64_t seed = 1;

  // OK, or InvalidArgumentError whose message starts with the field path, e.g.
  // "learner.clip_epsilon: must be in (0, 1), got 1.5".
  absl::Status Validate() const;
};

// One action choice.
struct PolicySample {
  std::vector<double> raw_action;  // u (unsquashed), action_size entries
  double log_prob = 0.0;           // log pi(u|s) in nats, summed over action dims
  double value = 0.0;              // V(s)
};

// One step of experience, as the learner saw it when acting.
struct Transition {
  std::vector<double> observation;  // s, observation_size entries
  std::vector<double> raw_action;   // u, action_size entries
  double log_prob = 0.0;            // log pi_old(u|s) from Act()
  double value = 0.0;               // V_old(s) from Act()
  double reward = 0.0;              // r, received after taking u in s
  bool done = false;                // the episode ended with this step
};

struct UpdateStats {
  // Means over the gradient steps taken (0 when none were):
  double policy_loss = 0.0;    // -mean clipped surrogate
  double value_loss = 0.0;     // mean (V(s) - R)^2, before value_coefficient
  double entropy = 0.0;        // H[pi] in nats (state-independent for this policy)
  double clip_fraction = 0.0;  // share of samples with rl::ClipActive (rl/ppo_math.h)
  double grad_norm = 0.0;      // global gradient L2 norm before clipping
  // k3 estimate of KL(pi_old || pi_new) over the whole rollout after the update.
  double approx_kl = 0.0;
  int epochs_run = 0;          // epochs started, including one cut short by the KL stop
  int minibatches = 0;         // gradient steps taken
  bool kl_early_stop = false;  // a minibatch's KL exceeded target_kl
};

class PpoLearner {
 public:
  // Validates `params` (see PpoParams::Validate) and builds freshly initialised
  // networks: weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases 0, and the
  // policy's output layer scaled by 0.01 so the initial mean action is ~0 (the
  // middle of the squashed range) with spread set by initial_action_std alone.
  static absl::StatusOr<std::unique_ptr<PpoLearner>> Create(const PpoParams& params);
  ~PpoLearner();
  PpoLearner(const PpoLearner&) = delete;
  PpoLearner& operator=(const PpoLearner&) = delete;

  // Chooses an action for `observation` (observation_size entries; a size
  // mismatch is a programming error and aborts). deterministic = true returns the
  // mean action mu(s) and its log-density and does not advance the random stream;
  // otherwise u = mu(s) + sigma * z with z from the exploration stream, the k-th
  // such call using draw k.
  PolicySample Act(const std::vector<double>& observation, bool deterministic);

  // V(s) for one observation (observation_size entries; aborts otherwise).
  double Value(const std::vector<double>& observation) const;

  // One PPO update on `rollout` (in time order; a `done` step ends an episode);
  // last_value is V of the state after the last transition (ignored if that one is
  // done). Errors, each leaving the learner unchanged:
  //   InvalidArgumentError for an empty rollout, wrong vector sizes or a non-finite
  //     input, naming the transition and field ("rollout[3].reward: ...");
  //   InternalError "PPO update: non-finite <policy loss|value loss|entropy|
  //     gradient norm> at epoch E minibatch M" (0-based) if the numbers blow up.
  absl::StatusOr<UpdateStats> Update(const std::vector<Transition>& rollout, double last_value);

  // Networks, log_std, both Adam states and the random-stream counters as
  // bytes (LibTorch's archive format); INTERNAL if serialising fails.
  absl::StatusOr<std::string> SaveToBytes() const;
  // Writes SaveToBytes() to `path` with smfg::WriteFileAtomically (temporary
  // file, fsync, rename, fsync of the directory).
  absl::Status Save(const std::string& path) const;

  // Restores a Save()d state. The checkpoint must come from a learner with the same
  // observation_size, action_size, hidden_sizes and seed (InvalidArgumentError
  // otherwise); the other hyperparameters are this learner's. NotFoundError etc.
  // if the file cannot be read, DataLossError for a truncated or corrupt file; all
  // messages start with the path.
  absl::Status Load(const std::string& path);
  // The same for SaveToBytes() output; `origin` starts every error message.
  absl::Status LoadFromBytes(absl::string_view bytes, absl::string_view origin);

  const PpoParams& params() const;
  // Every trainable number, flattened in a fixed order (policy layers' weight then
  // bias, log_std, value layers' weight then bias): for tests and fingerprints.
  std::vector<double> Parameters() const;
  // Stochastic Act() calls and successful Update() calls so far (restored by Load).
  uint64_t act_count() const;
  uint64_t update_count() const;

 private:
  struct Impl;
  explicit PpoLearner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smfg::leader

#endif  // SMFG_LEADER_PPO_H_
