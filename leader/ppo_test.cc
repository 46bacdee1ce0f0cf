#include "leader/ppo.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/rng.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "leader/ppo_math.h"

namespace smfg::leader {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kHalfLogTwoPi = 0.91893853320467274178;  // log(2 pi) / 2

PpoParams SmallParams() {
  PpoParams p;
  p.observation_size = 2;
  p.action_size = 2;
  p.hidden_sizes = {8, 8};
  p.minibatch_size = 4;
  p.epochs = 3;
  p.seed = 7;
  return p;
}

std::unique_ptr<PpoLearner> MakeLearner(const PpoParams& p) {
  absl::StatusOr<std::unique_ptr<PpoLearner>> learner = PpoLearner::Create(p);
  EXPECT_TRUE(learner.ok()) << learner.status();
  return learner.ok() ? std::move(learner).value() : nullptr;
}

// A fixed observation sequence for learners with observation_size `size`.
std::vector<double> Observation(int size, uint64_t step) {
  CounterRng rng(123, RngPurpose::kTest, step);
  std::vector<double> obs(size);
  for (double& x : obs) x = rng.Uniform(-1.0, 1.0);
  return obs;
}

// Collects `n` steps by acting stochastically; reward = -|u|^2 + 0.1 * obs[0], an
// episode boundary every 5 steps. Returns the rollout; *actions gets every sample.
std::vector<Transition> Collect(PpoLearner* learner, int n, uint64_t first_step,
                                std::vector<PolicySample>* actions = nullptr) {
  const int obs_size = learner->params().observation_size;
  std::vector<Transition> rollout;
  for (int i = 0; i < n; ++i) {
    Transition t;
    t.observation = Observation(obs_size, first_step + i);
    const PolicySample s = learner->Act(t.observation, /*deterministic=*/false);
    if (actions != nullptr) actions->push_back(s);
    t.raw_action = s.raw_action;
    t.log_prob = s.log_prob;
    t.value = s.value;
    t.reward = 0.1 * t.observation[0];
    for (double u : s.raw_action) t.reward -= u * u;
    t.done = (first_step + i) % 5 == 4;
    rollout.push_back(std::move(t));
  }
  return rollout;
}

std::string Msg(const absl::Status& status) { return std::string(status.message()); }

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          (name + "." + std::to_string(::getpid()) + ".ckpt"))
      .string();
}

void ExpectSameStats(const UpdateStats& a, const UpdateStats& b) {
  EXPECT_EQ(a.policy_loss, b.policy_loss);
  EXPECT_EQ(a.value_loss, b.value_loss);
  EXPECT_EQ(a.entropy, b.entropy);
  EXPECT_EQ(a.approx_kl, b.approx_kl);
  EXPECT_EQ(a.clip_fraction, b.clip_fraction);
  EXPECT_EQ(a.grad_norm, b.grad_norm);
  EXPECT_EQ(a.epochs_run, b.epochs_run);
  EXPECT_EQ(a.minibatches, b.minibatches);
  EXPECT_EQ(a.kl_early_stop, b.kl_early_stop);
}

TEST(PpoParamsTest, DefaultsWithSizesAreValid) {
  PpoParams p;
  p.observation_size = 3;
  p.action_size = 24;
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
}

TEST(PpoParamsTest, ErrorsNameTheField) {
  const std::vector<std::pair<std::function<void(PpoParams*)>, std::string>> cases = {
      {[](PpoParams* p) { p->observation_size = 0; },
       "learner.observation_size: must be >= 1, got 0"},
      {[](PpoParams* p) { p->action_size = -2; }, "learner.action_size: must be >= 1, got -2"},
      {[](PpoParams* p) {
         p->hidden_sizes = {64, 0};
       },
       "learner.hidden_sizes[1]: must be in [1, 4096], got 0"},
      {[](PpoParams* p) { p->policy_learning_rate = 0; },
       "learner.policy_learning_rate: must be finite and > 0, got 0"},
      {[](PpoParams* p) { p->value_learning_rate = std::nan(""); },
       "learner.value_learning_rate: must be finite and > 0, got nan"},
      {[](PpoParams* p) { p->clip_epsilon = 1.5; },
       "learner.clip_epsilon: must be in (0, 1), got 1.5"},
      {[](PpoParams* p) { p->clip_epsilon = 0; }, "learner.clip_epsilon: must be in (0, 1), got 0"},
      {[](PpoParams* p) { p->gae_lambda = 1.01; },
       "learner.gae_lambda: must be in [0, 1], got 1.01"},
      {[](PpoParams* p) { p->discount = 0; }, "learner.discount: must be in (0, 1], got 0"},
      {[](PpoParams* p) { p->entropy_coefficient = -0.1; },
       "learner.entropy_coefficient: must be finite and >= 0, got -0.1"},
      {[](PpoParams* p) { p->value_coefficient = INFINITY; },
       "learner.value_coefficient: must be finite and >= 0, got inf"},
      {[](PpoParams* p) { p->epochs = 0; }, "learner.epochs: must be >= 1, got 0"},
      {[](PpoParams* p) { p->minibatch_size = 0; }, "learner.minibatch_size: must be >= 1, got 0"},
      {[](PpoParams* p) { p->target_kl = -1; },
       "learner.target_kl: must be finite and >= 0 (0 disables), got -1"},
      {[](PpoParams* p) { p->max_grad_norm = 0; },
       "learner.max_grad_norm: must be finite and > 0, got 0"},
      {[](PpoParams* p) { p->initial_action_std = -0.5; },
       "learner.initial_action_std: must be finite and > 0, got -0.5"},
      {[](PpoParams* p) { p->schedule_updates = -1; },
       "learner.schedule_updates: must be >= 0, got -1"},
      {[](PpoParams* p) { p->final_learning_rate_fraction = 0; },
       "learner.final_learning_rate_fraction: must be in (0, 1], got 0"},
      {[](PpoParams* p) { p->final_action_std = 0.9; },
       "learner.final_action_std: must be 0 or in (0, initial_action_std], got 0.9"},
  };
  for (const auto& [mutate, message] : cases) {
    PpoParams p = SmallParams();
    mutate(&p);
    const absl::Status status = p.Validate();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument)) << message;
    EXPECT_EQ(status.message(), message);
    // Create validates too.
    EXPECT_EQ(PpoLearner::Create(p).status(), status);
  }
}

TEST(PpoLearnerTest, InitialPolicyIsCentredWithTheConfiguredStd) {
  PpoParams p = SmallParams();
  p.initial_action_std = 0.5;
  auto learner = MakeLearner(p);
  const std::vector<double> obs = {0.3, -0.7};
  const PolicySample mean = learner->Act(obs, /*deterministic=*/true);
  ASSERT_EQ(mean.raw_action.size(), 2u);
  for (double u : mean.raw_action) EXPECT_LT(std::abs(u), 0.05);
  // Density at the mean: sum_j (-log sigma - log(2 pi)/2).
  EXPECT_NEAR(mean.log_prob, 2 * (-std::log(0.5) - kHalfLogTwoPi), 1e-12);
  EXPECT_EQ(mean.value, learner->Value(obs));
  EXPECT_EQ(learner->act_count(), 0u);  // deterministic calls consume no noise

  // Stochastic samples: the log-density matches the Gaussian formula, and the
  // spread is sigma = 0.5.
  double sum_sq = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const PolicySample s = learner->Act(obs, false);
    double expected = 0;
    for (int j = 0; j < 2; ++j) {
      const double z = (s.raw_action[j] - mean.raw_action[j]) / 0.5;
      expected += -0.5 * z * z - std::log(0.5) - kHalfLogTwoPi;
      sum_sq += (s.raw_action[j] - mean.raw_action[j]) * (s.raw_action[j] - mean.raw_action[j]);
    }
    EXPECT_NEAR(s.log_prob, expected, 1e-12);
  }
  EXPECT_NEAR(std::sqrt(sum_sq / (2 * n)), 0.5, 0.02);
  EXPECT_EQ(learner->act_count(), static_cast<uint64_t>(n));
}

TEST(PpoLearnerTest, SampleSequenceDependsOnSeedAndCallCountOnly) {
  auto a = MakeLearner(SmallParams());
  auto b = MakeLearner(SmallParams());
  const std::vector<double> obs = {0.1, 0.2};
  for (int i = 0; i < 20; ++i) {
    // Deterministic calls on b in between must not shift its stream.
    b->Act({-0.5, 0.5}, true);
    EXPECT_EQ(a->Act(obs, false).raw_action, b->Act(obs, false).raw_action) << i;
  }
  PpoParams other = SmallParams();
  other.seed = 8;
  auto c = MakeLearner(other);
  EXPECT_NE(MakeLearner(SmallParams())->Act(obs, false).raw_action, c->Act(obs, false).raw_action);
  EXPECT_NE(MakeLearner(SmallParams())->Parameters(), c->Parameters());
}

TEST(PpoLearnerTest, KlEarlyStopAfterFirstMinibatch) {
  PpoParams p = SmallParams();
  p.policy_learning_rate = 1.0;  // one Adam step moves every weight by ~1
  p.max_grad_norm = 1e6;
  p.epochs = 5;
  p.minibatch_size = 4;
  p.target_kl = 0.02;
  auto learner = MakeLearner(p);
  const std::vector<Transition> rollout = Collect(learner.get(), 16, 0);
  absl::StatusOr<UpdateStats> stats = learner->Update(rollout, 0.0);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->kl_early_stop);
  EXPECT_EQ(stats->epochs_run, 1);
  EXPECT_EQ(stats->minibatches, 1);  // the first step is taken, the second is refused
  EXPECT_GT(stats->approx_kl, p.target_kl);

  // target_kl = 0 disables the stop: all 5 epochs x 4 minibatches run.
  p.target_kl = 0.0;
  auto unlimited = MakeLearner(p);
  const std::vector<Transition> rollout2 = Collect(unlimited.get(), 16, 0);
  stats = unlimited->Update(rollout2, 0.0);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->kl_early_stop);
  EXPECT_EQ(stats->epochs_run, 5);
  EXPECT_EQ(stats->minibatches, 20);
  EXPECT_GT(stats->approx_kl, 0.02);
}

TEST(PpoLearnerTest, UnevenMinibatchesCoverTheRollout) {
  PpoParams p = SmallParams();
  p.target_kl = 0.0;
  p.epochs = 2;
  p.minibatch_size = 4;
  auto learner = MakeLearner(p);
  absl::StatusOr<UpdateStats> stats = learner->Update(Collect(learner.get(), 10, 0), 0.3);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->minibatches, 2 * 3);  // 4 + 4 + 2 per epoch
  EXPECT_EQ(learner->update_count(), 1u);
  EXPECT_GT(stats->entropy, 0.0);
  EXPECT_GE(stats->clip_fraction, 0.0);
  EXPECT_LE(stats->clip_fraction, 1.0);
}

// Contextual bandit: observation x ~ U[-1, 1], action a = squash(u) in [0, 1],
// reward -(a - (0.5 + 0.3 x))^2, every step terminal.
TEST(PpoLearnerTest, LearnsASimpleBandit) {
  PpoParams p;
  p.observation_size = 1;
  p.action_size = 1;
  p.hidden_sizes = {32, 32};
  p.policy_learning_rate = 3e-3;
  p.value_learning_rate = 3e-3;
  p.minibatch_size = 16;
  p.epochs = 10;
  p.entropy_coefficient = 0.0;
  p.target_kl = 0.05;
  p.seed = 2024;
  auto learner = MakeLearner(p);
  auto target = [](double x) { return 0.5 + 0.3 * x; };
  auto mse = [&]() {
    double sum = 0;
    int n = 0;
    for (double x = -1.0; x <= 1.0 + 1e-9; x += 0.02, ++n) {
      const double a = SquashToRange(learner->Act({x}, true).raw_action[0], 0.0, 1.0);
      sum += (a - target(x)) * (a - target(x));
    }
    return sum / n;
  };
  const double initial = mse();
  CounterRng env_rng(5, RngPurpose::kTest, 0);
  constexpr int kUpdates = 60;
  constexpr int kSteps = 64;
  for (int k = 0; k < kUpdates; ++k) {
    std::vector<Transition> rollout;
    for (int i = 0; i < kSteps; ++i) {
      Transition t;
      t.observation = {env_rng.Uniform(-1.0, 1.0)};
      const PolicySample s = learner->Act(t.observation, false);
      const double a = SquashToRange(s.raw_action[0], 0.0, 1.0);
      t.raw_action = s.raw_action;
      t.log_prob = s.log_prob;
      t.value = s.value;
      t.reward = -(a - target(t.observation[0])) * (a - target(t.observation[0]));
      t.done = true;
      rollout.push_back(std::move(t));
    }
    absl::StatusOr<UpdateStats> stats = learner->Update(rollout, 0.0);
    ASSERT_TRUE(stats.ok()) << stats.status();
  }
  const double final_mse = mse();
  std::printf("bandit: deterministic-action MSE %.6f -> %.6f after %d updates\n", initial,
              final_mse, kUpdates);
  EXPECT_LT(final_mse, 0.01);
  EXPECT_LT(final_mse, 0.1 * initial);
}

// A state-independent policy acts the same for every observation, before and
// after an update, while its value network still tells observations apart.
TEST(PpoLearnerTest, StateIndependentPolicyIgnoresTheObservationButNotTheValue) {
  PpoParams p = SmallParams();
  p.state_independent_policy = true;
  std::unique_ptr<PpoLearner> learner = MakeLearner(p);
  ASSERT_NE(learner, nullptr);
  const std::vector<double> a = {0.3, -1.0}, b = {-2.0, 0.7};
  std::vector<Transition> rollout;
  for (int i = 0; i < 8; ++i) {
    const std::vector<double>& obs = i % 2 == 0 ? a : b;
    PolicySample s = learner->Act(obs, /*deterministic=*/false);
    // The reward depends on the observation only: the value must learn it,
    // the policy has nothing to learn from it.
    rollout.push_back({.observation = obs,
                       .raw_action = s.raw_action,
                       .log_prob = s.log_prob,
                       .value = s.value,
                       .reward = i % 2 == 0 ? 1.0 : -1.0,
                       .done = true});
  }
  ASSERT_THAT(learner->Update(rollout, /*last_value=*/0.0).status(), IsOk());
  const PolicySample sa = learner->Act(a, /*deterministic=*/true);
  const PolicySample sb = learner->Act(b, /*deterministic=*/true);
  EXPECT_EQ(sa.raw_action, sb.raw_action);
  EXPECT_EQ(sa.log_prob, sb.log_prob);
  EXPECT_NE(learner->Value(a), learner->Value(b));

  // The same learner with the observation seen by the policy acts differently.
  p.state_independent_policy = false;
  std::unique_ptr<PpoLearner> dependent = MakeLearner(p);
  EXPECT_NE(dependent->Act(a, /*deterministic=*/true).raw_action,
            dependent->Act(b, /*deterministic=*/true).raw_action);
}

TEST(PpoLearnerTest, SameSeedSameRolloutsAreBitIdentical) {
  PpoParams p = SmallParams();
  p.target_kl = 0.0;
  auto a = MakeLearner(p);
  auto b = MakeLearner(p);
  EXPECT_EQ(a->Parameters(), b->Parameters());
  for (int k = 0; k < 3; ++k) {
    std::vector<PolicySample> acts_a, acts_b;
    const std::vector<Transition> ra = Collect(a.get(), 12, 12 * k, &acts_a);
    const std::vector<Transition> rb = Collect(b.get(), 12, 12 * k, &acts_b);
    for (size_t i = 0; i < acts_a.size(); ++i) {
      EXPECT_EQ(acts_a[i].raw_action, acts_b[i].raw_action);
      EXPECT_EQ(acts_a[i].log_prob, acts_b[i].log_prob);
      EXPECT_EQ(acts_a[i].value, acts_b[i].value);
    }
    absl::StatusOr<UpdateStats> sa = a->Update(ra, 0.25);
    absl::StatusOr<UpdateStats> sb = b->Update(rb, 0.25);
    ASSERT_TRUE(sa.ok() && sb.ok());
    ExpectSameStats(*sa, *sb);
    EXPECT_EQ(a->Parameters(), b->Parameters()) << "after update " << k;
  }
  // And the updates did change something.
  EXPECT_NE(a->Parameters(), MakeLearner(p)->Parameters());
}

TEST(PpoLearnerTest, StdCapAndStepSizeScheduleFollowTheUpdateCount) {
  PpoParams p = SmallParams();
  p.initial_action_std = 0.4;
  p.final_action_std = 0.05;
  p.schedule_updates = 3;
  p.entropy_coefficient = 1.0;  // pushes sigma up: only the cap holds it
  auto learner = MakeLearner(p);
  const auto sigma = [&] {
    // log_std follows the policy layers' weights and biases in Parameters().
    const std::vector<double> all = learner->Parameters();
    const int policy = (2 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2);
    return std::vector<double>{std::exp(all[policy]), std::exp(all[policy + 1])};
  };
  EXPECT_THAT(sigma(), ElementsAre(DoubleNear(0.4, 1e-15), DoubleNear(0.4, 1e-15)));
  for (int k = 0; k < 5; ++k) {
    ASSERT_TRUE(learner->Update(Collect(learner.get(), 12, 12 * k), 0.0).ok());
    const double cap = ActionStdCap(0.4, 0.05, 3, k + 1);
    for (double s : sigma()) EXPECT_LE(s, cap * (1 + 1e-12)) << "after update " << k;
    // The entropy bonus holds sigma at the cap.
    for (double s : sigma()) EXPECT_NEAR(s, cap, 1e-12) << "after update " << k;
  }
  // Without a schedule the same entropy bonus lets sigma grow.
  p.schedule_updates = 0;
  learner = MakeLearner(p);
  ASSERT_TRUE(learner->Update(Collect(learner.get(), 12, 0), 0.0).ok());
  for (double s : sigma()) EXPECT_GT(s, 0.4);
}

TEST(PpoLearnerTest, ScheduledSaveLoadContinueIsBitIdentical) {
  PpoParams p = SmallParams();
  p.schedule_updates = 4;
  p.final_learning_rate_fraction = 0.25;
  p.final_action_std = 0.1;
  const std::string bytes_path = TempPath("scheduled");
  auto uninterrupted = MakeLearner(p);
  for (int k = 0; k < 2; ++k) {
    ASSERT_TRUE(uninterrupted->Update(Collect(uninterrupted.get(), 12, 12 * k), 0.0).ok());
  }
  absl::StatusOr<std::string> bytes = uninterrupted->SaveToBytes();
  ASSERT_THAT(bytes, IsOk());
  auto resumed = MakeLearner(p);
  ASSERT_THAT(resumed->LoadFromBytes(*bytes, "scheduled"), IsOk());
  for (int k = 2; k < 6; ++k) {
    ASSERT_TRUE(uninterrupted->Update(Collect(uninterrupted.get(), 12, 12 * k), 0.0).ok());
    ASSERT_TRUE(resumed->Update(Collect(resumed.get(), 12, 12 * k), 0.0).ok());
    EXPECT_EQ(uninterrupted->Parameters(), resumed->Parameters()) << "update " << k;
  }
}

TEST(PpoLearnerTest, SaveLoadContinueIsBitIdentical) {
  const PpoParams p = SmallParams();
  const std::string path = TempPath("resume");
  auto uninterrupted = MakeLearner(p);
  for (int k = 0; k < 2; ++k) {
    ASSERT_TRUE(uninterrupted->Update(Collect(uninterrupted.get(), 12, 12 * k), 0.0).ok());
  }
  ASSERT_TRUE(uninterrupted->Save(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto resumed = MakeLearner(p);
  ASSERT_NE(resumed->Parameters(), uninterrupted->Parameters());
  const absl::Status load = resumed->Load(path);
  ASSERT_TRUE(load.ok()) << load;
  EXPECT_EQ(resumed->Parameters(), uninterrupted->Parameters());
  EXPECT_EQ(resumed->act_count(), 24u);
  EXPECT_EQ(resumed->update_count(), 2u);

  // Continuing both: same samples, same statistics, same parameters, which needs
  // the Adam moments and step counts and both random-stream counters restored.
  for (int k = 2; k < 5; ++k) {
    std::vector<PolicySample> acts_u, acts_r;
    const std::vector<Transition> ru = Collect(uninterrupted.get(), 12, 12 * k, &acts_u);
    const std::vector<Transition> rr = Collect(resumed.get(), 12, 12 * k, &acts_r);
    for (size_t i = 0; i < acts_u.size(); ++i) {
      EXPECT_EQ(acts_u[i].raw_action, acts_r[i].raw_action);
      EXPECT_EQ(acts_u[i].log_prob, acts_r[i].log_prob);
      EXPECT_EQ(acts_u[i].value, acts_r[i].value);
    }
    absl::StatusOr<UpdateStats> su = uninterrupted->Update(ru, 0.0);
    absl::StatusOr<UpdateStats> sr = resumed->Update(rr, 0.0);
    ASSERT_TRUE(su.ok() && sr.ok());
    ExpectSameStats(*su, *sr);
    EXPECT_EQ(uninterrupted->Parameters(), resumed->Parameters()) << "update " << k;
  }
  std::remove(path.c_str());
}

TEST(PpoLearnerTest, NanRewardIsRejectedAndChangesNothing) {
  auto learner = MakeLearner(SmallParams());
  ASSERT_TRUE(learner->Update(Collect(learner.get(), 8, 0), 0.0).ok());
  std::vector<Transition> rollout = Collect(learner.get(), 8, 8);
  rollout[3].reward = std::nan("");
  const std::vector<double> before = learner->Parameters();
  const std::vector<double> act_before = learner->Act({0.2, 0.4}, true).raw_action;
  const absl::StatusOr<UpdateStats> stats = learner->Update(rollout, 0.0);
  EXPECT_THAT(stats.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(stats.status()), HasSubstr("rollout[3].reward"));
  EXPECT_EQ(learner->Act({0.2, 0.4}, true).raw_action, act_before);
  EXPECT_EQ(learner->Parameters(), before);
  EXPECT_EQ(learner->update_count(), 1u);

  rollout[3].reward = 0;
  rollout[5].observation.pop_back();
  EXPECT_THAT(Msg(learner->Update(rollout, 0.0).status()),
              HasSubstr("rollout[5].observation: has 1 entries, expected observation_size 2"));
  EXPECT_THAT(learner->Update({}, 0.0).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A finite but absurd reward overflows the value loss ((V - 1e300)^2 = inf) on the
// first minibatch that holds it (or an earlier step of its episode). Steps already
// taken in that update are rolled back, so the learner continues exactly like a
// twin that never saw the bad rollouts.
TEST(PpoLearnerTest, NonFiniteLossFailsAndRollsBackTheWholeUpdate) {
  PpoParams p = SmallParams();
  p.target_kl = 0.0;
  auto learner = MakeLearner(p);
  auto twin = MakeLearner(p);
  for (PpoLearner* l : {learner.get(), twin.get()}) {
    ASSERT_TRUE(l->Update(Collect(l, 16, 0), 0.0).ok());
  }
  const std::vector<double> before = learner->Parameters();
  const std::vector<Transition> good = Collect(twin.get(), 16, 16);
  const std::vector<Transition> collected = Collect(learner.get(), 16, 16);  // same data

  // Poison each position in turn: every attempt fails and is undone, so the next
  // one starts from the same state and hence the same shuffle.
  int failed_after_a_step = 0;
  for (int i = 0; i < 16; ++i) {
    std::vector<Transition> bad = collected;
    bad[i].reward = 1e300;
    const absl::StatusOr<UpdateStats> stats = learner->Update(bad, 0.0);
    EXPECT_THAT(stats.status(), StatusIs(absl::StatusCode::kInternal)) << i;
    EXPECT_THAT(Msg(stats.status()),
                StartsWith("PPO update: non-finite value loss at epoch 0 minibatch "));
    if (!absl::EndsWith(stats.status().message(), "minibatch 0")) ++failed_after_a_step;
    EXPECT_EQ(learner->Parameters(), before) << i;
    EXPECT_EQ(learner->update_count(), 1u);
  }
  EXPECT_GT(failed_after_a_step, 0);  // the rollback of taken steps was exercised

  absl::StatusOr<UpdateStats> sl = learner->Update(collected, 0.0);
  absl::StatusOr<UpdateStats> st = twin->Update(good, 0.0);
  ASSERT_TRUE(sl.ok() && st.ok());
  ExpectSameStats(*sl, *st);
  EXPECT_EQ(learner->Parameters(), twin->Parameters());
}

TEST(PpoLearnerTest, TruncatedOrGarbageCheckpointFailsCleanly) {
  const PpoParams p = SmallParams();
  auto source = MakeLearner(p);
  ASSERT_TRUE(source->Update(Collect(source.get(), 8, 0), 0.0).ok());
  const std::string path = TempPath("truncated");
  ASSERT_TRUE(source->Save(path).ok());
  const auto size = std::filesystem::file_size(path);

  auto target = MakeLearner(p);
  const std::vector<double> before = target->Parameters();
  for (const auto keep : {size / 2, size - 1, decltype(size){10}, decltype(size){0}}) {
    std::filesystem::resize_file(path, keep);
    const absl::Status status = target->Load(path);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss)) << keep << ": " << status;
    EXPECT_THAT(Msg(status), StartsWith(path + ": ")) << keep;
    EXPECT_EQ(target->Parameters(), before) << keep;
  }

  {
    std::ofstream garbage(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 5000; ++i) garbage.put(static_cast<char>((i * 7919) % 256));
  }
  const absl::Status status = target->Load(path);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss)) << status;
  EXPECT_THAT(Msg(status), StartsWith(path + ": "));
  EXPECT_EQ(target->Parameters(), before);
  std::remove(path.c_str());

  const absl::Status missing = target->Load(path);
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound)) << missing;
  EXPECT_THAT(Msg(missing), StartsWith(path + ": "));
}

TEST(PpoLearnerTest, LoadRejectsAnIncompatibleCheckpoint) {
  const std::string path = TempPath("incompatible");
  ASSERT_TRUE(MakeLearner(SmallParams())->Save(path).ok());

  PpoParams wider = SmallParams();
  wider.hidden_sizes = {8, 16};
  auto other_shape = MakeLearner(wider);
  const absl::Status shape = other_shape->Load(path);
  EXPECT_THAT(shape, StatusIs(absl::StatusCode::kInvalidArgument)) << shape;
  EXPECT_THAT(Msg(shape), HasSubstr("[2, 2, 8, 8], this learner's are [2, 2, 8, 16]"));

  PpoParams reseeded = SmallParams();
  reseeded.seed = 99;
  const absl::Status seed = MakeLearner(reseeded)->Load(path);
  EXPECT_THAT(seed, StatusIs(absl::StatusCode::kInvalidArgument)) << seed;
  EXPECT_THAT(Msg(seed), HasSubstr("seed 7"));
  std::remove(path.c_str());

  const absl::Status unwritable = MakeLearner(SmallParams())->Save("/nonexistent-dir/x.ckpt");
  EXPECT_THAT(unwritable, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Msg(unwritable), HasSubstr("/nonexistent-dir/x.ckpt"));
}

}  // namespace
}  // namespace smfg::leader
