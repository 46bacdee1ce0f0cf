#include "training/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "training/iteration_record.h"
#include "training/training_run.h"

namespace smfg::training {
namespace {

using ::testing::HasSubstr;

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

struct Loop {
  explicit Loop(const std::string& dir, int days = 3)
      : scenario(env::MakeTestScenario(4, days)), evaluator(scenario, 1) {
    market = *env::MarketClearing::Create(scenario, evaluator.kernel().shapes(),
                                          evaluator.kernel().days());
    params.scenario = scenario;
    params.base = env::FlatTestTariff(scenario, 0.0);
    params.tariff.learn_fixed_charges = true;
    params.tariff.groups = static_cast<int>(scenario.income_groups.size());
    params.tariff.min_fixed_charge_per_day = -1.0;
    params.tariff.max_fixed_charge_per_day = 1.0;
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

// Every field of two iteration records; the wall-time figures (seconds, bytes
// to and from workers) only with `with_wall_time`.
void ExpectSameRecord(const IterationRecord& a, const IterationRecord& b, bool with_wall_time) {
  google::protobuf::util::MessageDifferencer differ;
  std::string differences;
  differ.ReportDifferencesToString(&differences);
  if (!with_wall_time) {
    differ.IgnoreField(IterationRecord::descriptor()->FindFieldByName("seconds"));
    differ.IgnoreField(IterationRecord::descriptor()->FindFieldByName("bytes"));
  }
  EXPECT_TRUE(differ.Compare(a, b)) << "iteration " << a.iteration() << ":\n" << differences;
}

// Learning followers: their parameters, Adam's state and episode counters are
// in the checkpoint, so a resumed run continues their training bit for bit; a
// checkpoint without them is refused.
TEST(StackelbergTrainerTest, ResumeWithLearningFollowersIsBitIdentical) {
  struct PpoLoop {
    explicit PpoLoop(const std::string& dir) : loop(dir, /*days=*/2) {
      loop.scenario.follower.learner = env::FollowerParams::Learner::kPpo;
      loop.scenario.follower.ppo.hidden_sizes = {8, 8};
      loop.scenario.follower.ppo.phases_per_solve = 2;
      loop.scenario.follower.ppo.phases_per_warm_solve = 1;
      loop.scenario.follower.ppo.epochs_per_phase = 2;
      loop.scenario.follower.ppo.episodes_per_household_day = 1;
      loop.scenario.follower.ppo.episode_days = 1;
      loop.params.scenario = loop.scenario;
    }
    std::unique_ptr<StackelbergTrainer> Trainer() {
      auto e = MakeLocalEvaluator(loop.scenario, 1);
      EXPECT_TRUE(e.ok()) << e.status();
      evaluator = std::move(*e);
      EXPECT_TRUE(evaluator->learned_followers());
      return *StackelbergTrainer::Create(loop.params, evaluator.get(), loop.market.get(),
                                         loop.evaluator.kernel().days());
    }
    Loop loop;
    std::unique_ptr<env::PopulationEvaluator> evaluator;
  };
  PpoLoop straight(Dir("ppo_straight")), interrupted(Dir("ppo_interrupted"));
  auto a = straight.Trainer();
  for (int k = 0; k < 3; ++k) ASSERT_THAT(a->Step(), IsOk());
  {
    auto b = interrupted.Trainer();
    for (int k = 0; k < 2; ++k) ASSERT_THAT(b->Step(), IsOk());
  }  // the process "dies" here
  auto c = interrupted.Trainer();
  ASSERT_THAT(c->Resume(), IsOk());
  ASSERT_THAT(c->Step(), IsOk());
  ASSERT_EQ(a->history().size(), c->history().size());
  for (size_t k = 0; k < a->history().size(); ++k) {
    ExpectSameRecord(a->history()[k], c->history()[k], /*with_wall_time=*/false);
  }
  const std::optional<env::LearnerState> sa = straight.evaluator->SaveLearnerState();
  const std::optional<env::LearnerState> sc = interrupted.evaluator->SaveLearnerState();
  ASSERT_TRUE(sa.has_value() && sc.has_value());
  EXPECT_GT(sa->policy_version, 0u);
  EXPECT_EQ(sa->policy_version, sc->policy_version);
  EXPECT_EQ(sa->parameters, sc->parameters);
  EXPECT_EQ(sa->adam_v, sc->adam_v);
  EXPECT_EQ(sa->phases, sc->phases);
  EXPECT_EQ(sa->solves, sc->solves);

  // The same checkpoint without the followers' state: refused, nothing
  // resumed.
  Loop exact(Dir("ppo_exact_checkpoint"), /*days=*/2);
  {
    auto e = exact.Trainer();
    ASSERT_THAT(e->Step(), IsOk());
  }
  PpoLoop reader(Dir("ppo_reader"));
  reader.loop.params.checkpoint_dir = exact.params.checkpoint_dir;
  EXPECT_THAT(reader.Trainer()->Resume(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("learning followers")));
  // A state that does not fit the network is refused by the evaluator.
  env::LearnerState bad = *sa;
  bad.parameters.pop_back();
  EXPECT_THAT(straight.evaluator->RestoreLearnerState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameters")));
  EXPECT_EQ(straight.evaluator->SaveLearnerState()->parameters, sa->parameters);
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
  const std::string state = s.params.checkpoint_dir + "/checkpoint.pb";
  std::ifstream before_file(state);
  const std::string before((std::istreambuf_iterator<char>(before_file)), {});

  // J = -w_vol * LMP std - ... overflows to -inf.
  s.params.weights.volatility = std::numeric_limits<double>::max();
  auto bad = s.Trainer();
  ASSERT_TRUE(bad->Resume().ok());
  const absl::StatusOr<IterationRecord> r = bad->Step();
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInternal, HasSubstr("diverged")));
  std::ifstream after_file(state);
  const std::string after((std::istreambuf_iterator<char>(after_file)), {});
  EXPECT_EQ(before, after);
}

TEST(StackelbergTrainerTest, CorruptCheckpointIsDataLossNotACrash) {
  Loop s(Dir("corrupt"));
  ASSERT_TRUE(s.Trainer()->Step().ok());
  const std::string state = s.params.checkpoint_dir + "/checkpoint.pb";
  const std::string text = ReadAll(state);
  ASSERT_FALSE(text.empty());
  for (size_t cut : {size_t{0}, size_t{5}, text.size() / 2, text.size() - 3}) {
    std::ofstream(state, std::ios::trunc | std::ios::binary) << text.substr(0, cut);
    EXPECT_THAT(s.Trainer()->Resume(), StatusIs(absl::StatusCode::kDataLoss)) << "cut at " << cut;
  }
  std::string garbage = text;
  for (size_t i = 0; i < garbage.size(); i += 7) garbage[i] = static_cast<char>(0xff - garbage[i]);
  std::ofstream(state, std::ios::trunc | std::ios::binary) << garbage;
  EXPECT_THAT(s.Trainer()->Resume(), StatusIs(absl::StatusCode::kDataLoss));

  std::filesystem::remove_all(s.params.checkpoint_dir);
  std::filesystem::create_directories(s.params.checkpoint_dir);
  EXPECT_THAT(s.Trainer()->Resume(), StatusIs(absl::StatusCode::kNotFound));
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
  EXPECT_THAT(s.Trainer()->Resume(), StatusIs(absl::StatusCode::kNotFound)) << "none after 1";
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
  EXPECT_THAT(never.Trainer()->Resume(), StatusIs(absl::StatusCode::kNotFound));
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
      EXPECT_GE(r, s.params.tariff.min_rate_per_kwh);
      EXPECT_LE(r, s.params.tariff.max_rate_per_kwh);
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
      EXPECT_GE(c, s.params.tariff.min_fixed_charge_per_day);
      EXPECT_LE(c, s.params.tariff.max_fixed_charge_per_day);
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
    if (k == 0) first = r->evaluated().objective();
    best = std::max(best, r->evaluated().objective());
  }
  EXPECT_GT(best, first);
}

// SINGLE mode: every follower answer is one mean-field step (one population
// evaluation), and the leader still learns while the prices converge with it.
TEST(StackelbergTrainerTest, SingleLoopTakesOneMeanFieldStepPerAnswerAndLearns) {
  Loop s(Dir("single"), 6);
  s.params.checkpoint_dir.clear();
  s.params.loop.mode = LoopMode::kSingle;
  auto t = s.Trainer();
  double first = 0, best = -1e300, last_change = 0;
  for (int k = 0; k < 25; ++k) {
    const absl::StatusOr<IterationRecord> r = t->Step();
    ASSERT_THAT(r.status(), IsOk());
    EXPECT_EQ(r->inner_iterations().rollout(), 1);
    EXPECT_EQ(r->inner_iterations().evaluation(), 1);
    // Single steps are not equilibria: none is counted.
    EXPECT_EQ(r->equilibria().converged(), 0);
    EXPECT_EQ(NotConverged(r->equilibria()), 0);
    if (k == 0) first = r->evaluated().objective();
    best = std::max(best, r->evaluated().objective());
    last_change = r->belief_change_per_mwh();
  }
  EXPECT_GT(best, first);
  // The prices settle alongside the policy.
  EXPECT_LT(last_change, 1.0);
}

// K rollouts per update: each is the whole day pool under its own samples.
TEST(StackelbergTrainerTest, SeveralRolloutsPerUpdateSolveOneEquilibriumEach) {
  Loop s(Dir("rollouts"), 3);
  s.params.checkpoint_dir.clear();
  s.params.rollouts_per_update = 3;
  auto t = s.Trainer();
  const absl::StatusOr<IterationRecord> r = t->Step();
  ASSERT_THAT(r.status(), IsOk());
  Loop one(Dir("rollouts1"), 3);
  one.params.checkpoint_dir.clear();
  const absl::StatusOr<IterationRecord> r1 = one.Trainer()->Step();
  ASSERT_THAT(r1.status(), IsOk());
  // Three equilibria (the later ones warm-started) cost more inner
  // iterations than one, and at least one each.
  EXPECT_GT(r->inner_iterations().rollout(), r1->inner_iterations().rollout());
  EXPECT_GE(r->inner_iterations().rollout(), 3);
  // One equilibrium per rollout and one for the evaluation, all converged.
  EXPECT_EQ(r->equilibria().converged(), 4);
  EXPECT_EQ(NotConverged(r->equilibria()), 0);
  EXPECT_EQ(r1->equilibria().converged(), 2);
  s.params.rollouts_per_update = kMaxRolloutsPerUpdate + 1;
  EXPECT_THAT(s.params.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("learner.rollout_days_per_update")));
}

// An equilibrium that runs out of inner iterations is counted as such in the
// record, which the coordinator's metric and log and smfg train's progress
// line read.
TEST(StackelbergTrainerTest, RecordCountsEquilibriaThatDidNotConverge) {
  Loop s(Dir("unconverged"), 3);
  s.params.checkpoint_dir.clear();
  s.params.scenario.inner.max_iterations = 1;  // a cold start needs more
  auto t = s.Trainer();
  const absl::StatusOr<IterationRecord> r = t->Step();
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_EQ(r->equilibria().out_of_iterations(), 2);
  EXPECT_EQ(r->equilibria().converged(), 0);
  EXPECT_EQ(r->equilibria().stalled(), 0);
  EXPECT_EQ(NotConverged(r->equilibria()), 2);
  env::InnerResult stalled;
  stalled.stalled = true;
  v1::EquilibriumEnds ends;
  CountEquilibriumEnd(stalled, &ends);
  EXPECT_EQ(ends.stalled(), 1);
  EXPECT_EQ(DescribeNotConverged(r->equilibria()),
            "2 of 2 follower equilibria did not converge (0 stalled, 2 out of iterations)");
  EXPECT_EQ(DescribeNotConverged(v1::EquilibriumEnds()), "");
  EXPECT_EQ(NotConverged(ends), 1);
}

// A static tariff (a state-independent policy) posts the same rates and
// fixed charges every day; a day-conditioned one does not.
TEST(StackelbergTrainerTest, StaticPolicyPostsTheSameTariffEveryDay) {
  for (bool state_independent : {true, false}) {
    Loop s(Dir("static"), 4);
    s.params.checkpoint_dir.clear();
    s.params.ppo.state_independent_policy = state_independent;
    auto t = s.Trainer();
    ASSERT_THAT(t->Step().status(), IsOk());
    const absl::StatusOr<env::Tariff> tariff = t->PolicyTariff();
    ASSERT_THAT(tariff.status(), IsOk());
    ASSERT_EQ(tariff->daily_import_rate_per_kwh.size(), 4u);
    bool all_same = true;
    for (int d = 1; d < 4; ++d) {
      all_same = all_same &&
                 tariff->daily_import_rate_per_kwh[d] == tariff->daily_import_rate_per_kwh[0] &&
                 tariff->daily_fixed_charge_per_day[d] == tariff->daily_fixed_charge_per_day[0];
    }
    EXPECT_EQ(all_same, state_independent);
  }
}

// With CLIP a policy mean beyond the range posts exactly the bound; TANH only
// approaches it.
TEST(StackelbergTrainerTest, ClippedActionsReachTheBoundsExactly) {
  for (ActionBounds bounds : {ActionBounds::kClip, ActionBounds::kTanh}) {
    Loop s(Dir("clip"), 3);
    s.params.checkpoint_dir.clear();
    s.params.action_bounds = bounds;
    s.params.tariff.kind = FamilyKind::kBlocks;
    s.params.tariff.block_start_hours = {0};
    // One rate plus the groups' fixed charges; every raw action 1.5.
    ASSERT_THAT(s.params.Validate(), IsOk());
    auto t = s.Trainer();
    const int n = t->family().size();
    const env::Tariff tariff =
        t->TariffFromActions(std::vector<std::vector<double>>(3, std::vector<double>(n, 1.5)));
    const double max_rate = s.params.tariff.max_rate_per_kwh;
    if (bounds == ActionBounds::kClip) {
      EXPECT_EQ(tariff.daily_import_rate_per_kwh[0][0], max_rate);
      EXPECT_EQ(tariff.daily_fixed_charge_per_day[0][0], 1.0);
    } else {
      EXPECT_LT(tariff.daily_import_rate_per_kwh[0][0], max_rate);
      EXPECT_LT(tariff.daily_fixed_charge_per_day[0][0], 1.0);
    }
  }
}

// A local evaluator whose counters advance by fixed, exactly representable
// amounts per call, as a distributed one's would.
class CountingEvaluator final : public env::PopulationEvaluator {
 public:
  explicit CountingEvaluator(const env::Scenario& scenario) : local_(scenario, 1) {}
  absl::StatusOr<env::PopulationStats> Evaluate(const env::Tariff& tariff,
                                                const env::PriceBelief& belief) override {
    Count();
    return local_.Evaluate(tariff, belief);
  }
  absl::StatusOr<env::ExploitabilityStats> Exploitability(
      const env::Tariff& tariff, const env::PriceBelief& belief,
      const env::PriceBelief& realised) override {
    Count();
    return local_.Exploitability(tariff, belief, realised);
  }
  env::EvaluatorCounters Counters() const override { return counters_; }
  const env::ShardKernel& kernel() const { return local_.kernel(); }

 private:
  void Count() {
    counters_.compute_seconds += 0.5;
    counters_.communication_seconds += 0.25;
    counters_.barrier_seconds += 0.125;
    counters_.bytes_sent += 100;
    counters_.bytes_received += 1000;
    counters_.jobs++;
  }
  env::LocalPopulationEvaluator local_;
  env::EvaluatorCounters counters_;
};

// The iteration record (metrics.jsonl, Watch, the API's history) carries the evaluator's counters
// accrued in the iteration; they survive a checkpoint and change no decision of the loop.
TEST(IterationMetricsTest, RowCarriesTheIterationsDistributedFigures) {
  const env::Scenario scenario = env::MakeTestScenario(4, 3);
  CountingEvaluator counting(scenario);
  env::LocalPopulationEvaluator plain(scenario, 1);
  auto market_a =
      env::MarketClearing::Create(scenario, counting.kernel().shapes(), counting.kernel().days());
  auto market_b =
      env::MarketClearing::Create(scenario, counting.kernel().shapes(), counting.kernel().days());
  ASSERT_TRUE(market_a.ok() && market_b.ok());
  TrainerParams params;
  params.scenario = scenario;
  params.base = env::FlatTestTariff(scenario, 0.0);
  params.ppo.seed = 5;
  params.ppo.minibatch_size = 3;
  params.checkpoint_dir = ::testing::TempDir() + "/smfg_iteration_metrics";
  std::filesystem::remove_all(params.checkpoint_dir);
  auto counted =
      StackelbergTrainer::Create(params, &counting, market_a->get(), counting.kernel().days());
  params.checkpoint_dir.clear();
  auto reference =
      StackelbergTrainer::Create(params, &plain, market_b->get(), counting.kernel().days());
  ASSERT_TRUE(counted.ok() && reference.ok());

  std::vector<IterationRecord> records;
  for (int k = 0; k < 2; ++k) {
    const int64_t calls_before = counting.Counters().jobs;
    absl::StatusOr<IterationRecord> r = (*counted)->Step();
    absl::StatusOr<IterationRecord> same = (*reference)->Step();
    ASSERT_TRUE(r.ok() && same.ok());
    const int64_t calls = counting.Counters().jobs - calls_before;
    ASSERT_GT(calls, 2);  // two equilibria and the exploitability check
    EXPECT_EQ(r->seconds().worker_compute(), 0.5 * calls);
    EXPECT_EQ(r->seconds().communication(), 0.25 * calls);
    EXPECT_EQ(r->seconds().barrier_wait(), 0.125 * calls);
    EXPECT_EQ(r->bytes().to_workers(), 100 * calls);
    EXPECT_EQ(r->bytes().from_workers(), 1000 * calls);
    // Observability only: the loop decides exactly as without the counters.
    ExpectSameRecord(*r, *same, /*with_wall_time=*/false);
    records.push_back(*r);
  }

  // The checkpoint keeps them.
  params.checkpoint_dir = ::testing::TempDir() + "/smfg_iteration_metrics";
  auto resumed =
      StackelbergTrainer::Create(params, &counting, market_a->get(), counting.kernel().days());
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->Resume().ok());
  ASSERT_EQ((*resumed)->history().size(), records.size());
  for (size_t k = 0; k < records.size(); ++k) {
    ExpectSameRecord((*resumed)->history()[k], records[k], /*with_wall_time=*/true);
  }

  std::filesystem::remove_all(params.checkpoint_dir);
}

}  // namespace
}  // namespace smfg::training
