// `smfg train`: the Stackelberg experiment end to end on this machine.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "common/files.h"
#include "common/status.h"
#include "environment/population_evaluator.h"
#include "training/checkpoint.h"
#include "training/iteration_record.h"
#include "training/report_files.h"
#include "training/trainer_params.h"
#include "training/training_run.h"

namespace smfg::client {
namespace {

namespace fs = std::filesystem;

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int s = static_cast<int>(seconds + 0.5);
  return s >= 60 ? absl::StrFormat("%dm%02ds", s / 60, s % 60) : absl::StrFormat("%ds", s);
}

}  // namespace

absl::Status TrainOptions::Validate() const {
  if (spec_path.empty()) return absl::InvalidArgumentError("train: a SPEC file is required");
  if (out_dir.empty()) return absl::InvalidArgumentError("--out: must not be empty");
  if (days < 0 || iterations < 0 || threads < 0) {
    return absl::InvalidArgumentError("--days, --iterations and --threads must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status RunTrain(const TrainOptions& o, std::ostream& out, std::ostream& progress) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(
      config::LoadedSpec loaded,
      training::LoadExperimentFile(o.spec_path, {.days = o.days, .max_iterations = o.iterations}));
  training::TrainingRunOptions run_options;
  run_options.checkpoint_dir = (fs::path(o.out_dir) / "checkpoints").string();
  if (!o.resume && training::HasCheckpoint(run_options.checkpoint_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        o.out_dir, " already holds a run; pass --resume to continue it or choose another --out"));
  }
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<training::TrainingRun> run,
                        training::TrainingRun::Create(
                            loaded.spec, loaded.scenario,
                            [threads = o.threads](const env::Scenario& sc)
                                -> absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> {
                              return std::make_unique<env::LocalPopulationEvaluator>(sc, threads);
                            },
                            run_options));
  if (o.resume) {
    const absl::Status s = run->Resume();
    if (!s.ok()) return Annotate(s, "--resume");
    progress << "resumed at outer iteration " << run->iteration() << "\n";
  }
  const env::Scenario& sc = run->scenario();
  const int max_iterations = run->params().loop.max_iterations;
  progress << absl::StrFormat("training '%s': %d households, %d days, up to %d outer iterations\n",
                              sc.name, training::SimulatedHouseholds(sc), sc.days, max_iterations);
  const auto start = std::chrono::steady_clock::now();
  const int first = run->iteration();
  while (!run->done()) {
    SMFG_ASSIGN_OR_RETURN(training::IterationRecord r, run->Step());
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double per_iteration = elapsed / (r.iteration() - first);
    progress << absl::StrFormat(
        "outer %3d/%d  J %.5f  EEI spread %.3f pp  cost gap %+.2f %%  residual %.1e  "
        "ETA %s\n",
        r.iteration(), max_iterations, r.evaluated().objective(), 100 * r.evaluated().eei_spread(),
        100 * r.evaluated().recovery_gap(), r.inner_residual_per_mwh(),
        FormatEta(per_iteration * (max_iterations - r.iteration())));
    progress.flush();
    SMFG_RETURN_IF_ERROR(training::WriteOutputFiles(
        o.out_dir, {{"metrics.csv", training::MetricsCsv(run->history())},
                    {"metrics.jsonl", training::MetricsJsonl(run->history())}}));
  }
  progress << run->market().CountersSummary() << "\n";
  progress << (run->converged() ? "converged" : "iteration budget reached") << " after "
           << run->iteration() << " outer iterations; evaluating against the baselines\n";

  // The learned tariff and the baselines, each at its follower equilibrium.
  SMFG_ASSIGN_OR_RETURN(training::RunComparison comparison, run->Finish(&progress));
  progress << run->market().CountersSummary() << "\n";
  SMFG_RETURN_IF_ERROR(training::WriteOutputFiles(o.out_dir, comparison.files));
  if (o.json) {
    out << comparison.comparison_json << "\n";
  } else {
    out << training::ComparisonText(comparison);
    out << "Wrote " << comparison.files.size() << " files to " << o.out_dir << "; plots in "
        << (fs::path(o.out_dir) / "plots").string() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
