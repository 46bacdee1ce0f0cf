// Issue 10's promise on the README's experiment (configs/three_bus_small.textproto,
// its shipped settings, the default SMOOTH family): the learned tariff is
// smooth (mean hour-to-hour step <= 0.01 $/kWh), within 2 % of |J_ref| of the
// reference optimum, and better than the flat and the best TOU tariffs.
#include <memory>

#include "common/status_matchers.h"
#include "environment/population_evaluator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "training/trainer_params.h"
#include "training/training_run.h"

namespace smfg::training {
namespace {

using ::smfg::testing_util::IsOk;

TEST(DefaultExperimentTest, LearnedTariffIsSmoothNearTheReferenceAndBeatsTheBaselines) {
  absl::StatusOr<config::LoadedSpec> loaded =
      LoadExperimentFile(SMFG_SOURCE_DIR "/configs/three_bus_small.textproto");
  ASSERT_THAT(loaded.status(), IsOk());
  absl::StatusOr<std::unique_ptr<TrainingRun>> run = TrainingRun::Create(
      loaded->spec, loaded->scenario, LocalEvaluatorFactory(2), TrainingRunOptions{});
  ASSERT_THAT(run.status(), IsOk());
  ASSERT_THAT((*run)->PrepareReference(/*progress=*/nullptr), IsOk());
  while (!(*run)->done()) ASSERT_THAT((*run)->Step().status(), IsOk());
  absl::StatusOr<RunComparison> c = (*run)->Finish(/*progress=*/nullptr);
  ASSERT_THAT(c.status(), IsOk());

  EXPECT_LE(c->learned_step, 0.01);
  ASSERT_TRUE(c->optimality_gap.has_value());
  EXPECT_LE(*c->optimality_gap, 0.02)
      << "learned J " << c->learned.objective << ", reference J " << c->reference->objective;
  EXPECT_GT(c->learned.objective, c->flat.objective);
  EXPECT_GT(c->learned.objective, c->tou.objective);
  // Every iteration tracks the gap against the same reference.
  ASSERT_FALSE((*run)->history().empty());
  for (const IterationRecord& r : (*run)->history()) EXPECT_TRUE(r.has_optimality_gap());
}

}  // namespace
}  // namespace smfg::training
