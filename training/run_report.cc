#include "training/run_report.h"

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

namespace smfg::training {
namespace {

namespace fs = std::filesystem;

std::string ConvergencePlot(const std::vector<IterationRecord>& history, double flat_objective,
                            double tou_objective) {
  LineChart c{"Leader objective by outer iteration", "outer iteration", "objective J", {}, {}};
  PlotSeries learned{"learned (mean policy)", {}}, sampled{"sampled tariffs (mean reward)", {}};
  PlotSeries flat{"flat baseline", {}}, tou{"best TOU baseline", {}};
  for (const auto& r : history) {
    c.x.push_back(r.iteration());
    learned.y.push_back(r.evaluated().objective());
    sampled.y.push_back(r.rollout_mean_reward());
    flat.y.push_back(flat_objective);
    tou.y.push_back(tou_objective);
  }
  c.series = {learned, sampled, flat, tou};
  return RenderSvg(c);
}

std::string LearnedTariffJson(const env::Tariff& t, const env::Scenario& sc) {
  JsonWriter w;
  w.BeginObject().Key("mean_import_rate_per_kwh").Numbers(t.import_rate_per_kwh[0]);
  w.Key("mean_fixed_charge_per_day").BeginObject();
  for (size_t g = 0; g < sc.income_groups.size(); ++g) {
    w.Key(sc.income_groups[g]).Number(t.MeanFixedCharge(static_cast<int>(g), sc.days));
  }
  w.EndObject().Key("daily_import_rate_per_kwh").BeginArray();
  for (const auto& d : t.daily_import_rate_per_kwh) w.Numbers(d);
  w.EndArray().Key("daily_fixed_charge_per_day").BeginArray();
  for (const auto& d : t.daily_fixed_charge_per_day) w.Numbers(d);
  w.EndArray().EndObject();
  return w.str() + "\n";
}

std::string LearnedTariffCsv(const env::Tariff& t) {
  std::string s = "day,hour,import_rate_per_kwh\n";
  for (size_t d = 0; d < t.daily_import_rate_per_kwh.size(); ++d) {
    for (int h = 0; h < env::kHoursPerDay; ++h) {
      absl::StrAppendFormat(&s, "%d,%d,%.8g\n", d, h, t.daily_import_rate_per_kwh[d][h]);
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
  result.learned_report = learned.report;

  std::vector<OutputFile>& files = result.files;
  files = ReportFiles({learned.report, flat.report, tou.best.report});
  files.push_back(
      {"plots/convergence.svg",
       ConvergencePlot(trainer.history(), result.flat.objective, result.tou.objective)});
  files.push_back({"learned_tariff.json", LearnedTariffJson(learned.tariff, sc)});
  files.push_back({"learned_tariff.csv", LearnedTariffCsv(learned.tariff)});
  JsonWriter cmp;
  cmp.BeginObject()
      .Key("iterations")
      .Int(trainer.iteration())
      .Key("converged")
      .Bool(trainer.converged());
  for (const auto& [name, j] :
       {std::pair<const char*, const env::ObjectiveTerms*>{"learned", &result.learned},
        {"flat", &result.flat},
        {"tou", &result.tou}}) {
    cmp.Key(name).BeginObject().Key("objective").Number(j->objective);
    cmp.Key("eei_spread").Number(j->eei_spread).Key("recovery_gap").Number(j->recovery_gap);
    cmp.Key("lmp_std").Number(j->lmp_std).EndObject();
  }
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
  std::string text = absl::StrFormat("%-8s %12s %14s %14s %10s\n", "tariff", "objective J",
                                     "EEI spread pp", "cost gap %", "LMP std");
  for (const auto& [name, j] :
       {std::pair<const char*, const env::ObjectiveTerms*>{"learned", &run.learned},
        {"flat", &run.flat},
        {"tou", &run.tou}}) {
    absl::StrAppendFormat(&text, "%-8s %12.6f %14.3f %14.3f %10.3f\n", name, j->objective,
                          100 * j->eei_spread, 100 * j->recovery_gap, j->lmp_std);
  }
  return absl::StrCat(text, "\n", env::FormatReportText(run.learned_report));
}

}  // namespace smfg::training
