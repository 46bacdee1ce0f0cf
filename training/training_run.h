// One Stackelberg training run, assembled in one place for both of its
// drivers: `smfg train` (a local evaluator, files in --out) and the
// coordinator's ExperimentManager (remote workers, results in the store).
//
//   TrainingRun::Create(spec, scenario, factory, options)
//     -> TrainerParamsFromSpec, the population evaluator from `factory`, market
//        clearing over the scenario's day conditions, the StackelbergTrainer
//   Resume()         continue from the checkpoint in options.checkpoint_dir
//   Step() ...       one outer iteration each, until done()
//   Finish()         learned vs flat vs best TOU, and every result file
//
// Plain C++: no gRPC, no store; how results and metrics are kept is the
// driver's business.
#ifndef SMFG_TRAINING_TRAINING_RUN_H_
#define SMFG_TRAINING_TRAINING_RUN_H_

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/scenario.h"
#include "smfg/v1/spec.pb.h"
#include "training/run_report.h"
#include "training/trainer.h"

namespace smfg::training {

struct TrainingRunOptions {
  // Where checkpoints go (created if needed); empty: no checkpoints.
  std::string checkpoint_dir;
  // TrainerParams::checkpoint_owner.
  std::string checkpoint_owner;
  // Threads clearing the market (MarketClearing::Create; >= 1). Results are
  // the same bits for any count.
  int market_threads = 1;
};

// Builds the run's population evaluator for its scenario (a
// LocalPopulationEvaluator, or a RemotePopulationEvaluator over workers).
using EvaluatorFactory = std::function<absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>>(
    const env::Scenario& scenario)>;

// The in-process evaluator of `scenario` with `threads` threads (0: all
// cores): an env::LocalPopulationEvaluator, or for learning followers
// (follower.learner PPO) a followers::LearningPopulationEvaluator.
// With `progress`, learning followers report their training there, a line
// every 10th PPO phase of the run (`followers: PPO phase 30 (30/100 of this
// solve): reward ... $/day, entropy ..., KL ..., clipped ...`).
absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> MakeLocalEvaluator(
    const env::Scenario& scenario, int threads, std::ostream* progress = nullptr);
// The factory of MakeLocalEvaluator's evaluators.
EvaluatorFactory LocalEvaluatorFactory(int threads, std::ostream* progress = nullptr);

class TrainingRun {
 public:
  // `spec` is a valid spec (training::LoadExperimentFile or, for a submitted
  // one, config::CheckSpecMessage with ValidateLeaderSide) and `scenario` its
  // converted scenario. Errors of TrainerParamsFromSpec, of `factory`, of
  // market clearing and of StackelbergTrainer::Create.
  static absl::StatusOr<std::unique_ptr<TrainingRun>> Create(const v1::ExperimentSpec& spec,
                                                             const env::Scenario& scenario,
                                                             const EvaluatorFactory& factory,
                                                             const TrainingRunOptions& options);

  // StackelbergTrainer::Resume.
  absl::Status Resume() { return trainer_->Resume(); }

  // The reference optimum (training/reference.h), computed once per run
  // before the leader learns, so that every iteration reports its optimality
  // gap: nothing to do when the spec disables it or a resumed checkpoint
  // holds it. Starts from the cost-recovering flat rate. `progress` may be
  // null; `should_stop` (may be empty) ends the search with CANCELLED.
  absl::Status PrepareReference(std::ostream* progress,
                                const std::function<bool()>& should_stop = nullptr);
  // StackelbergTrainer::Step.
  absl::StatusOr<IterationRecord> Step() { return trainer_->Step(); }
  bool done() const { return trainer_->done(); }
  bool converged() const { return trainer_->converged(); }
  int iteration() const { return trainer_->iteration(); }
  const std::vector<IterationRecord>& history() const { return trainer_->history(); }
  // The reference optimum once PrepareReference found it (or a checkpoint held it).
  const std::optional<v1::ReferenceSummary>& reference() const { return trainer_->reference(); }
  const TariffFamily& family() const { return trainer_->family(); }

  // EvaluateRun: the comparison with the baselines and every result file.
  absl::StatusOr<RunComparison> Finish(std::ostream* progress);

  const env::Scenario& scenario() const { return trainer_->params().scenario; }
  const TrainerParams& params() const { return trainer_->params(); }
  env::PopulationEvaluator& evaluator() { return *evaluator_; }
  env::MarketClearing& market() { return *market_; }

 private:
  TrainingRun(std::unique_ptr<env::PopulationEvaluator> evaluator,
              std::unique_ptr<env::MarketClearing> market,
              std::unique_ptr<StackelbergTrainer> trainer)
      : evaluator_(std::move(evaluator)),
        market_(std::move(market)),
        trainer_(std::move(trainer)) {}

  // Declared in construction order: the trainer uses the other two.
  std::unique_ptr<env::PopulationEvaluator> evaluator_;
  std::unique_ptr<env::MarketClearing> market_;
  std::unique_ptr<StackelbergTrainer> trainer_;
};

// Households the scenario simulates (sum of every class's households_per_bus).
int64_t SimulatedHouseholds(const env::Scenario& scenario);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TRAINING_RUN_H_
