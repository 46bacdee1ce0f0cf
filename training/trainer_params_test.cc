#include "training/trainer_params.h"

#include <string>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::ElementsAre;
using ::testing::StartsWith;

config::LoadedSpec Small() {
  absl::StatusOr<config::LoadedSpec> loaded =
      LoadExperimentFile(SMFG_SOURCE_DIR "/configs/three_bus_small.textproto");
  EXPECT_THAT(loaded.status(), IsOk());
  return *loaded;
}

// Every issue-10 field reaches TrainerParams.
TEST(TrainerParamsTest, FamilyLimitsLoopModeAndLearnerOptionsArrive) {
  config::LoadedSpec s = Small();
  v1::ExperimentSpec& spec = s.spec;
  v1::TariffStructure& t = *spec.mutable_tariff();
  t.set_family(v1::TariffStructure::BLOCKS);
  t.clear_block_start_hours();
  t.add_block_start_hours(0);
  t.add_block_start_hours(16);
  t.set_max_hourly_step_per_kwh(0.03);
  t.set_max_peak_to_offpeak_ratio(2.5);
  t.set_vary_by_day(true);
  spec.mutable_learner()->set_action_bounds(v1::LeaderLearner::TANH);
  spec.mutable_learner()->set_rollout_days_per_update(3 * s.scenario.days);
  spec.mutable_learner()->set_schedule_updates(17);
  spec.mutable_loop()->set_mode(v1::OuterLoop::SINGLE);
  spec.mutable_reference()->set_max_evaluations(33);
  absl::StatusOr<TrainerParams> p = TrainerParamsFromSpec(spec, s.scenario);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_EQ(p->tariff.kind, FamilyKind::kBlocks);
  EXPECT_THAT(p->tariff.block_start_hours, ElementsAre(0, 16));
  EXPECT_EQ(p->tariff.max_hourly_step_per_kwh, 0.03);
  EXPECT_EQ(p->tariff.max_peak_to_offpeak_ratio, 2.5);
  EXPECT_FALSE(p->ppo.state_independent_policy);
  EXPECT_EQ(p->action_bounds, ActionBounds::kTanh);
  EXPECT_EQ(p->rollouts_per_update, 3);
  EXPECT_EQ(p->ppo.schedule_updates, 17);
  EXPECT_EQ(p->loop.mode, LoopMode::kSingle);
  EXPECT_EQ(p->reference.max_evaluations, 33);
  EXPECT_TRUE(p->reference.enabled);
}

TEST(TrainerParamsTest, DefaultsAreAStaticClippedSmoothTariff) {
  config::LoadedSpec s = Small();
  v1::ExperimentSpec& spec = s.spec;
  spec.mutable_tariff()->clear_family();
  spec.mutable_learner()->clear_action_bounds();
  spec.mutable_loop()->clear_mode();
  absl::StatusOr<TrainerParams> p = TrainerParamsFromSpec(spec, s.scenario);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_EQ(p->tariff.kind, FamilyKind::kSmooth);
  EXPECT_TRUE(p->ppo.state_independent_policy);
  EXPECT_EQ(p->action_bounds, ActionBounds::kClip);
  EXPECT_EQ(p->loop.mode, LoopMode::kNested);
}

// --days keeps the number of rollouts per update (40 = 4 x 10 days -> 4 x 3).
TEST(TrainerParamsTest, DaysOverrideKeepsTheRolloutsPerUpdate) {
  absl::StatusOr<config::LoadedSpec> loaded =
      LoadExperimentFile(SMFG_SOURCE_DIR "/configs/three_bus_small.textproto", {.days = 3});
  ASSERT_THAT(loaded.status(), IsOk());
  EXPECT_EQ(loaded->spec.learner().rollout_days_per_update(), 12);
  absl::StatusOr<TrainerParams> p = TrainerParamsFromSpec(loaded->spec, loaded->scenario);
  ASSERT_THAT(p.status(), IsOk());
  EXPECT_EQ(p->rollouts_per_update, 4);
}

TEST(TrainerParamsTest, ErrorsNameTheSpecField) {
  struct Case {
    void (*edit)(v1::ExperimentSpec*, int days);
    const char* path;
  };
  const Case cases[] = {
      {[](v1::ExperimentSpec* s, int days) {
         s->mutable_learner()->set_rollout_days_per_update(days + 1);
       },
       "learner.rollout_days_per_update: "},
      {[](v1::ExperimentSpec* s, int days) {
         s->mutable_learner()->set_rollout_days_per_update(days * (kMaxRolloutsPerUpdate + 1));
       },
       "learner.rollout_days_per_update: "},
      {[](v1::ExperimentSpec* s, int) {
         s->mutable_learner()->set_action_bounds(static_cast<v1::LeaderLearner::ActionBounds>(9));
       },
       "learner.action_bounds: "},
      {[](v1::ExperimentSpec* s, int) {
         s->mutable_loop()->set_mode(static_cast<v1::OuterLoop::Mode>(9));
       },
       "loop.mode: "},
      {[](v1::ExperimentSpec* s, int) { s->mutable_tariff()->set_max_hourly_step_per_kwh(-1); },
       "tariff.max_hourly_step_per_kwh: "},
      {[](v1::ExperimentSpec* s, int) { s->mutable_reference()->set_max_evaluations(0); },
       "reference.max_evaluations: "},
  };
  for (const Case& c : cases) {
    config::LoadedSpec s = Small();
    c.edit(&s.spec, s.scenario.days);
    EXPECT_THAT(TrainerParamsFromSpec(s.spec, s.scenario).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(c.path)))
        << c.path;
  }
}

}  // namespace
}  // namespace smfg::training
