#include "client/commands.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/parallel.h"
#include "common/status.h"
#include "config/spec_convert.h"
#include "config/spec_loader.h"
#include "environment/baselines.h"
#include "environment/dcopf.h"
#include "environment/market.h"
#include "environment/matpower.h"
#include "environment/objective.h"
#include "environment/population_evaluator.h"
#include "google/protobuf/util/json_util.h"
#include "training/report_files.h"
#include "training/trainer_params.h"

namespace smfg::client {
namespace {

struct OpfCase {
  env::Network network;
  std::vector<double> load_mw;
};

absl::StatusOr<OpfCase> LoadOpfCase(const OpfOptions& o) {
  OpfCase c;
  // Shunt conductance is a fixed load that --load_scale leaves alone, as
  // MATPOWER's scale_load does.
  std::vector<double> unscaled_mw;
  if (absl::EndsWith(o.case_path, ".m")) {
    SMFG_ASSIGN_OR_RETURN(env::MatpowerCase m, env::LoadMatpowerFile(o.case_path));
    c.network = std::move(m.network);
    c.load_mw = std::move(m.bus_demand_mw);
    unscaled_mw = std::move(m.bus_shunt_mw);
  } else {
    SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded, training::LoadExperimentFile(o.case_path));
    env::Scenario& sc = loaded.scenario;
    const env::HourlyShapes shapes = env::MakeShapes(sc.profiles);
    for (size_t b = 0; b < sc.network.buses.size(); ++b) {
      c.load_mw.push_back(sc.exogenous_mean_mw[b] * shapes.exogenous[o.hour]);
    }
    c.network = std::move(sc.network);
  }
  unscaled_mw.resize(c.load_mw.size(), 0.0);
  for (size_t b = 0; b < c.load_mw.size(); ++b) {
    c.load_mw[b] = c.load_mw[b] * o.load_scale + unscaled_mw[b];
  }
  if (!o.load_mw.empty()) {
    if (o.load_mw.size() != c.network.buses.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--load: has ", o.load_mw.size(),
                                                     " values, the network has ",
                                                     c.network.buses.size(), " buses"));
    }
    c.load_mw = o.load_mw;
  }
  return c;
}

void PrintDispatchText(const env::Network& n, const std::vector<double>& load,
                       const env::DispatchResult& x, absl::string_view method, std::ostream& out) {
  out << absl::StrFormat("DC-OPF: %d buses, %d lines, %d generators\n", n.buses.size(),
                         n.lines.size(), n.generators.size());
  out << absl::StrFormat("  %-10s %10s %10s %10s\n", "bus", "load MW", "LMP $/MWh", "shed MW");
  for (size_t b = 0; b < n.buses.size(); ++b) {
    out << absl::StrFormat("  %-10s %10.3f %10.4f %10.3f\n", n.buses[b].name, load[b],
                           x.lmp_per_mwh[b], x.load_shed_mw[b]);
  }
  out << absl::StrFormat("  %-10s %6s %10s %10s %10s\n", "generator", "bus", "MW", "pmax MW",
                         "MC $/MWh");
  for (size_t g = 0; g < n.generators.size(); ++g) {
    const env::Generator& gen = n.generators[g];
    const double mc = 2 * gen.cost_quadratic * x.generation_mw[g] + gen.cost_linear;
    out << absl::StrFormat("  %-10s %6s %10.3f %10.3f %10.4f\n", gen.name, n.buses[gen.bus].name,
                           x.generation_mw[g], gen.pmax_mw, mc);
  }
  out << absl::StrFormat("  %-10s %12s %10s %10s %12s\n", "line", "from->to", "flow MW", "limit MW",
                         "shadow $/MWh");
  for (size_t l = 0; l < n.lines.size(); ++l) {
    const env::Line& line = n.lines[l];
    const bool binding = x.line_shadow_price[l] > 1e-9;
    out << absl::StrFormat("  %-10s %5s->%-5s %10.3f %10.3g %12.4f%s\n", line.name,
                           n.buses[line.from_bus].name, n.buses[line.to_bus].name, x.flow_mw[l],
                           line.limit_mw, x.line_shadow_price[l], binding ? "  congested" : "");
  }
  out << absl::StrFormat("  generation cost %.4f $/h, load shed %.4f MW\n",
                         x.generation_cost_per_hour, x.total_shed_mw);
  out << absl::StrFormat("  solved by %s%s%s\n", method, x.method > 0 ? " (a fallback)" : "",
                         x.clamped ? ", values clamped into bounds within tolerance" : "");
}

std::string DispatchJson(const env::Network& n, const std::vector<double>& load,
                         const env::DispatchResult& x, absl::string_view method) {
  JsonWriter w;
  w.BeginObject().Key("buses").BeginArray();
  for (size_t b = 0; b < n.buses.size(); ++b) {
    w.BeginObject().Key("name").String(n.buses[b].name).Key("load_mw").Number(load[b]);
    w.Key("lmp_per_mwh").Number(x.lmp_per_mwh[b]).Key("shed_mw").Number(x.load_shed_mw[b]);
    w.EndObject();
  }
  w.EndArray().Key("generators").BeginArray();
  for (size_t g = 0; g < n.generators.size(); ++g) {
    w.BeginObject().Key("name").String(n.generators[g].name).Key("bus").Int(n.generators[g].bus);
    w.Key("mw").Number(x.generation_mw[g]).EndObject();
  }
  w.EndArray().Key("lines").BeginArray();
  for (size_t l = 0; l < n.lines.size(); ++l) {
    w.BeginObject().Key("name").String(n.lines[l].name).Key("flow_mw").Number(x.flow_mw[l]);
    w.Key("limit_mw").Number(n.lines[l].limit_mw);
    w.Key("shadow_price_per_mwh").Number(x.line_shadow_price[l]);
    w.Key("congested").Bool(x.line_shadow_price[l] > 1e-9).EndObject();
  }
  w.EndArray();
  w.Key("generation_cost_per_hour").Number(x.generation_cost_per_hour);
  w.Key("total_shed_mw").Number(x.total_shed_mw);
  w.Key("solver_method").String(method).Key("solver_fallback").Bool(x.method > 0);
  w.Key("clamped").Bool(x.clamped);
  w.EndObject();
  return w.str();
}

}  // namespace

absl::Status OpfOptions::Validate() const {
  if (case_path.empty()) return absl::InvalidArgumentError("opf: a CASE file is required");
  if (hour < 0 || hour >= env::kHoursPerDay) {
    return absl::InvalidArgumentError(absl::StrCat("--hour: must be in [0, 24), got ", hour));
  }
  if (!(load_scale >= 0) || !std::isfinite(load_scale)) {
    return absl::InvalidArgumentError(absl::StrCat("--load_scale: must be >= 0, got ", load_scale));
  }
  for (double l : load_mw) {
    if (!std::isfinite(l)) return absl::InvalidArgumentError("--load: values must be finite");
  }
  return absl::OkStatus();
}

absl::Status RunOpf(const OpfOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(OpfCase c, LoadOpfCase(o));
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<env::DcOpf> opf, env::DcOpf::Create(c.network));
  SMFG_ASSIGN_OR_RETURN(env::DispatchResult x, opf->Solve(c.load_mw, o.hour));
  if (o.json) {
    out << DispatchJson(c.network, c.load_mw, x, opf->method_names()[x.method]) << "\n";
  } else {
    PrintDispatchText(c.network, c.load_mw, x, opf->method_names()[x.method], out);
  }
  return absl::OkStatus();
}

absl::Status SpecOptions::Validate() const {
  if (spec_path.empty()) return absl::InvalidArgumentError("spec: a SPEC file is required");
  if (days < 0) return absl::InvalidArgumentError("--days: must be >= 0");
  return absl::OkStatus();
}

absl::Status RunSpec(const SpecOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded,
                        training::LoadExperimentFile(o.spec_path, {.days = o.days}));
  if (!o.json) {
    out << config::EffectiveSpecText(loaded.spec, loaded.scenario);
    return absl::OkStatus();
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(
      config::EffectiveSpec(loaded.spec, loaded.scenario), &json, options);
  out << json;
  return absl::OkStatus();
}

absl::Status EvaluateOptions::Validate() const {
  if (spec_path.empty()) return absl::InvalidArgumentError("evaluate: a SPEC file is required");
  if (tariffs.empty()) return absl::InvalidArgumentError("--tariff: must not be empty");
  if (threads < 0) return absl::InvalidArgumentError("--threads: must be >= 0");
  if (days < 0) return absl::InvalidArgumentError("--days: must be >= 0");
  return absl::OkStatus();
}

namespace {

// Learned (PPO) followers against exact ones under one tariff: what the
// learning changes in the equilibrium and for the leader.
struct FollowerGap {
  std::string label;
  double objective_learned = 0, objective_exact = 0;  // the leader's J
  double eei_spread_learned = 0, eei_spread_exact = 0;
  double lmp_mean_abs_diff = 0, lmp_max_abs_diff = 0;           // $/MWh, every day-hour-bus
  double exploitability_learned = 0, exploitability_exact = 0;  // plain mean, $/day
};

FollowerGap CompareFollowers(const env::Scenario& sc, const env::ObjectiveWeights& weights,
                             const env::Evaluation& learned, const env::Evaluation& exact) {
  FollowerGap g;
  g.label = learned.report.label;
  g.objective_learned = env::PoolObjective(sc, learned.tariff, learned.inner, weights).objective;
  g.objective_exact = env::PoolObjective(sc, exact.tariff, exact.inner, weights).objective;
  g.eei_spread_learned = learned.report.eei_spread;
  g.eei_spread_exact = exact.report.eei_spread;
  const std::vector<double>& a = learned.inner.clearing.lmp.lmp_per_mwh;
  const std::vector<double>& b = exact.inner.clearing.lmp.lmp_per_mwh;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    g.lmp_mean_abs_diff += d / static_cast<double>(a.size());
    g.lmp_max_abs_diff = std::max(g.lmp_max_abs_diff, d);
  }
  g.exploitability_learned = learned.report.exploitability.MeanPlain();
  g.exploitability_exact = learned.report.has_best_response_exploitability
                               ? learned.report.best_response_exploitability.MeanPlain()
                               : exact.report.exploitability.MeanPlain();
  return g;
}

std::string FollowerGapText(const FollowerGap& g) {
  return absl::StrFormat(
      "Learned (PPO) vs exact followers under '%s'\n"
      "  leader objective J: learned %.6f, exact %.6f (difference %+.6f)\n"
      "  EEI spread: learned %.3f pp, exact %.3f pp\n"
      "  equilibrium LMPs: mean |difference| %.3g $/MWh, max %.3g $/MWh\n"
      "  plain exploitability ($/household-day): learned %.4g, exact softmax %.4g (ratio %.2f)\n",
      g.label, g.objective_learned, g.objective_exact, g.objective_learned - g.objective_exact,
      100 * g.eei_spread_learned, 100 * g.eei_spread_exact, g.lmp_mean_abs_diff, g.lmp_max_abs_diff,
      g.exploitability_learned, g.exploitability_exact,
      g.exploitability_exact > 0 ? g.exploitability_learned / g.exploitability_exact : 0.0);
}

std::string FollowerGapJson(const FollowerGap& g) {
  JsonWriter w;
  w.BeginObject().Key("label").String(g.label);
  w.Key("objective_learned").Number(g.objective_learned);
  w.Key("objective_exact").Number(g.objective_exact);
  w.Key("eei_spread_learned").Number(g.eei_spread_learned);
  w.Key("eei_spread_exact").Number(g.eei_spread_exact);
  w.Key("lmp_mean_abs_diff_per_mwh").Number(g.lmp_mean_abs_diff);
  w.Key("lmp_max_abs_diff_per_mwh").Number(g.lmp_max_abs_diff);
  w.Key("exploitability_plain_learned").Number(g.exploitability_learned);
  w.Key("exploitability_plain_exact").Number(g.exploitability_exact);
  w.EndObject();
  return w.str();
}

}  // namespace

absl::StatusOr<bool> EvaluateNeedsTrainer(const EvaluateOptions& o) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded,
                        training::LoadExperimentFile(o.spec_path, {.days = o.days}));
  return !o.myopic && loaded.scenario.follower.learner == env::FollowerParams::Learner::kPpo;
}

absl::Status RunEvaluate(const EvaluateOptions& o, std::ostream& out, std::ostream& progress) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded,
                        training::LoadExperimentFile(o.spec_path, {.days = o.days}));
  env::Scenario& sc = loaded.scenario;
  if (o.myopic) {
    // Myopic followers have no decision, so nothing to learn either.
    sc.follower.myopic = true;
    sc.follower.learner = env::FollowerParams::Learner::kExact;
  }
  SMFG_ASSIGN_OR_RETURN(const training::TrainerParams params,
                        training::TrainerParamsFromSpec(loaded.spec, sc));
  const env::Tariff& base = params.base;

  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<env::PopulationEvaluator> owned;
  if (sc.follower.learner == env::FollowerParams::Learner::kPpo) {
    if (!o.learning_evaluator) {
      return absl::FailedPreconditionError(
          "follower.learner: followers that learn (FOLLOWER_LEARNER_PPO) are evaluated by "
          "smfg-train");
    }
    SMFG_ASSIGN_OR_RETURN(owned, o.learning_evaluator(sc, o.threads));
  } else {
    owned = std::make_unique<env::LocalPopulationEvaluator>(sc, o.threads);
  }
  env::PopulationEvaluator& evaluator = *owned;
  const env::ShardKernel& kernel = *evaluator.in_process_kernel();
  SMFG_ASSIGN_OR_RETURN(auto market, env::MarketClearing::Create(sc, kernel.shapes(), kernel.days(),
                                                                 ResolveThreads(o.threads)));
  progress << absl::StrFormat(
      "scenario '%s': %d households (%lld with batteries), %d days, "
      "%d shards\n",
      sc.name, kernel.population().size(),
      static_cast<long long>(std::count(kernel.population().der_type.begin(),
                                        kernel.population().der_type.end(),
                                        static_cast<uint8_t>(env::DerType::kSolarBattery))),
      sc.days, sc.shards);

  std::vector<env::EquilibriumReport> reports;
  std::vector<FollowerGap> gaps;
  // Learning followers are compared with exact ones under every tariff, on
  // the same scenario and the same market (their reports and plots sit side
  // by side; FollowerGap).
  std::unique_ptr<env::LocalPopulationEvaluator> exact;
  if (evaluator.learned_followers()) {
    env::Scenario exact_sc = sc;
    exact_sc.follower.learner = env::FollowerParams::Learner::kExact;
    exact = std::make_unique<env::LocalPopulationEvaluator>(exact_sc, o.threads);
  }
  for (absl::string_view token : absl::StrSplit(o.tariffs, ',', absl::SkipWhitespace())) {
    const std::string label(token);
    auto evaluate = [&](env::PopulationEvaluator& ev,
                        const std::string& tag) -> absl::StatusOr<env::Evaluation> {
      env::EvaluateOptions eo;
      eo.measure_exploitability = o.exploitability;
      eo.progress = [&](int it, double residual) {
        if (it < 0) {
          progress << absl::StrFormat("[%s%s] followers' PPO phase %d: residual %.3g $/MWh\n",
                                      label, tag, -it, residual);
        } else {
          progress << absl::StrFormat("[%s%s] inner iteration %d: residual %.3g $/MWh\n", label,
                                      tag, it, residual);
        }
        progress.flush();
      };
      absl::StatusOr<env::Evaluation> e;
      if (label == "flat" || label == "tou") {
        const env::RateShape shape = label == "flat" ? env::FlatShape() : env::TouShape({});
        e = env::EvaluateCostRecovering(ev, *market, sc, base, shape, label + tag, eo);
      } else {
        SMFG_ASSIGN_OR_RETURN(env::Tariff t, config::LoadTariffFile(label, sc));
        const std::string name = std::filesystem::path(label).stem().string();
        e = env::EvaluateTariff(ev, *market, sc, t, name + tag, eo);
      }
      if (!e.ok()) return Annotate(e.status(), absl::StrCat("tariff '", label, "'"));
      return e;
    };
    SMFG_ASSIGN_OR_RETURN(env::Evaluation e, evaluate(evaluator, ""));
    if (o.myopic) e.report.label += "_myopic";
    if (exact != nullptr) {
      SMFG_ASSIGN_OR_RETURN(env::Evaluation x, evaluate(*exact, "_exact_followers"));
      gaps.push_back(CompareFollowers(sc, params.weights, e, x));
      reports.push_back(std::move(e.report));
      reports.push_back(std::move(x.report));
    } else {
      reports.push_back(std::move(e.report));
    }
  }

  std::vector<std::string> written;
  if (!o.out_dir.empty()) {
    std::vector<training::OutputFile> files = training::ReportFiles(reports);
    if (!gaps.empty()) {
      JsonWriter w;
      w.BeginArray();
      for (const FollowerGap& g : gaps) w.Raw(FollowerGapJson(g));
      w.EndArray();
      files.push_back({"follower_gaps.json", w.str() + "\n"});
    }
    SMFG_RETURN_IF_ERROR(training::WriteOutputFiles(o.out_dir, files));
    for (const training::OutputFile& f : files) written.push_back(f.path);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    JsonWriter w;
    w.BeginObject().Key("reports").BeginArray();
    for (const env::EquilibriumReport& r : reports) w.Raw(env::FormatReportJson(r));
    w.EndArray().Key("follower_gaps").BeginArray();
    for (const FollowerGap& g : gaps) w.Raw(FollowerGapJson(g));
    w.EndArray().Key("files").BeginArray();
    for (const std::string& f : written) w.String(f);
    w.EndArray().Key("wall_seconds").Number(seconds).EndObject();
    out << w.str() << "\n";
  } else {
    for (const env::EquilibriumReport& r : reports) out << env::FormatReportText(r) << "\n";
    for (const FollowerGap& g : gaps) out << FollowerGapText(g) << "\n";
    if (!o.out_dir.empty()) {
      out << "Wrote " << written.size() << " files to " << o.out_dir << " (plots in "
          << (std::filesystem::path(o.out_dir) / "plots").string() << ")\n";
    }
    out << absl::StrFormat("Done in %.1f s.\n", seconds);
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
