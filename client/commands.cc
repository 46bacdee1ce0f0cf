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
  for (absl::string_view token : absl::StrSplit(o.tariffs, ',', absl::SkipWhitespace())) {
    const std::string label(token);
    env::EvaluateOptions eo;
    eo.measure_exploitability = o.exploitability;
    eo.progress = [&](int it, double residual) {
      if (it < 0) {
        progress << absl::StrFormat("[%s] followers' PPO phase %d: residual %.3g $/MWh\n", label,
                                    -it, residual);
      } else {
        progress << absl::StrFormat("[%s] inner iteration %d: residual %.3g $/MWh\n", label, it,
                                    residual);
      }
      progress.flush();
    };
    absl::StatusOr<env::Evaluation> e;
    if (label == "flat" || label == "tou") {
      const env::RateShape shape = label == "flat" ? env::FlatShape() : env::TouShape({});
      e = env::EvaluateCostRecovering(evaluator, *market, sc, base, shape, label, eo);
    } else {
      SMFG_ASSIGN_OR_RETURN(env::Tariff t, config::LoadTariffFile(label, sc));
      const std::string name = std::filesystem::path(label).stem().string();
      e = env::EvaluateTariff(evaluator, *market, sc, t, name, eo);
    }
    if (!e.ok()) return Annotate(e.status(), absl::StrCat("tariff '", label, "'"));
    if (o.myopic) e->report.label += "_myopic";
    reports.push_back(std::move(e->report));
  }

  std::vector<std::string> written;
  if (!o.out_dir.empty()) {
    const std::vector<training::OutputFile> files = training::ReportFiles(reports);
    SMFG_RETURN_IF_ERROR(training::WriteOutputFiles(o.out_dir, files));
    for (const training::OutputFile& f : files) written.push_back(f.path);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    JsonWriter w;
    w.BeginObject().Key("reports").BeginArray();
    for (const env::EquilibriumReport& r : reports) w.Raw(env::FormatReportJson(r));
    w.EndArray().Key("files").BeginArray();
    for (const std::string& f : written) w.String(f);
    w.EndArray().Key("wall_seconds").Number(seconds).EndObject();
    out << w.str() << "\n";
  } else {
    for (const env::EquilibriumReport& r : reports) out << env::FormatReportText(r) << "\n";
    if (!o.out_dir.empty()) {
      out << "Wrote " << written.size() << " files to " << o.out_dir << " (plots in "
          << (std::filesystem::path(o.out_dir) / "plots").string() << ")\n";
    }
    out << absl::StrFormat("Done in %.1f s.\n", seconds);
  }
  return absl::OkStatus();
}

}  // namespace smfg::client
