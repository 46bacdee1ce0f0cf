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
#include "common/parallel.h"
#include "common/status.h"
#include "environment/population_evaluator.h"
#include "google/protobuf/util/json_util.h"
#include "smfg/v1/training.pb.h"
#include "training/checkpoint.h"
#include "training/iteration_record.h"
#include "training/report_files.h"
#include "training/tariff_family.h"
#include "training/trainer_params.h"
#include "training/training_run.h"

namespace smfg::client {

absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> MakeLocalEvaluator(
    const env::Scenario& scenario, int threads) {
  return training::MakeLocalEvaluator(scenario, threads);
}
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
  run_options.market_threads = ResolveThreads(o.threads);
  if (!o.resume && training::HasCheckpoint(run_options.checkpoint_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        o.out_dir, " already holds a run; pass --resume to continue it or choose another --out"));
  }
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<training::TrainingRun> run,
                        training::TrainingRun::Create(
                            loaded.spec, loaded.scenario,
                            training::LocalEvaluatorFactory(o.threads, &progress), run_options));
  if (o.resume) {
    const absl::Status s = run->Resume();
    if (!s.ok()) return Annotate(s, "--resume");
    progress << "resumed at outer iteration " << run->iteration() << "\n";
  }
  SMFG_RETURN_IF_ERROR(run->PrepareReference(&progress));
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
    const std::string not_converged = training::DescribeNotConverged(r.equilibria());
    progress << absl::StrFormat(
        "outer %3d/%d  J %.5f  EEI spread %.3f pp  cost gap %+.2f %%  residual %.1e  "
        "ETA %s%s\n",
        r.iteration(), max_iterations, r.evaluated().objective(), 100 * r.evaluated().eei_spread(),
        100 * r.evaluated().recovery_gap(), r.inner_residual_per_mwh(),
        FormatEta(per_iteration * (max_iterations - r.iteration())),
        not_converged.empty() ? "" : absl::StrCat("  (", not_converged, ")"));
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

absl::Status OptimizeOptions::Validate() const {
  if (spec_path.empty()) return absl::InvalidArgumentError("optimize: a SPEC file is required");
  if (days < 0 || threads < 0) {
    return absl::InvalidArgumentError("--days and --threads must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status RunOptimize(const OptimizeOptions& o, std::ostream& out, std::ostream& progress) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded,
                        training::LoadExperimentFile(o.spec_path, {.days = o.days}));
  loaded.spec.mutable_reference()->set_disabled(false);
  training::TrainingRunOptions run_options;
  run_options.market_threads = ResolveThreads(o.threads);
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<training::TrainingRun> run,
                        training::TrainingRun::Create(
                            loaded.spec, loaded.scenario,
                            training::LocalEvaluatorFactory(o.threads, &progress), run_options));
  SMFG_RETURN_IF_ERROR(run->PrepareReference(&progress));
  if (!run->reference().has_value()) {
    return absl::InternalError("optimize: the reference search returned no result");
  }
  const v1::ReferenceSummary& ref = *run->reference();
  const std::vector<double> x(ref.parameters().begin(), ref.parameters().end());
  const training::DayPrices prices = run->family().Map(x);
  if (o.json) {
    v1::OptimizeResult result;
    *result.mutable_reference() = ref;
    for (const auto& row : prices.rates) {
      result.add_rates()->mutable_import_rate_per_kwh()->Assign(row.begin(), row.end());
    }
    for (size_t g = 0; g < prices.fixed_charges.size(); ++g) {
      v1::GroupValue* v = result.add_fixed_charge_per_day();
      v->set_group(loaded.scenario.income_groups[g]);
      v->set_value(prices.fixed_charges[g]);
    }
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = false;
    options.preserve_proto_field_names = true;
    std::string json;
    // Printing a valid message cannot fail.
    (void)google::protobuf::util::MessageToJsonString(result, &json, options);
    out << json << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat(
      "reference optimum of '%s': J %.6f  EEI spread %.3f pp  cost gap %+.2f %%  LMP std %.3f\n"
      "%s, %d evaluations, %.1f s, %s (start J %.6f)\n",
      loaded.scenario.name, ref.terms().objective(), 100 * ref.terms().eei_spread(),
      100 * ref.terms().recovery_gap(), ref.terms().lmp_std(), ref.algorithm(), ref.evaluations(),
      ref.seconds(), ref.stop_reason(), ref.start_objective());
  for (size_t r = 0; r < prices.rates.size(); ++r) {
    out << (prices.rates.size() == 1 ? std::string("rates $/kWh")
                                     : absl::StrCat("rates $/kWh, bus ", r));
    for (int h = 0; h < env::kHoursPerDay; ++h) {
      out << (h % 12 == 0 ? "\n  " : " ") << absl::StrFormat("%.4f", prices.rates[r][h]);
    }
    out << "\n";
  }
  if (!prices.fixed_charges.empty()) {
    out << "fixed charges $/day:";
    for (size_t g = 0; g < prices.fixed_charges.size(); ++g) {
      out << " " << loaded.scenario.income_groups[g] << " "
          << absl::StrFormat("%.4f", prices.fixed_charges[g]);
    }
    out << "\n";
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
