// Result files of equilibrium reports: per report JSON and CSV tables, and SVG
// plots that compare all reports given (tariff, LMP by hour, EEI by income
// group, household net load, battery power and SoC by hour and class); and the
// one writer of result files to a directory.
#ifndef SMFG_TRAINING_REPORT_FILES_H_
#define SMFG_TRAINING_REPORT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "environment/report.h"

namespace smfg::training {

// A result file: its path relative to the output directory ("plots/lmp.svg")
// and its content.
struct OutputFile {
  std::string path;
  std::string bytes;
};

// The files of a set of reports. Layout:
//   summary.json, summary.csv          one row per report
//   <label>/report.json, <label>/*.csv each report in full
//   plots/*.svg                        comparing all reports
std::vector<OutputFile> ReportFiles(const std::vector<env::EquilibriumReport>& reports);

// Writes `files` under `dir` (created as needed), each with
// smfg::WriteFileAtomically. INVALID_ARGUMENT (before anything is written) for
// a path that fails smfg::ValidateRelativePath, so no file lands outside
// `dir`; UNAVAILABLE on I/O errors.
absl::Status WriteOutputFiles(const std::string& dir, const std::vector<OutputFile>& files);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_REPORT_FILES_H_
