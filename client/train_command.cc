// `smfg train`: the Stackelberg experiment end to end on this machine.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "common/status.h"
#include "coordinator/report_files.h"
#include "coordinator/run_report.h"
#include "coordinator/stackelberg.h"
#include "coordinator/trainer_params.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "spec/spec_loader.h"

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
  SMFG_ASSIGN_OR_RETURN(spec::LoadedSpec loaded, spec::LoadExperimentFile(o.spec_path));
  env::Scenario sc = loaded.scenario;
  if (o.days > 0) sc.days = o.days;
  SMFG_ASSIGN_OR_RETURN(coordinator::TrainerParams params,
                        coordinator::TrainerParamsFromSpec(loaded, sc));
  if (o.iterations > 0) params.loop.max_iterations = o.iterations;
  params.checkpoint_dir = (fs::path(o.out_dir) / "checkpoints").string();
  if (!o.resume && fs::exists(fs::path(params.checkpoint_dir) / "loop.state")) {
    return absl::FailedPreconditionError(absl::StrCat(
        o.out_dir, " already holds a run; pass --resume to continue it or choose another --out"));
  }

  env::LocalPopulationEvaluator evaluator(sc, o.threads);
  SMFG_ASSIGN_OR_RETURN(auto market, env::MarketClearing::Create(sc, evaluator.kernel().shapes(),
                                                                 evaluator.kernel().days()));
  SMFG_ASSIGN_OR_RETURN(auto trainer,
                        coordinator::StackelbergTrainer::Create(params, &evaluator, market.get(),
                                                                evaluator.kernel().days()));
  if (o.resume) {
    const absl::Status s = trainer->Resume();
    if (!s.ok()) return Annotate(s, "--resume");
    progress << "resumed at outer iteration " << trainer->iteration() << "\n";
  }
  progress << absl::StrFormat("training '%s': %d households, %d days, up to %d outer iterations\n",
                              sc.name, evaluator.kernel().population().size(), sc.days,
                              params.loop.max_iterations);
  const auto start = std::chrono::steady_clock::now();
  const int first = trainer->iteration();
  while (!trainer->done()) {
    SMFG_ASSIGN_OR_RETURN(coordinator::IterationRecord r, trainer->Step());
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double per_iteration = elapsed / (r.iteration - first);
    progress << absl::StrFormat(
        "outer %3d/%d  J %.5f  EEI spread %.3f pp  cost gap %+.2f %%  residual %.1e  "
        "ETA %s\n",
        r.iteration, params.loop.max_iterations, r.evaluated.objective,
        100 * r.evaluated.eei_spread, 100 * r.evaluated.recovery_gap, r.inner_residual,
        FormatEta(per_iteration * (params.loop.max_iterations - r.iteration)));
    progress.flush();
    SMFG_RETURN_IF_ERROR(
        coordinator::WriteFileAtomically((fs::path(o.out_dir) / "metrics.csv").string(),
                                         coordinator::MetricsCsv(trainer->history(), sc)));
    SMFG_RETURN_IF_ERROR(
        coordinator::WriteFileAtomically((fs::path(o.out_dir) / "metrics.jsonl").string(),
                                         coordinator::MetricsJsonl(trainer->history(), sc)));
  }
  progress << market->CountersSummary() << "\n";
  progress << (trainer->converged() ? "converged" : "iteration budget reached") << " after "
           << trainer->iteration() << " outer iterations; evaluating against the baselines\n";

  // The learned tariff and the baselines, each at its follower equilibrium.
  SMFG_ASSIGN_OR_RETURN(
      coordinator::RunComparison run,
      coordinator::EvaluateAndWriteResults(*trainer, evaluator, *market, o.out_dir, &progress));

  progress << market->CountersSummary() << "\n";
  if (o.json) {
    out << run.comparison_json << "\n";
  } else {
    out << coordinator::ComparisonText(run);
    out << "Wrote " << run.written.size() << " files to " << o.out_dir << "; plots in "
        << (fs::path(o.out_dir) / "plots").string() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
