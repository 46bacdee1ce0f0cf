// The end of a training run, shared by `smfg train` and the coordinator (both
// through TrainingRun): the learned tariff against the flat and best-TOU
// baselines, each at its follower equilibrium, and the run's result files.
#ifndef SMFG_TRAINING_RUN_REPORT_H_
#define SMFG_TRAINING_RUN_REPORT_H_

#include <optional>
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
  // The reference optimum's tariff at its equilibrium (when the run has one).
  std::optional<env::ObjectiveTerms> reference;
  std::optional<v1::ReferenceSummary> reference_summary;
  // (J_ref - J_learned) / |J_ref|, when there is a reference.
  std::optional<double> optimality_gap;
  // Mean |rate(h+1) - rate(h)| of each tariff, $/kWh (MeanHourlyStep).
  double learned_step = 0, flat_step = 0, tou_step = 0, reference_step = 0;
  env::EquilibriumReport learned_report;
  std::string comparison_json;  // as in comparison.json (no newline)
  // Every result file of the run (report_files.h layout plus the files below).
  std::vector<OutputFile> files;
};

// The end of a training run: evaluates trainer.PolicyTariff() ("learned"), the
// cost-recovering flat tariff ("flat"), the best 3-block TOU tariff of a fixed
// grid ("tou") and, when the trainer has one, the reference optimum's tariff
// ("reference") with `evaluator` and `market` (the trainer's), each at its
// follower equilibrium, and renders the result files: ReportFiles of them all,
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
