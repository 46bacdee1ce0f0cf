// One of the two translation units of followers/ that include LibTorch; every
// torch exception is caught here.
#include "followers/follower_policy.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rng.h"
#include "common/status.h"
#include "environment/household_solver.h"
#include "leader/torch_mlp.h"
#include "rl/ppo_math.h"

namespace smfg::followers {

using env::FollowerDay;
using env::kHoursPerDay;

namespace {

// The policy's output layer starts 100x smaller than the others, so the first
// policy is close to uniform over the feasible moves (as the leader's).
constexpr double kPolicyOutputScale = 0.01;
constexpr int kHouseholdFeatures = 6;
constexpr int kDayFeatures = 2;
// Days of FollowerDays per WriteTables batch inside SampleRollouts.
constexpr int kTableBatch = 64;

absl::Status TorchError(const char* what, const std::exception& e) {
  return absl::InternalError(absl::StrCat("follower policy: ", what, ": ", nn::Describe(e)));
}

// Rotated so that entry j is hour (hour + j) mod 24.
double Ahead(const env::HourlyArray& a, int hour, int j) { return a[(hour + j) % kHoursPerDay]; }

}  // namespace

int ContextSize(int income_groups) {
  return kHouseholdFeatures + income_groups + kDayFeatures + kHoursPerDay + 3 * kHoursPerDay;
}

void FollowerFeatures(const FollowerDay& day, int hour, int income_groups, double* out) {
  int i = 0;
  out[i++] = day.battery.capacity_kwh / 10.0;
  out[i++] = day.battery.power_kw / 5.0;
  out[i++] = day.battery.charge_efficiency;
  out[i++] = day.battery.discharge_efficiency;
  out[i++] = day.pv_kw / 5.0;
  out[i++] = day.mean_daily_demand_kwh / 20.0;
  for (int g = 0; g < income_groups; ++g) out[i++] = day.income_group == g ? 1.0 : 0.0;
  out[i++] = day.scales.daily_demand_kwh / 20.0;
  out[i++] = day.scales.pv_kwh_per_kw_shape / 6.0;
  for (int h = 0; h < kHoursPerDay; ++h) out[i++] = h == hour ? 1.0 : 0.0;
  // Retail prices in $/kWh are ~0.02-0.5; x10 brings them near 1.
  for (int j = 0; j < kHoursPerDay; ++j) out[i++] = 10.0 * Ahead(day.import_rate_per_kwh, hour, j);
  for (int j = 0; j < kHoursPerDay; ++j) {
    out[i++] = 10.0 * Ahead(day.export_credit_per_kwh, hour, j);
  }
  for (int j = 0; j < kHoursPerDay; ++j) {
    const int h = (hour + j) % kHoursPerDay;
    out[i++] = (day.demand_kwh[h] - day.pv_kwh[h]) / 2.0;
  }
}

struct FollowerPolicy::Impl {
  env::FollowerParams params;
  uint64_t seed = 0;
  int days = 0;  // the scenario's, for the rollout stream ids
  int groups = 0;
  int S = 0, K = 0, A = 0, C = 0;
  nn::Mlp policy, value;

  std::vector<torch::Tensor> Parameters() const {
    std::vector<torch::Tensor> out = policy.Parameters();
    for (const torch::Tensor& t : value.Parameters()) out.push_back(t);
    return out;
  }

  // x of every (day, hour), [n * 24, C].
  torch::Tensor Contexts(const FollowerDay* d, int n) const {
    std::vector<double> x(static_cast<size_t>(n) * kHoursPerDay * C);
    for (int i = 0; i < n; ++i) {
      for (int h = 0; h < kHoursPerDay; ++h) {
        FollowerFeatures(d[i], h, groups, &x[(static_cast<size_t>(i) * kHoursPerDay + h) * C]);
      }
    }
    return nn::Matrix(x, static_cast<int64_t>(n) * kHoursPerDay, C);
  }

  // 1 where move a is feasible from level s for day i's battery: [n, S, A].
  torch::Tensor Masks(const FollowerDay* d, int n) const {
    auto mask = torch::zeros({n, S, A}, torch::TensorOptions().dtype(torch::kBool));
    auto m = mask.accessor<bool, 3>();
    for (int i = 0; i < n; ++i) {
      for (int s = 0; s < S; ++s) {
        for (int a = 0; a < A; ++a) m[i][s][a] = env::MoveFeasible(params, d[i].battery, s, a - K);
      }
    }
    return mask;
  }

  // The first layer takes [x, s / (S - 1)]: W x + b + (s / (S - 1)) w_s. Its x
  // part is computed once per (day, hour) row and broadcast over SoC levels.
  static torch::Tensor ContextPart(const nn::Mlp& mlp, const torch::Tensor& x, int C) {
    return torch::linear(x, mlp.layers[0].weight.narrow(1, 0, C), mlp.layers[0].bias);
  }
  static torch::Tensor SocColumn(const nn::Mlp& mlp, int C) {
    return mlp.layers[0].weight.select(1, C);
  }
  static torch::Tensor Rest(const nn::Mlp& mlp, torch::Tensor h) {
    for (size_t i = 1; i < mlp.layers.size(); ++i) {
      h = torch::linear(torch::tanh(h), mlp.layers[i].weight, mlp.layers[i].bias);
    }
    return h;
  }
  // Rows of (x, soc fraction): x [T, C], soc [T].
  torch::Tensor ForwardRows(const nn::Mlp& mlp, const torch::Tensor& x,
                            const torch::Tensor& soc) const {
    return Rest(mlp, ContextPart(mlp, x, C) + soc.unsqueeze(1) * SocColumn(mlp, C).unsqueeze(0));
  }
  // Every (row of x, SoC level): x [R, C] -> [R, S, out].
  torch::Tensor ForwardGrid(const nn::Mlp& mlp, const torch::Tensor& x) const {
    const torch::Tensor levels = torch::arange(S, nn::F64()) / static_cast<double>(S - 1);
    const torch::Tensor pre = ContextPart(mlp, x, C).unsqueeze(1) +
                              levels.view({1, S, 1}) * SocColumn(mlp, C).view({1, 1, -1});
    const int64_t rows = x.size(0);
    return Rest(mlp, pre.reshape({rows * S, -1})).view({rows, S, -1});
  }
  // log pi over moves with infeasible ones at -inf; logits [..., A], mask alike.
  static torch::Tensor MaskedLogSoftmax(const torch::Tensor& logits, const torch::Tensor& mask) {
    return torch::log_softmax(
        logits.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity()), -1);
  }
};

FollowerPolicy::FollowerPolicy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FollowerPolicy::~FollowerPolicy() = default;

absl::StatusOr<std::unique_ptr<FollowerPolicy>> FollowerPolicy::Create(
    const env::Scenario& scenario) {
  try {
    nn::EnsureSingleThreaded();
    auto impl = std::make_unique<Impl>();
    impl->params = scenario.follower;
    impl->seed = scenario.seed;
    impl->days = scenario.days;
    impl->groups = static_cast<int>(scenario.income_groups.size());
    impl->S = scenario.follower.soc_levels;
    impl->K = scenario.follower.max_soc_steps_per_hour;
    impl->A = 2 * impl->K + 1;
    impl->C = ContextSize(impl->groups);
    const std::vector<int>& hidden = scenario.follower.ppo.hidden_sizes;
    if (hidden.empty()) {
      return absl::InvalidArgumentError("follower.ppo.hidden_sizes: must not be empty");
    }
    CounterRng rng(scenario.seed, RngPurpose::kFollowerPolicy, 0);
    impl->policy = nn::MakeMlp(impl->C + 1, hidden, impl->A, kPolicyOutputScale, &rng);
    impl->value = nn::MakeMlp(impl->C + 1, hidden, 1, 1.0, &rng);
    return std::unique_ptr<FollowerPolicy>(new FollowerPolicy(std::move(impl)));
  } catch (const std::exception& e) {
    return TorchError("create", e);
  }
}

absl::StatusOr<std::unique_ptr<FollowerPolicy>> FollowerPolicy::Clone() const {
  try {
    auto impl = std::make_unique<Impl>(*impl_);
    for (nn::Mlp* mlp : {&impl->policy, &impl->value}) {
      for (nn::Layer& layer : mlp->layers) {
        layer.weight = layer.weight.detach().clone().requires_grad_(true);
        layer.bias = layer.bias.detach().clone().requires_grad_(true);
      }
    }
    return std::unique_ptr<FollowerPolicy>(new FollowerPolicy(std::move(impl)));
  } catch (const std::exception& e) {
    return TorchError("clone", e);
  }
}

int64_t FollowerPolicy::parameter_count() const {
  int64_t n = 0;
  for (const torch::Tensor& t : impl_->Parameters()) n += t.numel();
  return n;
}

std::vector<double> FollowerPolicy::Parameters() const {
  std::vector<double> out;
  out.reserve(parameter_count());
  for (const torch::Tensor& t : impl_->Parameters()) {
    const torch::Tensor c = t.detach().contiguous();
    out.insert(out.end(), c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  return out;
}

absl::Status FollowerPolicy::SetParameters(const std::vector<double>& parameters) {
  const int64_t n = parameter_count();
  if (static_cast<int64_t>(parameters.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("follower policy parameters: ", parameters.size(), " values, expected ", n));
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (!std::isfinite(parameters[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("follower policy parameters[", i, "]: not finite (", parameters[i], ")"));
    }
  }
  torch::NoGradGuard no_grad;
  size_t at = 0;
  for (torch::Tensor& t : impl_->Parameters()) {
    std::memcpy(t.data_ptr<double>(), parameters.data() + at, t.numel() * sizeof(double));
    at += t.numel();
  }
  return absl::OkStatus();
}

size_t FollowerPolicy::table_size() const {
  return static_cast<size_t>(kHoursPerDay) * impl_->S * impl_->A;
}

absl::Status FollowerPolicy::WriteTables(const FollowerDay* days, int n, double* tables) const {
  if (n <= 0) return absl::OkStatus();
  try {
    nn::EnsureSingleThreaded();
    torch::NoGradGuard no_grad;
    const Impl& m = *impl_;
    const torch::Tensor logits = m.ForwardGrid(m.policy, m.Contexts(days, n));  // [n*24, S, A]
    const torch::Tensor mask = m.Masks(days, n)
                                   .unsqueeze(1)
                                   .expand({n, kHoursPerDay, m.S, m.A})
                                   .reshape({n * kHoursPerDay, m.S, m.A});
    const torch::Tensor probs = torch::exp(Impl::MaskedLogSoftmax(logits, mask)).contiguous();
    std::memcpy(tables, probs.data_ptr<double>(), n * table_size() * sizeof(double));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return TorchError("write tables", e);
  }
}

absl::StatusOr<ShardRollouts> FollowerPolicy::SampleRollouts(std::vector<FollowerDay> days,
                                                             uint64_t phase) const {
  const Impl& m = *impl_;
  const env::FollowerParams& fp = m.params;
  const int n = static_cast<int>(days.size());
  const int episodes = fp.ppo.episodes_per_household_day;
  const int length = fp.ppo.episode_days * kHoursPerDay;
  const double tau = fp.temperature_usd;
  ShardRollouts r;
  r.days = std::move(days);
  if (n == 0) return r;
  const size_t ts = table_size();
  std::vector<double> tables(static_cast<size_t>(n) * ts);
  for (int first = 0; first < n; first += kTableBatch) {
    const int count = std::min(kTableBatch, n - first);
    SMFG_RETURN_IF_ERROR(WriteTables(&r.days[first], count, &tables[first * ts]));
  }
  // Sample every episode; the values come after, in one batch.
  const size_t total = static_cast<size_t>(n) * episodes * length;
  r.day_index.reserve(total);
  r.hour.reserve(total);
  r.soc_level.reserve(total);
  r.move.reserve(total);
  r.old_log_prob.reserve(total);
  std::vector<double> soft_reward;
  soft_reward.reserve(total);
  std::vector<int32_t> end_level;  // per episode
  std::vector<env::PolicyStep> steps(length);
  double reward_sum = 0, entropy_sum = 0;
  for (int i = 0; i < n; ++i) {
    const FollowerDay& day = r.days[i];
    const double* table = &tables[i * ts];
    const env::HouseholdDayInput in = day.Input();
    for (int e = 0; e < episodes; ++e) {
      CounterRng rng(m.seed, RngPurpose::kFollowerRollout, static_cast<uint64_t>(day.household),
                     (phase * static_cast<uint64_t>(m.days) + day.day) * episodes + e);
      // Uniform start level by multiply-high (bias < S / 2^64).
      int level = static_cast<int>((static_cast<unsigned __int128>(rng.NextU64()) * m.S) >> 64);
      for (int rep = 0; rep < fp.ppo.episode_days; ++rep) {
        SMFG_ASSIGN_OR_RETURN(level, env::SampleDay(fp, day.battery, in, table, level, &rng,
                                                    &steps[rep * kHoursPerDay]));
      }
      end_level.push_back(level);
      for (const env::PolicyStep& st : steps) {
        const double* row = table + (static_cast<size_t>(st.hour) * m.S + st.soc_level) * m.A;
        const double log_p = std::log(row[st.move + m.K]);
        double entropy = 0;
        for (int a = 0; a < m.A; ++a) {
          if (row[a] > 0) entropy -= row[a] * std::log(row[a]);
        }
        r.day_index.push_back(i);
        r.hour.push_back(st.hour);
        r.soc_level.push_back(st.soc_level);
        r.move.push_back(st.move);
        r.old_log_prob.push_back(log_p);
        soft_reward.push_back(st.reward_usd - tau * log_p);
        reward_sum += st.reward_usd;
        entropy_sum += entropy;
      }
    }
  }
  const int64_t T = static_cast<int64_t>(r.move.size());
  r.mean_daily_reward_usd = reward_sum / (static_cast<double>(n) * episodes * fp.ppo.episode_days);
  r.mean_entropy = entropy_sum / static_cast<double>(T);

  // Values of every step and of each episode's last state (hour 0 of the
  // next repetition), under the sampling parameters.
  std::vector<double> values(T), last_values(end_level.size());
  try {
    nn::EnsureSingleThreaded();
    torch::NoGradGuard no_grad;
    const torch::Tensor grid = m.ForwardGrid(m.value, m.Contexts(r.days.data(), n))
                                   .view({n * kHoursPerDay * m.S})
                                   .contiguous();  // [(day * 24 + hour) * S + s]
    const double* v = grid.data_ptr<double>();
    for (int64_t t = 0; t < T; ++t) {
      values[t] = kValueScaleUsd *
                  v[(static_cast<size_t>(r.day_index[t]) * kHoursPerDay + r.hour[t]) * m.S +
                    r.soc_level[t]];
    }
    for (size_t e = 0; e < end_level.size(); ++e) {
      const size_t i = e / episodes;
      last_values[e] = kValueScaleUsd * v[(i * kHoursPerDay) * m.S + end_level[e]];
    }
  } catch (const std::exception& e) {
    return TorchError("values", e);
  }
  r.advantage.resize(T);
  r.value_target.resize(T);
  const std::vector<uint8_t> dones(length, 0);
  for (size_t e = 0; e < end_level.size(); ++e) {
    const size_t at = e * length;
    const std::vector<double> rw(soft_reward.begin() + at, soft_reward.begin() + at + length);
    const std::vector<double> vs(values.begin() + at, values.begin() + at + length);
    const rl::GaeResult gae =
        rl::ComputeGae(rw, vs, dones, last_values[e], fp.discount_per_hour, fp.ppo.gae_lambda);
    std::copy(gae.advantages.begin(), gae.advantages.end(), r.advantage.begin() + at);
    std::copy(gae.returns.begin(), gae.returns.end(), r.value_target.begin() + at);
  }
  rl::NormalizeAdvantages(&r.advantage);
  return r;
}

absl::StatusOr<ShardGradient> FollowerPolicy::Gradient(const ShardRollouts& r) const {
  const Impl& m = *impl_;
  ShardGradient out;
  out.steps = r.steps();
  out.gradient.assign(parameter_count(), 0.0);
  if (out.steps == 0) return out;
  const int n = static_cast<int>(r.days.size());
  const int64_t T = out.steps;
  try {
    nn::EnsureSingleThreaded();
    std::vector<int64_t> row(T), mask_row(T), move(T);
    std::vector<double> soc(T);
    for (int64_t t = 0; t < T; ++t) {
      row[t] = static_cast<int64_t>(r.day_index[t]) * kHoursPerDay + r.hour[t];
      mask_row[t] = static_cast<int64_t>(r.day_index[t]) * m.S + r.soc_level[t];
      move[t] = r.move[t] + m.K;
      soc[t] = static_cast<double>(r.soc_level[t]) / (m.S - 1);
    }
    auto I64 = [](std::vector<int64_t>& v) {
      return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())},
                              torch::TensorOptions().dtype(torch::kInt64))
          .clone();
    };
    const torch::Tensor x = m.Contexts(r.days.data(), n).index_select(0, I64(row));
    const torch::Tensor s = nn::Vector(soc);
    const torch::Tensor mask =
        m.Masks(r.days.data(), n).view({n * m.S, m.A}).index_select(0, I64(mask_row));
    const torch::Tensor log_pi = Impl::MaskedLogSoftmax(m.ForwardRows(m.policy, x, s), mask);
    const torch::Tensor log_p = log_pi.gather(1, I64(move).unsqueeze(1)).squeeze(1);
    const torch::Tensor old = nn::Vector(r.old_log_prob);
    const torch::Tensor adv = nn::Vector(r.advantage);
    const torch::Tensor ratio = torch::exp(log_p - old);
    const double eps = m.params.ppo.clip;
    const torch::Tensor surrogate =
        torch::min(ratio * adv, torch::clamp(ratio, 1.0 - eps, 1.0 + eps) * adv);
    const torch::Tensor policy_loss = -surrogate.sum();
    const torch::Tensor v = m.ForwardRows(m.value, x, s).squeeze(1);
    const torch::Tensor target = nn::Vector(r.value_target) / kValueScaleUsd;
    const torch::Tensor value_loss = m.params.ppo.value_coef * (v - target).pow(2).sum();
    const std::vector<torch::Tensor> params = m.Parameters();
    const std::vector<torch::Tensor> grads =
        torch::autograd::grad({policy_loss + value_loss}, params, /*grad_outputs=*/{},
                              /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true);
    size_t at = 0;
    for (size_t k = 0; k < params.size(); ++k) {
      const int64_t numel = params[k].numel();
      if (grads[k].defined()) {
        const torch::Tensor g = grads[k].contiguous();
        std::memcpy(&out.gradient[at], g.data_ptr<double>(), numel * sizeof(double));
      }
      at += numel;
    }
    out.policy_loss_sum = policy_loss.item<double>();
    out.value_loss_sum = value_loss.item<double>();
    const torch::Tensor log_ratio = (log_p - old).detach();
    out.approx_kl_sum = (torch::expm1(log_ratio) - log_ratio).sum().item<double>();
    const torch::Tensor ratio_d = ratio.detach().contiguous();
    const double* rho = ratio_d.data_ptr<double>();
    for (int64_t t = 0; t < T; ++t) {
      out.clipped_steps += rl::ClipActive(rho[t], r.advantage[t], eps) ? 1 : 0;
    }
  } catch (const std::exception& e) {
    return TorchError("gradient", e);
  }
  for (size_t i = 0; i < out.gradient.size(); ++i) {
    if (!std::isfinite(out.gradient[i])) {
      return absl::InternalError(absl::StrCat("follower policy: gradient[", i, "] is not finite"));
    }
  }
  return out;
}

}  // namespace smfg::followers
