#include "training/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/svg_plot.h"
#include "environment/baselines.h"
#include "training/iteration_record.h"
#include "training/report_files.h"
#include "training/tariff_family.h"

namespace smfg::training {
namespace {

namespace fs = std::filesystem;

std::string ConvergencePlot(const std::vector<IterationRecord>& history, const RunComparison& run) {
  LineChart c{"Leader objective by outer iteration", "outer iteration", "objective J", {}, {}};
  PlotSeries learned{"learned (mean policy)", {}}, sampled{"sampled tariffs (mean reward)", {}};
  PlotSeries flat{"flat baseline", {}}, tou{"best TOU baseline", {}};
  PlotSeries reference{"reference optimum (static, NLopt)", {}};
  for (const auto& r : history) {
    c.x.push_back(r.iteration());
    learned.y.push_back(r.evaluated().objective());
    sampled.y.push_back(r.rollout_mean_reward());
    flat.y.push_back(run.flat.objective);
    tou.y.push_back(run.tou.objective);
    if (run.reference.has_value()) reference.y.push_back(run.reference->objective);
  }
  c.series = {learned, sampled, flat, tou};
  if (run.reference.has_value()) c.series.push_back(reference);
  return RenderSvg(c);
}

struct Row {
  const char* name;
  const env::ObjectiveTerms* terms;
  double step;
};

std::vector<Row> Rows(const RunComparison& run) {
  std::vector<Row> rows = {{"learned", &run.learned, run.learned_step},
                           {"flat", &run.flat, run.flat_step},
                           {"tou", &run.tou, run.tou_step}};
  if (run.reference.has_value()) rows.push_back({"reference", &*run.reference, run.reference_step});
  return rows;
}

// Uniform rates: one array per day (and the mean); nodal rates: one array per
// bus in each, in network order, with "buses" naming them.
std::string LearnedTariffJson(const env::Tariff& t, const env::Scenario& sc) {
  const size_t rows = static_cast<size_t>(t.daily_rate_rows);
  JsonWriter w;
  w.BeginObject();
  if (rows == 1) {
    w.Key("mean_import_rate_per_kwh").Numbers(t.import_rate_per_kwh[0]);
  } else {
    w.Key("buses").BeginArray();
    for (const env::Bus& b : sc.network.buses) w.String(b.name);
    w.EndArray().Key("mean_import_rate_per_kwh").BeginArray();
    for (const auto& row : t.import_rate_per_kwh) w.Numbers(row);
    w.EndArray();
  }
  w.Key("mean_fixed_charge_per_day").BeginObject();
  for (size_t g = 0; g < sc.income_groups.size(); ++g) {
    w.Key(sc.income_groups[g]).Number(t.MeanFixedCharge(static_cast<int>(g), sc.days));
  }
  w.EndObject().Key("daily_import_rate_per_kwh").BeginArray();
  for (size_t d = 0; d * rows < t.daily_import_rate_per_kwh.size(); ++d) {
    if (rows == 1) {
      w.Numbers(t.daily_import_rate_per_kwh[d]);
      continue;
    }
    w.BeginArray();
    for (size_t r = 0; r < rows; ++r) w.Numbers(t.daily_import_rate_per_kwh[d * rows + r]);
    w.EndArray();
  }
  w.EndArray().Key("daily_fixed_charge_per_day").BeginArray();
  for (const auto& d : t.daily_fixed_charge_per_day) w.Numbers(d);
  w.EndArray().EndObject();
  return w.str() + "\n";
}

std::string LearnedTariffCsv(const env::Tariff& t, const env::Scenario& sc) {
  const size_t rows = static_cast<size_t>(t.daily_rate_rows);
  std::string s =
      rows == 1 ? "day,hour,import_rate_per_kwh\n" : "day,bus,hour,import_rate_per_kwh\n";
  for (size_t i = 0; i < t.daily_import_rate_per_kwh.size(); ++i) {
    for (int h = 0; h < env::kHoursPerDay; ++h) {
      if (rows == 1) {
        absl::StrAppendFormat(&s, "%d,%d,%.8g\n", i, h, t.daily_import_rate_per_kwh[i][h]);
      } else {
        absl::StrAppendFormat(&s, "%d,%s,%d,%.8g\n", i / rows, sc.network.buses[i % rows].name, h,
                              t.daily_import_rate_per_kwh[i][h]);
      }
    }
  }
  return s;
}

}  // namespace

absl::StatusOr<RunComparison> EvaluateRun(StackelbergTrainer& trainer,
                                          env::PopulationEvaluator& evaluator,
                                          env::MarketClearing& market, std::ostream* progress) {
  const training::TrainerParams& params = trainer.params();
  const env::Scenario& sc = params.scenario;
  env::EvaluateOptions eo;
  eo.progress = nullptr;
  SMFG_ASSIGN_OR_RETURN(env::Tariff learned_tariff, trainer.PolicyTariff());
  SMFG_ASSIGN_OR_RETURN(env::Evaluation learned,
                        env::EvaluateTariff(evaluator, market, sc, learned_tariff, "learned", eo));
  SMFG_ASSIGN_OR_RETURN(env::Evaluation flat,
                        env::EvaluateCostRecovering(evaluator, market, sc, params.base,
                                                    env::FlatShape(), "flat", eo));
  if (progress != nullptr)
    *progress << "searching the 3-block TOU grid (off-peak x on-peak ratios)\n";
  SMFG_ASSIGN_OR_RETURN(env::TouSearchResult tou,
                        env::SearchTouGrid(evaluator, market, sc, params.base, params.weights,
                                           {0.5, 0.7, 0.9}, {1.2, 1.6, 2.0, 2.5}, eo));
  RunComparison result;
  result.learned = env::PoolObjective(sc, learned.tariff, learned.inner, params.weights);
  result.flat = env::PoolObjective(sc, flat.tariff, flat.inner, params.weights);
  result.tou = env::PoolObjective(sc, tou.best.tariff, tou.best.inner, params.weights);
  result.learned_step = MeanHourlyStep(learned.tariff);
  result.flat_step = MeanHourlyStep(flat.tariff);
  result.tou_step = MeanHourlyStep(tou.best.tariff);
  result.learned_report = learned.report;
  std::vector<env::EquilibriumReport> reports = {learned.report, flat.report, tou.best.report};
  if (trainer.reference().has_value()) {
    const v1::ReferenceSummary& summary = *trainer.reference();
    const std::vector<double> x(summary.parameters().begin(), summary.parameters().end());
    const env::Tariff tariff = trainer.family().StaticTariff(x, params.base);
    SMFG_ASSIGN_OR_RETURN(env::Evaluation reference,
                          env::EvaluateTariff(evaluator, market, sc, tariff, "reference", eo));
    result.reference = env::PoolObjective(sc, reference.tariff, reference.inner, params.weights);
    result.reference_summary = summary;
    result.reference_step = MeanHourlyStep(reference.tariff);
    result.optimality_gap = (result.reference->objective - result.learned.objective) /
                            std::max(std::fabs(result.reference->objective), 1e-12);
    reports.push_back(reference.report);
  }

  std::vector<OutputFile>& files = result.files;
  files = ReportFiles(reports);
  files.push_back({"plots/convergence.svg", ConvergencePlot(trainer.history(), result)});
  files.push_back({"learned_tariff.json", LearnedTariffJson(learned.tariff, sc)});
  files.push_back({"learned_tariff.csv", LearnedTariffCsv(learned.tariff, sc)});
  JsonWriter cmp;
  cmp.BeginObject()
      .Key("iterations")
      .Int(trainer.iteration())
      .Key("converged")
      .Bool(trainer.converged());
  for (const Row& row : Rows(result)) {
    const env::ObjectiveTerms* j = row.terms;
    cmp.Key(row.name).BeginObject().Key("objective").Number(j->objective);
    cmp.Key("eei_spread").Number(j->eei_spread).Key("recovery_gap").Number(j->recovery_gap);
    cmp.Key("lmp_std").Number(j->lmp_std);
    cmp.Key("mean_hourly_step_per_kwh").Number(row.step);
    if (std::string(row.name) == "reference") {
      const v1::ReferenceSummary& r = *result.reference_summary;
      // Wall time stays out: comparison.json is the same bytes in every run
      // of a spec (comparison.txt and the log carry the seconds).
      cmp.Key("evaluations").Int(r.evaluations());
      cmp.Key("algorithm").String(r.algorithm()).Key("stop_reason").String(r.stop_reason());
    }
    cmp.EndObject();
  }
  if (result.optimality_gap.has_value()) cmp.Key("optimality_gap").Number(*result.optimality_gap);
  cmp.Key("tou_best_blocks").BeginObject().Key("off_ratio").Number(tou.best_blocks.off_ratio);
  cmp.Key("peak_ratio").Number(tou.best_blocks.peak_ratio).EndObject().EndObject();
  result.comparison_json = cmp.str();
  files.push_back({"comparison.json", result.comparison_json + "\n"});
  files.push_back({"comparison.txt", ComparisonText(result)});
  files.push_back({"metrics.jsonl", MetricsJsonl(trainer.history())});
  files.push_back({"metrics.csv", MetricsCsv(trainer.history())});
  return result;
}

std::string ComparisonText(const RunComparison& run) {
  std::string text = absl::StrFormat("%-10s %12s %14s %14s %10s %14s\n", "tariff", "objective J",
                                     "EEI spread pp", "cost gap %", "LMP std", "step $/kWh");
  for (const Row& row : Rows(run)) {
    const env::ObjectiveTerms* j = row.terms;
    absl::StrAppendFormat(&text, "%-10s %12.6f %14.3f %14.3f %10.3f %14.4f\n", row.name,
                          j->objective, 100 * j->eei_spread, 100 * j->recovery_gap, j->lmp_std,
                          row.step);
  }
  if (run.optimality_gap.has_value()) {
    absl::StrAppendFormat(&text,
                          "optimality gap of the learned tariff: %.2f %% of |J_ref| (reference: "
                          "%d evaluations, %.1f s, %s)\n",
                          100 * *run.optimality_gap, run.reference_summary->evaluations(),
                          run.reference_summary->seconds(), run.reference_summary->stop_reason());
  }
  return absl::StrCat(text, "\n", env::FormatReportText(run.learned_report));
}

}  // namespace smfg::training
