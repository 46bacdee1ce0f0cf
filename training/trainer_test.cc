#include "training/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

struct Loop {
  explicit Loop(const std::string& dir, int days = 3)
      : scenario(env::MakeTestScenario(4, days)), evaluator(scenario, 1) {
    market = *env::MarketClearing::Create(scenario, evaluator.kernel().shapes(),
                                          evaluator.kernel().days());
    params.scenario = scenario;
    params.base = env::FlatTestTariff(scenario, 0.0);
    params.bounds.learn_fixed_charges = true;
    params.bounds.min_fixed_charge_per_day = -1.0;
    params.bounds.max_fixed_charge_per_day = 1.0;
    params.ppo.seed = 11;
    params.ppo.policy_learning_rate = 3e-3;
    params.ppo.minibatch_size = 3;
    params.ppo.epochs = 4;
    params.loop.max_iterations = 50;
    params.checkpoint_dir = dir;
    std::filesystem::remove_all(dir);
  }
  std::unique_ptr<StackelbergTrainer> Trainer() {
    return *StackelbergTrainer::Create(params, &evaluator, market.get(), evaluator.kernel().days());
  }
  env::Scenario scenario;
  env::LocalPopulationEvaluator evaluator;
  std::unique_ptr<env::MarketClearing> market;
  TrainerParams params;
};

std::string Dir(const char* name) { return ::testing::TempDir() + "/" + name; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Every number of two iteration records, the wall-time figures (seconds,
// bytes to and from workers) only with `with_wall_time`.
void ExpectSameRecord(const IterationRecord& a, const IterationRecord& b, bool with_wall_time) {
  SCOPED_TRACE(testing::Message() << "iteration " << a.iteration);
  EXPECT_EQ(a.iteration, b.iteration);
  EXPECT_EQ(a.evaluated.eei, b.evaluated.eei);
  EXPECT_EQ(a.evaluated.eei_spread, b.evaluated.eei_spread);
  EXPECT_EQ(a.evaluated.recovery_gap, b.evaluated.recovery_gap);
  EXPECT_EQ(a.evaluated.lmp_std, b.evaluated.lmp_std);
  EXPECT_EQ(a.evaluated.generation_cost_per_mwh, b.evaluated.generation_cost_per_mwh);
  EXPECT_EQ(a.evaluated.objective, b.evaluated.objective);
  EXPECT_EQ(a.rollout_mean_reward, b.rollout_mean_reward);
  EXPECT_EQ(a.rollout_inner_iterations, b.rollout_inner_iterations);
  EXPECT_EQ(a.eval_inner_iterations, b.eval_inner_iterations);
  EXPECT_EQ(a.inner_residual, b.inner_residual);
  EXPECT_EQ(a.belief_change, b.belief_change);
  EXPECT_EQ(a.mean_rate_per_kwh, b.mean_rate_per_kwh);
  EXPECT_EQ(a.lmp_mean_by_bus, b.lmp_mean_by_bus);
  EXPECT_EQ(a.lmp_std_by_bus, b.lmp_std_by_bus);
  EXPECT_EQ(a.exploitability_regularised_max, b.exploitability_regularised_max);
  EXPECT_EQ(a.exploitability_plain_mean, b.exploitability_plain_mean);
  EXPECT_EQ(a.ppo.policy_loss, b.ppo.policy_loss);
  EXPECT_EQ(a.ppo.value_loss, b.ppo.value_loss);
  EXPECT_EQ(a.ppo.entropy, b.ppo.entropy);
  EXPECT_EQ(a.ppo.clip_fraction, b.ppo.clip_fraction);
  EXPECT_EQ(a.ppo.grad_norm, b.ppo.grad_norm);
  EXPECT_EQ(a.ppo.approx_kl, b.ppo.approx_kl);
  EXPECT_EQ(a.ppo.epochs_run, b.ppo.epochs_run);
  EXPECT_EQ(a.ppo.minibatches, b.ppo.minibatches);
  EXPECT_EQ(a.ppo.kl_early_stop, b.ppo.kl_early_stop);
  if (!with_wall_time) return;
  EXPECT_EQ(a.seconds_rollout, b.seconds_rollout);
  EXPECT_EQ(a.seconds_update, b.seconds_update);
  EXPECT_EQ(a.seconds_evaluation, b.seconds_evaluation);
  EXPECT_EQ(a.seconds_population, b.seconds_population);
  EXPECT_EQ(a.seconds_clearing, b.seconds_clearing);
  EXPECT_EQ(a.seconds_exploitability, b.seconds_exploitability);
  EXPECT_EQ(a.seconds_worker_compute, b.seconds_worker_compute);
  EXPECT_EQ(a.seconds_communication, b.seconds_communication);
  EXPECT_EQ(a.seconds_barrier_wait, b.seconds_barrier_wait);
  EXPECT_EQ(a.bytes_to_workers, b.bytes_to_workers);
  EXPECT_EQ(a.bytes_from_workers, b.bytes_from_workers);
}

TEST(StackelbergTrainerTest, ResumeIsBitIdenticalToAnUninterruptedRun) {
  Loop straight(Dir("straight")), interrupted(Dir("interrupted"));
  auto a = straight.Trainer();
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(a->Step().ok());

  std::vector<IterationRecord> before_death;
  {
    auto b = interrupted.Trainer();
    for (int k = 0; k < 2; ++k) ASSERT_TRUE(b->Step().ok());
    before_death = b->history();
  }  // the process "dies" here
  auto c = interrupted.Trainer();
  ASSERT_TRUE(c->Resume().ok());
  EXPECT_EQ(c->iteration(), 2);
  // The restored history is the recorded one, wall-time figures included.
  ASSERT_EQ(c->history().size(), before_death.size());
  for (size_t k = 0; k < before_death.size(); ++k) {
    ExpectSameRecord(c->history()[k], before_death[k], /*with_wall_time=*/true);
  }
  ASSERT_TRUE(c->Step().ok());

  // Continuing gives every number of the uninterrupted run.
  ASSERT_EQ(a->history().size(), c->history().size());
  for (size_t k = 0; k < a->history().size(); ++k) {
    ExpectSameRecord(a->history()[k], c->history()[k], /*with_wall_time=*/false);
  }
  EXPECT_EQ(a->PolicyTariff()->daily_import_rate_per_kwh,
            c->PolicyTariff()->daily_import_rate_per_kwh);
  EXPECT_EQ(a->PolicyTariff()->daily_fixed_charge_per_day,
            c->PolicyTariff()->daily_fixed_charge_per_day);
}

TEST(StackelbergTrainerTest, DivergenceStopsWithAClearErrorAndKeepsTheCheckpoint) {
  Loop s(Dir("diverge"));
  auto good = s.Trainer();
  ASSERT_TRUE(good->Step().ok());
  const std::string state = s.params.checkpoint_dir + "/loop.state";
  std::ifstream before_file(state);
  const std::string before((std::istreambuf_iterator<char>(before_file)), {});

  s.params.weights.equity = std::numeric_limits<double>::quiet_NaN();
  auto bad = s.Trainer();
  ASSERT_TRUE(bad->Resume().ok());
  const absl::StatusOr<IterationRecord> r = bad->Step();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("diverged"), std::string::npos) << r.status();
  std::ifstream after_file(state);
  const std::string after((std::istreambuf_iterator<char>(after_file)), {});
  EXPECT_EQ(before, after);
}

TEST(StackelbergTrainerTest, CorruptCheckpointIsDataLossNotACrash) {
  Loop s(Dir("corrupt"));
  ASSERT_TRUE(s.Trainer()->Step().ok());
  const std::string state = s.params.checkpoint_dir + "/loop.state";
  const std::string text = ReadAll(state);
  ASSERT_FALSE(text.empty());
  for (size_t cut : {size_t{0}, size_t{5}, text.size() / 2, text.size() - 3}) {
    std::ofstream(state, std::ios::trunc | std::ios::binary) << text.substr(0, cut);
    EXPECT_EQ(s.Trainer()->Resume().code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
  }
  std::string garbage = text;
  for (size_t i = 0; i < garbage.size(); i += 7) garbage[i] = static_cast<char>(0xff - garbage[i]);
  std::ofstream(state, std::ios::trunc | std::ios::binary) << garbage;
  EXPECT_EQ(s.Trainer()->Resume().code(), absl::StatusCode::kDataLoss);

  std::filesystem::remove_all(s.params.checkpoint_dir);
  std::filesystem::create_directories(s.params.checkpoint_dir);
  EXPECT_EQ(s.Trainer()->Resume().code(), absl::StatusCode::kNotFound);
}

// Converged: `patience` iterations in a row without improving on the best
// objective by objective_tolerance while the prices stay settled.
TEST(StackelbergTrainerTest, ConvergesAfterPatienceIterationsWithoutImprovement) {
  Loop s(Dir("patience"));
  s.params.checkpoint_dir.clear();
  s.params.loop.objective_tolerance = 1e9;           // nothing counts as an improvement
  s.params.loop.mean_field_tolerance_per_mwh = 1e9;  // prices always count as settled
  s.params.loop.patience = 2;
  auto t = s.Trainer();
  // Iteration 1 sets the best objective; 2 and 3 do not improve on it.
  for (int k = 1; k <= 3; ++k) {
    EXPECT_FALSE(t->converged()) << "before iteration " << k;
    ASSERT_TRUE(t->Step().ok());
  }
  EXPECT_TRUE(t->converged());
  EXPECT_TRUE(t->done());
  EXPECT_EQ(t->iteration(), 3);
}

TEST(StackelbergTrainerTest, NeverConvergesWhilePricesMoveAndStopsAtTheBudget) {
  Loop s(Dir("budget"));
  s.params.checkpoint_dir.clear();
  s.params.loop.objective_tolerance = 1e9;
  s.params.loop.mean_field_tolerance_per_mwh = 0.0;  // a belief change is never "settled"
  s.params.loop.patience = 1;
  s.params.loop.max_iterations = 3;
  auto t = s.Trainer();
  while (!t->done()) ASSERT_TRUE(t->Step().ok());
  EXPECT_FALSE(t->converged());
  EXPECT_EQ(t->iteration(), 3);
}

TEST(StackelbergTrainerTest, CheckpointsEveryNthIterationAndAtTheEnd) {
  Loop s(Dir("every"));
  s.params.loop.checkpoint_every = 2;
  s.params.loop.max_iterations = 3;
  auto t = s.Trainer();
  ASSERT_TRUE(t->Step().ok());
  EXPECT_EQ(s.Trainer()->Resume().code(), absl::StatusCode::kNotFound) << "none after 1";
  ASSERT_TRUE(t->Step().ok());
  auto at2 = s.Trainer();
  ASSERT_TRUE(at2->Resume().ok());
  EXPECT_EQ(at2->iteration(), 2);
  ASSERT_TRUE(t->Step().ok());  // 3 is not a multiple of 2, but the run is done
  ASSERT_TRUE(t->done());
  auto at3 = s.Trainer();
  ASSERT_TRUE(at3->Resume().ok());
  EXPECT_EQ(at3->iteration(), 3);

  Loop never(Dir("never"));
  never.params.loop.checkpoint_every = 0;
  never.params.loop.max_iterations = 2;
  auto n = never.Trainer();
  while (!n->done()) ASSERT_TRUE(n->Step().ok());
  EXPECT_EQ(never.Trainer()->Resume().code(), absl::StatusCode::kNotFound);
}

// Rates and fixed charges are posted in whole micro-dollars, within bounds.
TEST(StackelbergTrainerTest, PostedPricesAreWholeMicroDollarsWithinBounds) {
  Loop s(Dir("posted"));
  s.params.checkpoint_dir.clear();
  auto t = s.Trainer();
  ASSERT_TRUE(t->Step().ok());
  const absl::StatusOr<env::Tariff> tariff = t->PolicyTariff();
  ASSERT_TRUE(tariff.ok()) << tariff.status();
  const auto whole_micro = [](double x) { return std::round(x * 1e6) / 1e6 == x; };
  int fractional_rates = 0;
  ASSERT_EQ(tariff->daily_import_rate_per_kwh.size(), static_cast<size_t>(s.scenario.days));
  for (const auto& day : tariff->daily_import_rate_per_kwh) {
    for (double r : day) {
      EXPECT_TRUE(whole_micro(r)) << r;
      EXPECT_GE(r, s.params.bounds.min_rate_per_kwh);
      EXPECT_LE(r, s.params.bounds.max_rate_per_kwh);
      // Not trivially whole cents: the rounding is to the micro-dollar.
      if (std::round(r * 100) / 100 != r) ++fractional_rates;
    }
  }
  EXPECT_GT(fractional_rates, 0);
  ASSERT_EQ(tariff->daily_fixed_charge_per_day.size(), static_cast<size_t>(s.scenario.days));
  for (const auto& day : tariff->daily_fixed_charge_per_day) {
    ASSERT_EQ(day.size(), s.scenario.income_groups.size());
    for (double c : day) {
      EXPECT_TRUE(whole_micro(c)) << c;
      EXPECT_GE(c, s.params.bounds.min_fixed_charge_per_day);
      EXPECT_LE(c, s.params.bounds.max_fixed_charge_per_day);
    }
  }
}

// With fixed charges the leader can credit the lowest incomes and charge the
// highest; the evaluated objective must improve on the initial policy's.
TEST(StackelbergTrainerTest, LeaderImprovesItsObjective) {
  Loop s(Dir("learns"), 6);
  s.params.checkpoint_dir.clear();
  auto t = s.Trainer();
  double first = 0, best = -1e300;
  for (int k = 0; k < 25; ++k) {
    const absl::StatusOr<IterationRecord> r = t->Step();
    ASSERT_TRUE(r.ok()) << r.status();
    if (k == 0) first = r->evaluated.objective;
    best = std::max(best, r->evaluated.objective);
  }
  EXPECT_GT(best, first);
}

}  // namespace
}  // namespace smfg::training
