// The only translation unit that includes LibTorch (DESIGN §6): every torch type
// stays in this file, and every torch exception is caught here.
#include "leader/ppo.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/rng.h"
#include "common/status.h"
#include "leader/ppo_math.h"
#include "leader/torch_mlp.h"
#include "rl/ppo_math.h"

namespace smfg::leader {
namespace {

using nn::Describe;
using nn::EnsureSingleThreaded;
using nn::F64;
using nn::Layer;
using nn::MakeMlp;
using nn::Matrix;
using nn::Mlp;
using nn::Vector;

// Bumped whenever the checkpoint layout changes, so an old file is rejected with a
// clear message instead of being misread.
constexpr int64_t kCheckpointFormat = 1;

// Sub-streams of RngPurpose::kLeaderPolicy; the CounterRng iteration is the counter
// named in ppo.h (0 for initialisation).
constexpr uint64_t kInitStream = 0;
constexpr uint64_t kExplorationStream = 1;
constexpr uint64_t kShuffleStream = 2;

// The output layer of the policy starts 100x smaller than the others so the
// initial mean action is ~0 for every observation and exploration is governed by
// initial_action_std alone (Andrychowicz et al. 2021, "What matters in on-policy
// RL", recommend this).
constexpr double kPolicyOutputScale = 0.01;

const double kHalfLogTwoPi = 0.5 * std::log(2.0 * M_PI);

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "smfg::leader::PpoLearner: %s\n", message.c_str());
  std::abort();
}

bool AllFinite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// What the policy network sees of observations x (rows): x itself, or zeros
// with PpoParams::state_independent_policy.
torch::Tensor PolicyInput(const torch::Tensor& x, const PpoParams& p) {
  return p.state_independent_policy ? torch::zeros_like(x) : x;
}

// log N(u; mean, diag(exp(log_std))^2) summed over the last dimension.
torch::Tensor GaussianLogProb(const torch::Tensor& u, const torch::Tensor& mean,
                              const torch::Tensor& log_std) {
  const torch::Tensor z = (u - mean) * torch::exp(-log_std);
  return (-0.5 * z * z - log_std - kHalfLogTwoPi).sum(-1);
}

// Entropy of the diagonal Gaussian: sum_j (log_std_j + (1 + log 2 pi) / 2).
torch::Tensor GaussianEntropy(const torch::Tensor& log_std) {
  return (log_std + (0.5 + kHalfLogTwoPi)).sum();
}

// k3 KL estimate, the tensor twin of ApproxKl in rl/ppo_math.h.
double KlEstimate(const torch::Tensor& new_log_prob, const torch::Tensor& old_log_prob) {
  torch::NoGradGuard no_grad;
  const torch::Tensor log_ratio = new_log_prob - old_log_prob;
  return (torch::expm1(log_ratio) - log_ratio).mean().item<double>();
}

// Fisher-Yates with an explicit generator, so the permutation is specified here and
// not by an implementation-defined std::shuffle.
void Shuffle(std::vector<int64_t>* order, CounterRng* rng) {
  for (size_t i = order->size(); i > 1; --i) {
    // Uniform index in [0, i) by multiply-high; the bias is < i / 2^64.
    const size_t j =
        static_cast<size_t>((static_cast<unsigned __int128>(rng->NextU64()) * i) >> 64);
    std::swap((*order)[i - 1], (*order)[j]);
  }
}

std::vector<int64_t> Dims(const PpoParams& p) {
  std::vector<int64_t> dims = {p.observation_size, p.action_size};
  dims.insert(dims.end(), p.hidden_sizes.begin(), p.hidden_sizes.end());
  return dims;
}

absl::Status CheckRollout(const std::vector<Transition>& rollout, double last_value,
                          const PpoParams& p) {
  if (rollout.empty()) return absl::InvalidArgumentError("PPO update: empty rollout");
  if (!std::isfinite(last_value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PPO update: last_value: must be finite, got ", last_value));
  }
  for (size_t i = 0; i < rollout.size(); ++i) {
    const Transition& t = rollout[i];
    const std::string where = absl::StrCat("PPO update: rollout[", i, "].");
    if (t.observation.size() != static_cast<size_t>(p.observation_size)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "observation: has ", t.observation.size(),
                       " entries, expected observation_size ", p.observation_size));
    }
    if (t.raw_action.size() != static_cast<size_t>(p.action_size)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "raw_action: has ", t.raw_action.size(),
                                                     " entries, expected action_size ",
                                                     p.action_size));
    }
    if (!AllFinite(t.observation)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "observation: not finite"));
    }
    if (!AllFinite(t.raw_action)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "raw_action: not finite"));
    }
    const std::pair<const char*, double> scalars[] = {
        {"log_prob", t.log_prob}, {"value", t.value}, {"reward", t.reward}};
    for (const auto& [name, value] : scalars) {
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, name, ": must be finite, got ", value));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct PpoLearner::Impl {
  PpoParams params;
  Mlp policy;
  torch::Tensor log_std;  // [action_size]
  Mlp value;
  std::unique_ptr<torch::optim::Adam> policy_optimizer;  // policy layers + log_std
  std::unique_ptr<torch::optim::Adam> value_optimizer;
  uint64_t act_count = 0;
  uint64_t update_count = 0;

  // Fresh, seeded networks. Throws on torch errors (callers catch).
  static std::unique_ptr<Impl> Build(const PpoParams& params) {
    auto impl = std::make_unique<Impl>();
    impl->params = params;
    CounterRng rng(params.seed, RngPurpose::kLeaderPolicy, kInitStream);
    impl->policy = MakeMlp(params.observation_size, params.hidden_sizes, params.action_size,
                           kPolicyOutputScale, &rng);
    impl->log_std = torch::full({params.action_size}, std::log(params.initial_action_std), F64())
                        .requires_grad_(true);
    impl->value = MakeMlp(params.observation_size, params.hidden_sizes, 1, 1.0, &rng);
    impl->policy_optimizer = std::make_unique<torch::optim::Adam>(
        impl->PolicyParameters(), torch::optim::AdamOptions(params.policy_learning_rate));
    impl->value_optimizer = std::make_unique<torch::optim::Adam>(
        impl->value.Parameters(), torch::optim::AdamOptions(params.value_learning_rate));
    return impl;
  }

  std::vector<torch::Tensor> PolicyParameters() const {
    std::vector<torch::Tensor> out = policy.Parameters();
    out.push_back(log_std);
    return out;
  }

  // Fixed order: policy layers, log_std, value layers (ppo.h: Parameters()).
  std::vector<torch::Tensor> AllParameters() const {
    std::vector<torch::Tensor> out = PolicyParameters();
    for (const torch::Tensor& t : value.Parameters()) out.push_back(t);
    return out;
  }

  // (name, tensor) for every parameter, in AllParameters() order.
  std::vector<std::pair<std::string, torch::Tensor>> NamedParameters() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (size_t i = 0; i < policy.layers.size(); ++i) {
      out.emplace_back(absl::StrCat("policy_w", i), policy.layers[i].weight);
      out.emplace_back(absl::StrCat("policy_b", i), policy.layers[i].bias);
    }
    out.emplace_back("log_std", log_std);
    for (size_t i = 0; i < value.layers.size(); ++i) {
      out.emplace_back(absl::StrCat("value_w", i), value.layers[i].weight);
      out.emplace_back(absl::StrCat("value_b", i), value.layers[i].bias);
    }
    return out;
  }

  absl::StatusOr<UpdateStats> RunUpdate(const std::vector<Transition>& rollout, double last_value);

  // The complete learner state as bytes (torch's zip archive format). Throws.
  std::string Serialize() const;
  // Restores Serialize() output into this (freshly built) Impl; errors start with
  // `origin`. Throws nothing.
  absl::Status Deserialize(const std::string& bytes, const std::string& origin);
};

PpoLearner::PpoLearner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PpoLearner::~PpoLearner() = default;

absl::StatusOr<std::unique_ptr<PpoLearner>> PpoLearner::Create(const PpoParams& params) {
  SMFG_RETURN_IF_ERROR(params.Validate());
  try {
    EnsureSingleThreaded();
    return std::unique_ptr<PpoLearner>(new PpoLearner(Impl::Build(params)));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("PPO learner: creation failed: ", Describe(e)));
  }
}

const PpoParams& PpoLearner::params() const { return impl_->params; }
uint64_t PpoLearner::act_count() const { return impl_->act_count; }
uint64_t PpoLearner::update_count() const { return impl_->update_count; }

PolicySample PpoLearner::Act(const std::vector<double>& observation, bool deterministic) {
  const PpoParams& p = impl_->params;
  if (observation.size() != static_cast<size_t>(p.observation_size)) {
    Die(absl::StrCat("Act: observation has ", observation.size(),
                     " entries, expected observation_size ", p.observation_size));
  }
  try {
    EnsureSingleThreaded();
    torch::NoGradGuard no_grad;
    const torch::Tensor s = Matrix(observation, 1, p.observation_size);
    const torch::Tensor mean = impl_->policy.Forward(PolicyInput(s, p));
    torch::Tensor u = mean;
    if (!deterministic) {
      CounterRng rng(p.seed, RngPurpose::kLeaderPolicy, kExplorationStream, impl_->act_count);
      std::vector<double> z(p.action_size);
      for (double& x : z) x = rng.Normal();
      u = mean + torch::exp(impl_->log_std) * Matrix(z, 1, p.action_size);
    }
    PolicySample sample;
    const torch::Tensor u_row = u.reshape({p.action_size}).contiguous();
    sample.raw_action.assign(u_row.data_ptr<double>(), u_row.data_ptr<double>() + p.action_size);
    sample.log_prob = GaussianLogProb(u, mean, impl_->log_std).item<double>();
    sample.value = impl_->value.Forward(s).item<double>();
    if (!deterministic) ++impl_->act_count;
    return sample;
  } catch (const std::exception& e) {
    Die(absl::StrCat("Act: ", Describe(e)));
  }
}

double PpoLearner::Value(const std::vector<double>& observation) const {
  const PpoParams& p = impl_->params;
  if (observation.size() != static_cast<size_t>(p.observation_size)) {
    Die(absl::StrCat("Value: observation has ", observation.size(),
                     " entries, expected observation_size ", p.observation_size));
  }
  try {
    EnsureSingleThreaded();
    torch::NoGradGuard no_grad;
    return impl_->value.Forward(Matrix(observation, 1, p.observation_size)).item<double>();
  } catch (const std::exception& e) {
    Die(absl::StrCat("Value: ", Describe(e)));
  }
}

std::vector<double> PpoLearner::Parameters() const {
  std::vector<double> out;
  for (const torch::Tensor& t : impl_->AllParameters()) {
    const torch::Tensor flat = t.detach().contiguous().reshape({-1});
    out.insert(out.end(), flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  }
  return out;
}

absl::StatusOr<UpdateStats> PpoLearner::Update(const std::vector<Transition>& rollout,
                                               double last_value) {
  SMFG_RETURN_IF_ERROR(CheckRollout(rollout, last_value, impl_->params));
  // Update is all-or-nothing: a failure part-way restores this snapshot, so the
  // caller never sees a half-updated policy or optimizer.
  std::string snapshot;
  try {
    EnsureSingleThreaded();
    snapshot = impl_->Serialize();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("PPO update: snapshot failed: ", Describe(e)));
  }
  absl::StatusOr<UpdateStats> stats;
  try {
    stats = impl_->RunUpdate(rollout, last_value);
  } catch (const std::exception& e) {
    stats = absl::InternalError(absl::StrCat("PPO update: ", Describe(e)));
  }
  if (stats.ok()) return stats;
  std::unique_ptr<Impl> restored;
  try {
    restored = Impl::Build(impl_->params);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        stats.status().message(), "; restoring the pre-update state failed: ", Describe(e)));
  }
  const absl::Status restore = restored->Deserialize(snapshot, "pre-update snapshot");
  if (!restore.ok()) {
    return absl::InternalError(absl::StrCat(
        stats.status().message(), "; restoring the pre-update state failed: ", restore.message()));
  }
  impl_ = std::move(restored);
  return stats.status();
}

absl::StatusOr<UpdateStats> PpoLearner::Impl::RunUpdate(const std::vector<Transition>& rollout,
                                                        double last_value) {
  const PpoParams& p = params;
  const int64_t n = static_cast<int64_t>(rollout.size());
  const int64_t obs_size = p.observation_size;
  const int64_t act_size = p.action_size;

  // Advantages in plain double with the tested reference implementation.
  std::vector<double> rewards(n), values(n), old_log_probs(n);
  std::vector<uint8_t> dones(n);
  std::vector<double> observations, actions;
  observations.reserve(n * obs_size);
  actions.reserve(n * act_size);
  for (int64_t i = 0; i < n; ++i) {
    const Transition& t = rollout[i];
    rewards[i] = t.reward;
    values[i] = t.value;
    dones[i] = t.done ? 1 : 0;
    old_log_probs[i] = t.log_prob;
    observations.insert(observations.end(), t.observation.begin(), t.observation.end());
    actions.insert(actions.end(), t.raw_action.begin(), t.raw_action.end());
  }
  rl::GaeResult gae = rl::ComputeGae(rewards, values, dones, last_value, p.discount, p.gae_lambda);
  rl::NormalizeAdvantages(&gae.advantages);

  const torch::Tensor all_obs = Matrix(observations, n, obs_size);
  const torch::Tensor all_actions = Matrix(actions, n, act_size);
  const torch::Tensor all_old_log_probs = Vector(old_log_probs);
  const torch::Tensor all_advantages = Vector(gae.advantages);
  const torch::Tensor all_returns = Vector(gae.returns);
  const std::vector<torch::Tensor> all_parameters = AllParameters();
  const double eps = p.clip_epsilon;

  // The step sizes of this update (PpoParams schedules).
  for (auto [optimizer, rate] : {std::pair{policy_optimizer.get(), p.policy_learning_rate},
                                 std::pair{value_optimizer.get(), p.value_learning_rate}}) {
    for (auto& group : optimizer->param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options())
          .lr(rl::ScheduledLearningRate(rate, p.final_learning_rate_fraction, p.schedule_updates,
                                        update_count));
    }
  }

  CounterRng shuffle_rng(p.seed, RngPurpose::kLeaderPolicy, kShuffleStream, update_count);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});

  UpdateStats stats;
  double sum_policy_loss = 0, sum_value_loss = 0, sum_entropy = 0, sum_clip = 0, sum_grad_norm = 0;
  for (int epoch = 0; epoch < p.epochs && !stats.kl_early_stop; ++epoch) {
    stats.epochs_run = epoch + 1;
    Shuffle(&order, &shuffle_rng);
    int minibatch = 0;
    for (int64_t start = 0; start < n; start += p.minibatch_size, ++minibatch) {
      const int64_t end = std::min<int64_t>(n, start + p.minibatch_size);
      const torch::Tensor index =
          torch::from_blob(order.data() + start, {end - start}, torch::kLong).clone();
      const torch::Tensor obs = all_obs.index_select(0, index);
      const torch::Tensor act = all_actions.index_select(0, index);
      const torch::Tensor old_log_prob = all_old_log_probs.index_select(0, index);
      const torch::Tensor advantage = all_advantages.index_select(0, index);
      const torch::Tensor ret = all_returns.index_select(0, index);

      const torch::Tensor log_prob =
          GaussianLogProb(act, policy.Forward(PolicyInput(obs, p)), log_std);
      // Measured before this minibatch's step: if the policy has already drifted too
      // far from the one that collected the data, further steps on it are unsafe.
      if (rl::KlEarlyStop(KlEstimate(log_prob, old_log_prob), p.target_kl)) {
        stats.kl_early_stop = true;
        break;
      }
      const torch::Tensor ratio = torch::exp(log_prob - old_log_prob);
      const torch::Tensor surrogate =
          torch::minimum(ratio * advantage, torch::clamp(ratio, 1.0 - eps, 1.0 + eps) * advantage);
      const torch::Tensor policy_loss = -surrogate.mean();
      const torch::Tensor entropy = GaussianEntropy(log_std);
      const torch::Tensor value_loss = (value.Forward(obs).squeeze(-1) - ret).pow(2).mean();
      const torch::Tensor loss =
          policy_loss + p.value_coefficient * value_loss - p.entropy_coefficient * entropy;

      const double policy_loss_value = policy_loss.item<double>();
      const double value_loss_value = value_loss.item<double>();
      const double entropy_value = entropy.item<double>();
      auto non_finite = [&](absl::string_view what) {
        return absl::InternalError(absl::StrCat("PPO update: non-finite ", what, " at epoch ",
                                                epoch, " minibatch ", minibatch));
      };
      if (!std::isfinite(policy_loss_value)) return non_finite("policy loss");
      if (!std::isfinite(value_loss_value)) return non_finite("value loss");
      if (!std::isfinite(entropy_value)) return non_finite("entropy");

      policy_optimizer->zero_grad();
      value_optimizer->zero_grad();
      loss.backward();
      const double grad_norm = torch::nn::utils::clip_grad_norm_(all_parameters, p.max_grad_norm);
      if (!std::isfinite(grad_norm)) return non_finite("gradient norm");
      policy_optimizer->step();
      value_optimizer->step();

      double clip_fraction;
      {
        torch::NoGradGuard no_grad;
        // rl::ClipActive (rl/ppo_math.h), vectorised.
        clip_fraction = ((ratio > 1.0 + eps).logical_and(advantage > 0.0))
                            .logical_or((ratio < 1.0 - eps).logical_and(advantage < 0.0))
                            .to(torch::kFloat64)
                            .mean()
                            .item<double>();
      }
      sum_policy_loss += policy_loss_value;
      sum_value_loss += value_loss_value;
      sum_entropy += entropy_value;
      sum_clip += clip_fraction;
      sum_grad_norm += grad_norm;
      ++stats.minibatches;
    }
  }
  if (stats.minibatches > 0) {
    const double m = stats.minibatches;
    stats.policy_loss = sum_policy_loss / m;
    stats.value_loss = sum_value_loss / m;
    stats.entropy = sum_entropy / m;
    stats.clip_fraction = sum_clip / m;
    stats.grad_norm = sum_grad_norm / m;
  }
  {
    torch::NoGradGuard no_grad;
    const double cap = ActionStdCap(p.initial_action_std, p.final_action_std, p.schedule_updates,
                                    update_count + 1);
    if (std::isfinite(cap)) log_std.clamp_max_(std::log(cap));
    stats.approx_kl =
        KlEstimate(GaussianLogProb(all_actions, policy.Forward(PolicyInput(all_obs, p)), log_std),
                   all_old_log_probs);
  }
  ++update_count;
  return stats;
}

std::string PpoLearner::Impl::Serialize() const {
  torch::serialize::OutputArchive archive;
  const std::vector<int64_t> dims = Dims(params);
  archive.write("format", torch::tensor(kCheckpointFormat, torch::kLong));
  archive.write("dims", torch::tensor(dims, torch::kLong));
  // uint64 values travel bit-for-bit as int64.
  archive.write("seed", torch::tensor(static_cast<int64_t>(params.seed), torch::kLong));
  archive.write("act_count", torch::tensor(static_cast<int64_t>(act_count), torch::kLong));
  archive.write("update_count", torch::tensor(static_cast<int64_t>(update_count), torch::kLong));
  for (const auto& [name, tensor] : NamedParameters()) archive.write(name, tensor.detach());
  torch::serialize::OutputArchive policy_state(archive.compilation_unit());
  policy_optimizer->save(policy_state);
  archive.write("policy_optimizer", policy_state);
  torch::serialize::OutputArchive value_state(archive.compilation_unit());
  value_optimizer->save(value_state);
  archive.write("value_optimizer", value_state);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

namespace {

// Reads tensor `key` with an exact dtype and shape check (InputArchive::read alone
// would silently adopt whatever shape the file holds).
absl::StatusOr<torch::Tensor> ReadTensor(torch::serialize::InputArchive& archive,
                                         const std::string& key, torch::ScalarType dtype,
                                         c10::IntArrayRef sizes, const std::string& origin) {
  torch::Tensor t;
  if (!archive.try_read(key, t)) {
    return absl::DataLossError(absl::StrCat(origin, ": checkpoint has no '", key, "'"));
  }
  if (t.scalar_type() != dtype || t.sizes() != sizes) {
    return absl::DataLossError(
        absl::StrCat(origin, ": checkpoint '", key, "' has type ", c10::toString(t.scalar_type()),
                     " shape [", absl::StrJoin(t.sizes(), ","), "], expected ",
                     c10::toString(dtype), " [", absl::StrJoin(sizes, ","), "]"));
  }
  return t;
}

absl::StatusOr<int64_t> ReadInt(torch::serialize::InputArchive& archive, const std::string& key,
                                const std::string& origin) {
  SMFG_ASSIGN_OR_RETURN(torch::Tensor t, ReadTensor(archive, key, torch::kLong, {}, origin));
  return t.item<int64_t>();
}

// After Adam::load, every parameter's moment estimates must match it (Adam::load
// itself checks only the number of parameters).
absl::Status CheckAdamState(torch::optim::Adam& optimizer, const std::string& name,
                            const std::string& origin) {
  for (const torch::Tensor& param : optimizer.param_groups()[0].params()) {
    auto it = optimizer.state().find(c10::guts::to_string(param.unsafeGetTensorImpl()));
    if (it == optimizer.state().end()) continue;  // no step taken yet
    const auto* state = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get());
    if (state == nullptr || !state->exp_avg().defined() || !state->exp_avg_sq().defined() ||
        state->exp_avg().sizes() != param.sizes() || state->exp_avg_sq().sizes() != param.sizes() ||
        state->exp_avg().scalar_type() != torch::kFloat64 ||
        state->exp_avg_sq().scalar_type() != torch::kFloat64) {
      return absl::DataLossError(
          absl::StrCat(origin, ": checkpoint ", name, " state does not match the network"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PpoLearner::Impl::Deserialize(const std::string& bytes, const std::string& origin) {
  try {
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat(
          origin, ": not a readable PPO checkpoint (truncated or corrupt): ", Describe(e)));
    }
    SMFG_ASSIGN_OR_RETURN(const int64_t format, ReadInt(archive, "format", origin));
    if (format != kCheckpointFormat) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": checkpoint format ", format,
                                                     ", this build reads ", kCheckpointFormat));
    }
    const std::vector<int64_t> expected_dims = Dims(params);
    torch::Tensor dims;
    if (!archive.try_read("dims", dims) || dims.scalar_type() != torch::kLong || dims.dim() != 1) {
      return absl::DataLossError(absl::StrCat(origin, ": checkpoint has no valid 'dims'"));
    }
    const std::vector<int64_t> saved_dims(dims.data_ptr<int64_t>(),
                                          dims.data_ptr<int64_t>() + dims.numel());
    if (saved_dims != expected_dims) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": checkpoint networks are [observation_size, action_size, hidden...] = [",
          absl::StrJoin(saved_dims, ", "), "], this learner's are [",
          absl::StrJoin(expected_dims, ", "), "]"));
    }
    SMFG_ASSIGN_OR_RETURN(const int64_t seed, ReadInt(archive, "seed", origin));
    if (static_cast<uint64_t>(seed) != params.seed) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": checkpoint seed ", static_cast<uint64_t>(seed),
                       " differs from this learner's seed ", params.seed,
                       " (resuming would not continue the same random streams)"));
    }
    SMFG_ASSIGN_OR_RETURN(const int64_t acts, ReadInt(archive, "act_count", origin));
    SMFG_ASSIGN_OR_RETURN(const int64_t updates, ReadInt(archive, "update_count", origin));

    // Read everything before touching a parameter; then copy in place, keeping each
    // parameter's identity (the optimizers refer to them).
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
    for (const auto& [name, param] : NamedParameters()) {
      SMFG_ASSIGN_OR_RETURN(torch::Tensor saved,
                            ReadTensor(archive, name, torch::kFloat64, param.sizes(), origin));
      copies.emplace_back(param, std::move(saved));
    }
    torch::serialize::InputArchive policy_state, value_state;
    if (!archive.try_read("policy_optimizer", policy_state) ||
        !archive.try_read("value_optimizer", value_state)) {
      return absl::DataLossError(absl::StrCat(origin, ": checkpoint has no optimizer state"));
    }
    {
      torch::NoGradGuard no_grad;
      for (auto& [param, saved] : copies) param.copy_(saved);
    }
    policy_optimizer->load(policy_state);
    value_optimizer->load(value_state);
    SMFG_RETURN_IF_ERROR(CheckAdamState(*policy_optimizer, "policy_optimizer", origin));
    SMFG_RETURN_IF_ERROR(CheckAdamState(*value_optimizer, "value_optimizer", origin));
    act_count = static_cast<uint64_t>(acts);
    update_count = static_cast<uint64_t>(updates);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(origin, ": invalid PPO checkpoint: ", Describe(e)));
  }
}

absl::StatusOr<std::string> PpoLearner::SaveToBytes() const {
  try {
    EnsureSingleThreaded();
    return impl_->Serialize();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("serialising the learner failed: ", Describe(e)));
  }
}

absl::Status PpoLearner::LoadFromBytes(absl::string_view bytes, absl::string_view origin) {
  // Load into a fresh Impl and swap only on success: bad bytes leave this
  // learner untouched.
  std::unique_ptr<Impl> loaded;
  try {
    EnsureSingleThreaded();
    loaded = Impl::Build(impl_->params);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(origin, ": ", Describe(e)));
  }
  SMFG_RETURN_IF_ERROR(loaded->Deserialize(std::string(bytes), std::string(origin)));
  impl_ = std::move(loaded);
  return absl::OkStatus();
}

absl::Status PpoLearner::Save(const std::string& path) const {
  absl::StatusOr<std::string> bytes = SaveToBytes();
  if (!bytes.ok()) return Annotate(bytes.status(), path);
  return WriteFileAtomically(path, *bytes);
}

absl::Status PpoLearner::Load(const std::string& path) {
  SMFG_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path, kMaxCheckpointFileBytes));
  return LoadFromBytes(bytes, path);
}

}  // namespace smfg::leader
