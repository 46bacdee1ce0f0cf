#include "coordinator/stackelberg.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gtest/gtest.h"

namespace smfg::coordinator {
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

TEST(StackelbergTrainerTest, ResumeIsBitIdenticalToAnUninterruptedRun) {
  Loop straight(Dir("straight")), interrupted(Dir("interrupted"));
  auto a = straight.Trainer();
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(a->Step().ok());

  {
    auto b = interrupted.Trainer();
    for (int k = 0; k < 2; ++k) ASSERT_TRUE(b->Step().ok());
  }  // the process "dies" here
  auto c = interrupted.Trainer();
  ASSERT_TRUE(c->Resume().ok());
  EXPECT_EQ(c->iteration(), 2);
  ASSERT_TRUE(c->Step().ok());

  ASSERT_EQ(a->history().size(), c->history().size());
  for (size_t k = 0; k < a->history().size(); ++k) {
    EXPECT_EQ(a->history()[k].evaluated.objective, c->history()[k].evaluated.objective) << k;
    EXPECT_EQ(a->history()[k].rollout_mean_reward, c->history()[k].rollout_mean_reward) << k;
    EXPECT_EQ(a->history()[k].evaluated.eei, c->history()[k].evaluated.eei) << k;
  }
  EXPECT_EQ(a->PolicyTariff()->daily_import_rate_per_kwh,
            c->PolicyTariff()->daily_import_rate_per_kwh);
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
  std::ifstream in(state);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  for (size_t cut : {size_t{5}, text.size() / 2, text.size() - 3}) {
    std::ofstream(state, std::ios::trunc) << text.substr(0, cut);
    const absl::Status st = s.Trainer()->Resume();
    EXPECT_FALSE(st.ok()) << cut;
  }
  std::filesystem::remove_all(s.params.checkpoint_dir);
  std::filesystem::create_directories(s.params.checkpoint_dir);
  EXPECT_EQ(s.Trainer()->Resume().code(), absl::StatusCode::kNotFound);
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
}  // namespace smfg::coordinator
