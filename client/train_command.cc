// `smfg train`: the Stackelberg experiment end to end on this machine.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/report_files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/svg_plot.h"
#include "coordinator/stackelberg.h"
#include "environment/baselines.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "spec/spec_convert.h"
#include "spec/spec_loader.h"

namespace smfg::client {
namespace {

namespace fs = std::filesystem;

// The leader-side parts of the spec, with spec.proto's defaults applied.
absl::StatusOr<coordinator::TrainerParams> TrainerParamsFromSpec(const spec::LoadedSpec& loaded,
                                                                 const env::Scenario& scenario) {
  const v1::ExperimentSpec spec = spec::WithDefaults(loaded.spec);
  coordinator::TrainerParams p;
  p.scenario = scenario;
  const v1::TariffStructure& t = spec.tariff();
  if (t.rate_structure() == v1::TariffStructure::PER_BUS) {
    return absl::UnimplementedError(
        "tariff.rate_structure: PER_BUS is not learnable yet; the leader posts UNIFORM rates");
  }
  SMFG_ASSIGN_OR_RETURN(p.base.export_rule, spec::ToExportRule(t.export_rule()));
  p.base.fixed_export_credit_per_kwh = t.fixed_export_credit_per_kwh();
  p.base.fixed_charge_per_day.assign(t.fixed_charge_per_day().begin(), t.fixed_charge_per_day().end());
  if (p.base.fixed_charge_per_day.empty()) p.base.fixed_charge_per_day.assign(scenario.income_groups.size(), 0.0);
  p.bounds = {t.min_import_rate_per_kwh(), t.max_import_rate_per_kwh(), t.learn_fixed_charges(),
              t.min_fixed_charge_per_day(), t.max_fixed_charge_per_day()};
  const v1::LeaderObjective& o = spec.objective();
  p.weights = {o.w_equity(), o.w_revenue(), o.w_volatility(), o.w_cost(),
               o.spread_measure() == v1::LeaderObjective::STD_DEV, o.penalize_over_recovery()};
  const v1::LeaderLearner& l = spec.learner();
  if (loaded.spec.learner().has_rollout_days_per_update() &&
      l.rollout_days_per_update() != scenario.days) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.rollout_days_per_update: each outer iteration's rollout is the whole day pool (",
        scenario.days, " days); set it to ", scenario.days, " or leave it unset"));
  }
  p.ppo.hidden_sizes.assign(l.hidden_sizes().begin(), l.hidden_sizes().end());
  p.ppo.policy_learning_rate = l.policy_learning_rate();
  p.ppo.value_learning_rate = l.value_learning_rate();
  p.ppo.clip_epsilon = l.clip_epsilon();
  p.ppo.gae_lambda = l.gae_lambda();
  p.ppo.discount = l.discount();
  p.ppo.entropy_coefficient = l.entropy_coefficient();
  p.ppo.value_coefficient = l.value_coefficient();
  p.ppo.epochs = l.epochs();
  p.ppo.minibatch_size = std::min(l.minibatch_size(), scenario.days);
  p.ppo.target_kl = l.target_kl();
  p.ppo.max_grad_norm = l.max_grad_norm();
  p.ppo.initial_action_std = l.initial_action_std();
  p.ppo.seed = scenario.seed + l.seed_offset();
  const v1::OuterLoop& loop = spec.loop();
  p.loop = {loop.max_iterations(), loop.objective_tolerance(), loop.mean_field_tolerance_per_mwh(),
            loop.patience_iterations(), loop.checkpoint_every()};
  return p;
}

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int s = static_cast<int>(seconds + 0.5);
  return s >= 60 ? absl::StrFormat("%dm%02ds", s / 60, s % 60) : absl::StrFormat("%ds", s);
}

std::string MetricsCsv(const std::vector<coordinator::IterationRecord>& history,
                       const env::Scenario& sc) {
  std::string s = "iteration,objective,eei_spread,recovery_gap,lmp_std,mean_rate_per_kwh,"
                  "rollout_mean_reward,rollout_inner_iterations,eval_inner_iterations,"
                  "inner_residual_per_mwh,belief_change_per_mwh,approx_kl,entropy,"
                  "seconds_rollout,seconds_update,seconds_evaluation,"
                  "exploitability_regularised_max,exploitability_plain_mean";
  for (const env::Bus& b : sc.network.buses) absl::StrAppend(&s, ",lmp_mean_", b.name, ",lmp_std_", b.name);
  for (const std::string& g : sc.income_groups) absl::StrAppend(&s, ",eei_", g);
  s += "\n";
  for (const auto& r : history) {
    absl::StrAppendFormat(&s, "%d,%.10g,%.10g,%.10g,%.8g,%.8g,%.10g,%d,%d,%.3g,%.3g,%.6g,%.6g,%.4f,%.4f,%.4f",
                          r.iteration, r.evaluated.objective, r.evaluated.eei_spread,
                          r.evaluated.recovery_gap, r.evaluated.lmp_std, r.mean_rate_per_kwh,
                          r.rollout_mean_reward, r.rollout_inner_iterations,
                          r.eval_inner_iterations, r.inner_residual, r.belief_change,
                          r.ppo.approx_kl, r.ppo.entropy, r.seconds_rollout, r.seconds_update,
                          r.seconds_evaluation);
    absl::StrAppendFormat(&s, ",%.3g,%.6g", r.exploitability_regularised_max,
                          r.exploitability_plain_mean);
    for (size_t b = 0; b < r.lmp_mean_by_bus.size(); ++b) {
      absl::StrAppendFormat(&s, ",%.8g,%.8g", r.lmp_mean_by_bus[b], r.lmp_std_by_bus[b]);
    }
    for (double e : r.evaluated.eei) absl::StrAppendFormat(&s, ",%.10g", e);
    s += "\n";
  }
  return s;
}

std::string ConvergencePlot(const std::vector<coordinator::IterationRecord>& history,
                            double flat_objective, double tou_objective) {
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
  SMFG_ASSIGN_OR_RETURN(coordinator::TrainerParams params, TrainerParamsFromSpec(loaded, sc));
  if (o.iterations > 0) params.loop.max_iterations = o.iterations;
  params.checkpoint_dir = (fs::path(o.out_dir) / "checkpoints").string();
  if (!o.resume && fs::exists(fs::path(params.checkpoint_dir) / "loop.state")) {
    return absl::FailedPreconditionError(absl::StrCat(
        o.out_dir, " already holds a run; pass --resume to continue it or choose another --out"));
  }

  env::LocalPopulationEvaluator evaluator(sc, o.threads);
  SMFG_ASSIGN_OR_RETURN(auto market, env::MarketClearing::Create(sc, evaluator.kernel().shapes(),
                                                                 evaluator.kernel().days()));
  SMFG_ASSIGN_OR_RETURN(auto trainer, coordinator::StackelbergTrainer::Create(
                                          params, &evaluator, market.get(),
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
    std::vector<std::string> unused;
    SMFG_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out_dir) / "metrics.csv").string(),
                                             MetricsCsv(trainer->history(), sc)));
    std::string jsonl;
    for (const auto& rec : trainer->history()) jsonl += coordinator::IterationJson(rec, sc) + "\n";
    SMFG_RETURN_IF_ERROR(
        WriteFileAtomically((fs::path(o.out_dir) / "metrics.jsonl").string(), jsonl));
  }
  progress << (trainer->converged() ? "converged" : "iteration budget reached") << " after "
           << trainer->iteration() << " outer iterations; evaluating against the baselines\n";

  // The learned tariff and the baselines, each at its follower equilibrium.
  env::EvaluateOptions eo;
  eo.progress = nullptr;
  SMFG_ASSIGN_OR_RETURN(env::Tariff learned_tariff, trainer->PolicyTariff());
  SMFG_ASSIGN_OR_RETURN(env::Evaluation learned,
                        env::EvaluateTariff(evaluator, *market, sc, learned_tariff, "learned", eo));
  SMFG_ASSIGN_OR_RETURN(env::Evaluation flat,
                        env::EvaluateCostRecovering(evaluator, *market, sc, params.base,
                                                    env::FlatShape(), "flat", eo));
  progress << "searching the 3-block TOU grid (off-peak x on-peak ratios)\n";
  SMFG_ASSIGN_OR_RETURN(env::TouSearchResult tou,
                        env::SearchTouGrid(evaluator, *market, sc, params.base, params.weights,
                                           {0.5, 0.7, 0.9}, {1.2, 1.6, 2.0, 2.5}, eo));
  const env::ObjectiveTerms j_learned = env::PoolObjective(sc, learned.tariff, learned.inner, params.weights);
  const env::ObjectiveTerms j_flat = env::PoolObjective(sc, flat.tariff, flat.inner, params.weights);
  const env::ObjectiveTerms j_tou = env::PoolObjective(sc, tou.best.tariff, tou.best.inner, params.weights);

  std::vector<std::string> written;
  SMFG_RETURN_IF_ERROR(WriteReports(o.out_dir, {learned.report, flat.report, tou.best.report}, &written));
  const auto put = [&](const std::string& rel, const std::string& content) {
    written.push_back(rel);
    return WriteFileAtomically((fs::path(o.out_dir) / rel).string(), content);
  };
  SMFG_RETURN_IF_ERROR(put("plots/convergence.svg",
                           ConvergencePlot(trainer->history(), j_flat.objective, j_tou.objective)));
  SMFG_RETURN_IF_ERROR(put("learned_tariff.json", LearnedTariffJson(learned.tariff, sc)));
  SMFG_RETURN_IF_ERROR(put("learned_tariff.csv", LearnedTariffCsv(learned.tariff)));
  JsonWriter cmp;
  cmp.BeginObject().Key("iterations").Int(trainer->iteration()).Key("converged").Bool(trainer->converged());
  for (const auto& [name, j] : {std::pair<const char*, const env::ObjectiveTerms*>{"learned", &j_learned},
                                {"flat", &j_flat}, {"tou", &j_tou}}) {
    cmp.Key(name).BeginObject().Key("objective").Number(j->objective);
    cmp.Key("eei_spread").Number(j->eei_spread).Key("recovery_gap").Number(j->recovery_gap);
    cmp.Key("lmp_std").Number(j->lmp_std).EndObject();
  }
  cmp.Key("tou_best_blocks").BeginObject().Key("off_ratio").Number(tou.best_blocks.off_ratio);
  cmp.Key("peak_ratio").Number(tou.best_blocks.peak_ratio).EndObject().EndObject();
  SMFG_RETURN_IF_ERROR(put("comparison.json", cmp.str() + "\n"));

  if (o.json) {
    out << cmp.str() << "\n";
  } else {
    out << absl::StrFormat("%-8s %12s %14s %14s %10s\n", "tariff", "objective J", "EEI spread pp",
                           "cost gap %", "LMP std");
    for (const auto& [name, j] : {std::pair<const char*, const env::ObjectiveTerms*>{"learned", &j_learned},
                                  {"flat", &j_flat}, {"tou", &j_tou}}) {
      out << absl::StrFormat("%-8s %12.6f %14.3f %14.3f %10.3f\n", name, j->objective,
                             100 * j->eei_spread, 100 * j->recovery_gap, j->lmp_std);
    }
    out << "\n" << env::FormatReportText(learned.report);
    out << "Wrote " << written.size() << " files to " << o.out_dir << "; plots in "
        << (fs::path(o.out_dir) / "plots").string() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
