// The end of a training run, shared by `smfg train` and the coordinator (both
// through TrainingRun): the learned tariff against the flat and best-TOU
// baselines, each at its follower equilibrium, and the run's result files.
#ifndef SMFG_TRAINING_RUN_REPORT_H_
#define SMFG_TRAINING_RUN_REPORT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "training/report_files.h"
#include "training/trainer.h"

namespace smfg::training {

struct RunComparison {
  env::ObjectiveTerms learned, flat, tou;
  env::EquilibriumReport learned_report;
  std::string comparison_json;  // as in comparison.json (no newline)
  // Every result file of the run (report_files.h layout plus the files below).
  std::vector<OutputFile> files;
};

// The end of a training run: evaluates trainer.PolicyTariff() ("learned"), the
// cost-recovering flat tariff ("flat") and the best 3-block TOU tariff of a
// fixed grid ("tou") with `evaluator` and `market` (the trainer's), each at its
// follower equilibrium, and renders the result files: ReportFiles of the three,
// plots/convergence.svg, learned_tariff.{json,csv}, comparison.json,
// comparison.txt (ComparisonText) and metrics.{jsonl,csv} of the trainer's
// history. `progress` may be null.
absl::StatusOr<RunComparison> EvaluateRun(StackelbergTrainer& trainer,
                                          env::PopulationEvaluator& evaluator,
                                          env::MarketClearing& market, std::ostream* progress);

// The comparison as people read it: a table of objective J, EEI spread, cost
// gap and LMP std for the learned, flat and best-TOU tariffs, then the learned
// tariff's equilibrium report (env::FormatReportText). What `smfg train`
// prints and `smfg results` shows.
std::string ComparisonText(const RunComparison& run);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_RUN_REPORT_H_
