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
    c.x.push_back(r.iteration);
    learned.y.push_back(r.evaluated.objective);
    sampled.y.push_back(r.rollout_mean_reward);
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

std::string MetricsCsv(const std::vector<IterationRecord>& history, const env::Scenario& sc) {
  std::string s =
      "iteration,objective,eei_spread,recovery_gap,lmp_std,mean_rate_per_kwh,"
      "rollout_mean_reward,rollout_inner_iterations,eval_inner_iterations,"
      "inner_residual_per_mwh,belief_change_per_mwh,approx_kl,entropy,"
      "seconds_rollout,seconds_update,seconds_evaluation,"
      "exploitability_regularised_max,exploitability_plain_mean";
  for (const env::Bus& b : sc.network.buses)
    absl::StrAppend(&s, ",lmp_mean_", b.name, ",lmp_std_", b.name);
  for (const std::string& g : sc.income_groups) absl::StrAppend(&s, ",eei_", g);
  // Distributed evaluation (IterationRecord), last so earlier columns keep their index.
  s += ",seconds_worker_compute,seconds_communication,seconds_barrier_wait,bytes_to_workers,"
       "bytes_from_workers\n";
  for (const auto& r : history) {
    absl::StrAppendFormat(
        &s, "%d,%.10g,%.10g,%.10g,%.8g,%.8g,%.10g,%d,%d,%.3g,%.3g,%.6g,%.6g,%.4f,%.4f,%.4f",
        r.iteration, r.evaluated.objective, r.evaluated.eei_spread, r.evaluated.recovery_gap,
        r.evaluated.lmp_std, r.mean_rate_per_kwh, r.rollout_mean_reward, r.rollout_inner_iterations,
        r.eval_inner_iterations, r.inner_residual, r.belief_change, r.ppo.approx_kl, r.ppo.entropy,
        r.seconds_rollout, r.seconds_update, r.seconds_evaluation);
    absl::StrAppendFormat(&s, ",%.3g,%.6g", r.exploitability_regularised_max,
                          r.exploitability_plain_mean);
    for (size_t b = 0; b < r.lmp_mean_by_bus.size(); ++b) {
      absl::StrAppendFormat(&s, ",%.8g,%.8g", r.lmp_mean_by_bus[b], r.lmp_std_by_bus[b]);
    }
    for (double e : r.evaluated.eei) absl::StrAppendFormat(&s, ",%.10g", e);
    absl::StrAppendFormat(&s, ",%.4f,%.4f,%.4f,%d,%d\n", r.seconds_worker_compute,
                          r.seconds_communication, r.seconds_barrier_wait, r.bytes_to_workers,
                          r.bytes_from_workers);
  }
  return s;
}

std::string MetricsJsonl(const std::vector<IterationRecord>& history,
                         const env::Scenario& scenario) {
  std::string jsonl;
  for (const auto& rec : history) jsonl += training::IterationJson(rec, scenario) + "\n";
  return jsonl;
}

absl::StatusOr<RunComparison> EvaluateAndWriteResults(StackelbergTrainer& trainer,
                                                      env::PopulationEvaluator& evaluator,
                                                      env::MarketClearing& market,
                                                      const std::string& out_dir,
                                                      std::ostream* progress) {
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

  std::vector<std::string>& written = result.written;
  SMFG_RETURN_IF_ERROR(
      WriteReports(out_dir, {learned.report, flat.report, tou.best.report}, &written));
  const auto put = [&](const std::string& rel, const std::string& content) {
    written.push_back(rel);
    return WriteFileAtomically((fs::path(out_dir) / rel).string(), content);
  };
  SMFG_RETURN_IF_ERROR(
      put("plots/convergence.svg",
          ConvergencePlot(trainer.history(), result.flat.objective, result.tou.objective)));
  SMFG_RETURN_IF_ERROR(put("learned_tariff.json", LearnedTariffJson(learned.tariff, sc)));
  SMFG_RETURN_IF_ERROR(put("learned_tariff.csv", LearnedTariffCsv(learned.tariff)));
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
  SMFG_RETURN_IF_ERROR(put("comparison.json", result.comparison_json + "\n"));
  SMFG_RETURN_IF_ERROR(put("comparison.txt", ComparisonText(result)));
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
