// Writes equilibrium reports to a directory: per report JSON and CSV tables,
// and SVG plots that compare all reports given (tariff, LMP by hour, EEI by
// income group, household net load, battery power and SoC by hour and class).
#ifndef SMFG_COORDINATOR_REPORT_FILES_H_
#define SMFG_COORDINATOR_REPORT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "environment/report.h"

namespace smfg::coordinator {

// Creates `dir` if needed. Layout:
//   dir/summary.json, dir/summary.csv         one row per report
//   dir/<label>/report.json, <label>/*.csv   each report in full
//   dir/plots/*.svg
// Returns the list of files written (relative to dir) through `written`.
absl::Status WriteReports(const std::string& dir,
                          const std::vector<env::EquilibriumReport>& reports,
                          std::vector<std::string>* written);

// Writes `content` to `path` atomically (temporary file + rename), so a crash
// never leaves a half-written result in place of a good one.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_REPORT_FILES_H_
