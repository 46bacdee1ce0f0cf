#include "training/training_run.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "environment/baselines.h"
#include "environment/population.h"
#include "followers/learning_evaluator.h"
#include "training/iteration_record.h"
#include "training/reference.h"
#include "training/trainer_params.h"

namespace smfg::training {

absl::StatusOr<std::unique_ptr<TrainingRun>> TrainingRun::Create(
    const v1::ExperimentSpec& spec, const env::Scenario& scenario, const EvaluatorFactory& factory,
    const TrainingRunOptions& options) {
  SMFG_ASSIGN_OR_RETURN(TrainerParams params, TrainerParamsFromSpec(spec, scenario));
  params.checkpoint_dir = options.checkpoint_dir;
  params.checkpoint_owner = options.checkpoint_owner;
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<env::PopulationEvaluator> evaluator, factory(scenario));
  // The market needs the day conditions and shapes only; the households live
  // in the evaluator (here or on the workers).
  const std::vector<env::DayConditions> days = env::MakeAllDayConditions(scenario);
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<env::MarketClearing> market,
                        env::MarketClearing::Create(scenario, env::MakeShapes(scenario.profiles),
                                                    days, options.market_threads));
  SMFG_ASSIGN_OR_RETURN(
      std::unique_ptr<StackelbergTrainer> trainer,
      StackelbergTrainer::Create(std::move(params), evaluator.get(), market.get(), days));
  return std::unique_ptr<TrainingRun>(
      new TrainingRun(std::move(evaluator), std::move(market), std::move(trainer)));
}

absl::Status TrainingRun::PrepareReference(std::ostream* progress,
                                           const std::function<bool()>& should_stop) {
  const TrainerParams& params = trainer_->params();
  if (!params.reference.enabled || trainer_->reference().has_value()) return absl::OkStatus();
  if (progress != nullptr) {
    *progress << "reference optimum: the cost-recovering flat rate as the start, then up to "
              << params.reference.max_evaluations << " evaluations\n";
  }
  env::EvaluateOptions quiet;
  quiet.measure_exploitability = false;
  SMFG_ASSIGN_OR_RETURN(env::Evaluation flat,
                        env::EvaluateCostRecovering(*evaluator_, *market_, params.scenario,
                                                    params.base, env::FlatShape(), "flat", quiet));
  const std::vector<double> start = trainer_->family().Flat(flat.tariff.Rates(0, 0)[0], 0.0);
  SMFG_ASSIGN_OR_RETURN(v1::ReferenceSummary reference,
                        OptimizeReference(params, trainer_->family(), *evaluator_, *market_, start,
                                          progress, should_stop));
  if (progress != nullptr) {
    const std::string not_converged = DescribeNotConverged(reference.equilibria());
    *progress << absl::StrFormat(
        "reference optimum: J %.6f after %d evaluations (%s, %s) in %.1f s%s\n",
        reference.terms().objective(), reference.evaluations(), reference.algorithm(),
        reference.stop_reason(), reference.seconds(),
        not_converged.empty() ? "" : absl::StrCat("; ", not_converged));
  }
  trainer_->SetReference(reference);
  return absl::OkStatus();
}

absl::StatusOr<RunComparison> TrainingRun::Finish(std::ostream* progress) {
  return EvaluateRun(*trainer_, *evaluator_, *market_, progress);
}

absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> MakeLocalEvaluator(
    const env::Scenario& scenario, int threads, std::ostream* progress) {
  if (scenario.follower.learner == env::FollowerParams::Learner::kPpo) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<followers::LearningPopulationEvaluator> learning,
                          followers::LearningPopulationEvaluator::Create(scenario, threads));
    if (progress != nullptr) {
      learning->set_phase_progress(
          [progress](const followers::FollowerTrainingStats& t, int phase, int phases) {
            if (t.phases % 10 != 0) return;
            *progress << absl::StrFormat(
                "followers: PPO phase %lld (%d/%d of this solve): reward %.4f $/day, entropy %.3f, "
                "KL %.4f, clipped %.3f\n",
                static_cast<long long>(t.phases), phase, phases, t.mean_daily_reward_usd,
                t.mean_entropy, t.approx_kl, t.clip_fraction);
            progress->flush();
          });
    }
    return std::unique_ptr<env::PopulationEvaluator>(std::move(learning));
  }
  return std::make_unique<env::LocalPopulationEvaluator>(scenario, threads);
}

EvaluatorFactory LocalEvaluatorFactory(int threads, std::ostream* progress) {
  return [threads, progress](
             const env::Scenario& sc) -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
    return MakeLocalEvaluator(sc, threads, progress);
  };
}

int64_t SimulatedHouseholds(const env::Scenario& scenario) {
  int64_t n = 0;
  for (const env::HouseholdClass& c : scenario.classes) {
    for (int count : c.households_per_bus) n += count;
  }
  return n;
}

}  // namespace smfg::training
