// Writes equilibrium reports to a directory: per report JSON and CSV tables,
// and SVG plots that compare all reports given (tariff, LMP by hour, EEI by
// income group, household net load, battery power and SoC by hour and class).
#ifndef SMFG_TRAINING_REPORT_FILES_H_
#define SMFG_TRAINING_REPORT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "environment/report.h"

namespace smfg::training {

// Creates `dir` if needed. Layout:
//   dir/summary.json, dir/summary.csv         one row per report
//   dir/<label>/report.json, <label>/*.csv   each report in full
//   dir/plots/*.svg
// Returns the list of files written (relative to dir) through `written`.
absl::Status WriteReports(const std::string& dir,
                          const std::vector<env::EquilibriumReport>& reports,
                          std::vector<std::string>* written);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_REPORT_FILES_H_
