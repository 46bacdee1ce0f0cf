// The end of a training run, shared by `smfg train` and the coordinator's
// ExperimentManager: evaluate the learned tariff against the flat and best-TOU
// baselines, each at its follower equilibrium, and write the result files.
#ifndef SMFG_TRAINING_RUN_REPORT_H_
#define SMFG_TRAINING_RUN_REPORT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "training/trainer.h"

namespace smfg::training {

// metrics.csv: one row per outer iteration.
std::string MetricsCsv(const std::vector<IterationRecord>& history, const env::Scenario& scenario);
// metrics.jsonl: training::IterationJson per outer iteration, one a line.
std::string MetricsJsonl(const std::vector<IterationRecord>& history,
                         const env::Scenario& scenario);

struct RunComparison {
  env::ObjectiveTerms learned, flat, tou;
  env::EquilibriumReport learned_report;
  std::string comparison_json;       // as written to comparison.json (no newline)
  std::vector<std::string> written;  // files written, relative to out_dir
};

// Evaluates trainer.PolicyTariff() ("learned"), the cost-recovering flat
// tariff ("flat") and the best 3-block TOU tariff of a fixed grid ("tou")
// with `evaluator` and `market` (the trainer's), and writes under `out_dir`
// (created if needed): the files of WriteReports, plots/convergence.svg,
// learned_tariff.{json,csv}, comparison.json and comparison.txt
// (ComparisonText). `progress` may be null.
absl::StatusOr<RunComparison> EvaluateAndWriteResults(StackelbergTrainer& trainer,
                                                      env::PopulationEvaluator& evaluator,
                                                      env::MarketClearing& market,
                                                      const std::string& out_dir,
                                                      std::ostream* progress);

// The comparison as people read it: a table of objective J, EEI spread, cost
// gap and LMP std for the learned, flat and best-TOU tariffs, then the learned
// tariff's equilibrium report (env::FormatReportText). What `smfg train`
// prints and `smfg results` shows.
std::string ComparisonText(const RunComparison& run);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_RUN_REPORT_H_
