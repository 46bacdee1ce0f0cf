#include "training/report_files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/svg_plot.h"

namespace smfg::training {
namespace {

using env::EquilibriumReport;

std::vector<double> Hours() {
  std::vector<double> x;
  for (int h = 0; h < env::kHoursPerDay; ++h) x.push_back(h);
  return x;
}

template <typename Array>
std::vector<double> Vec(const Array& a, double scale = 1.0) {
  std::vector<double> v;
  for (double x : a) v.push_back(x * scale);
  return v;
}

std::string SummaryJson(const std::vector<EquilibriumReport>& reports) {
  JsonWriter w;
  w.BeginArray();
  for (const EquilibriumReport& r : reports) {
    w.BeginObject().Key("label").String(r.label).Key("eei_spread").Number(r.eei_spread);
    w.Key("eei_by_group").BeginObject();
    for (const auto& g : r.groups) w.Key(g.name).Number(g.eei);
    w.EndObject();
    w.Key("cost_recovery_ratio").Number(r.cost_recovery_ratio);
    w.Key("lmp_std_by_bus").BeginArray();
    for (const auto& b : r.buses) w.Number(b.std);
    w.EndArray();
    w.Key("generation_cost_per_day_usd").Number(r.generation_cost_per_day_usd);
    w.Key("peak_system_load_mw").Number(r.peak_system_load_mw);
    w.Key("inner_iterations").Int(r.inner_iterations);
    w.Key("inner_residual_per_mwh").Number(r.inner_residual_per_mwh);
    w.Key("exploitability_regularised_max").Number(r.exploitability.max_regularised);
    w.Key("exploitability_plain_mean").Number(r.exploitability.MeanPlain());
    w.Key("follower_learner").String(r.follower_learner);
    if (r.has_best_response_exploitability) {
      w.Key("best_response_exploitability_plain_mean")
          .Number(r.best_response_exploitability.MeanPlain());
    }
    w.EndObject();
  }
  w.EndArray();
  return w.str() + "\n";
}

std::string SummaryCsv(const std::vector<EquilibriumReport>& reports) {
  std::string s =
      "label,eei_spread,cost_recovery_ratio,mean_lmp_std,generation_cost_per_day_usd,"
      "peak_system_load_mw,inner_iterations,inner_residual_per_mwh\n";
  for (const EquilibriumReport& r : reports) {
    double lmp_std = 0;
    for (const auto& b : r.buses) lmp_std += b.std / r.buses.size();
    absl::StrAppendFormat(&s, "%s,%.8g,%.8g,%.8g,%.8g,%.8g,%d,%.3g\n", r.label, r.eei_spread,
                          r.cost_recovery_ratio, lmp_std, r.generation_cost_per_day_usd,
                          r.peak_system_load_mw, r.inner_iterations, r.inner_residual_per_mwh);
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> Plots(
    const std::vector<EquilibriumReport>& reports) {
  std::vector<std::pair<std::string, std::string>> plots;
  const bool many = reports.size() > 1;
  auto name = [&](const EquilibriumReport& r, const std::string& what) {
    return many ? absl::StrCat(r.label, " ", what) : what;
  };
  LineChart tariff{"Import rate by hour", "hour", "$/kWh", Hours(), {}};
  LineChart lmp{"Mean LMP by hour", "hour", "$/MWh", Hours(), {}};
  LineChart load{"Mean household net load by hour", "hour", "MW", Hours(), {}};
  BarChart eei{"Energy burden (EEI) by income group", "% of income", {}, {}};
  for (const EquilibriumReport& r : reports) {
    for (size_t b = 0; b < r.tariff.import_rate_per_kwh.size(); ++b) {
      tariff.series.push_back({r.tariff.import_rate_per_kwh.size() == 1
                                   ? name(r, "all buses")
                                   : name(r, absl::StrCat("bus ", b)),
                               r.tariff.import_rate_per_kwh[b]});
    }
    for (const auto& b : r.buses) lmp.series.push_back({name(r, b.name), Vec(b.mean_by_hour)});
    load.series.push_back({name(r, "households"), Vec(r.household_net_load_mw_by_hour)});
    PlotSeries s{r.label, {}};
    for (const auto& g : r.groups) s.y.push_back(100 * g.eei);
    eei.series.push_back(s);
  }
  for (const auto& g : reports.front().groups) eei.categories.push_back(g.name);
  plots.emplace_back("tariff.svg", RenderSvg(tariff));
  plots.emplace_back("lmp_by_hour.svg", RenderSvg(lmp));
  plots.emplace_back("eei_by_group.svg", RenderSvg(eei));
  plots.emplace_back("household_net_load.svg", RenderSvg(load));

  // Behaviour of storage owners, from the first report.
  LineChart battery{
      "Battery power by hour (solar+battery households, + = charging)", "hour", "kW", Hours(), {}};
  LineChart soc{"Battery state of charge by hour", "hour", "kWh", Hours(), {}};
  for (const auto& b : reports.front().behaviour) {
    if (b.der != env::DerType::kSolarBattery) continue;
    std::vector<double> net(env::kHoursPerDay);
    for (int h = 0; h < env::kHoursPerDay; ++h) net[h] = b.charge_kw[h] - b.discharge_kw[h];
    battery.series.push_back({b.class_name, net});
    soc.series.push_back({b.class_name, Vec(b.soc_kwh)});
  }
  if (!battery.series.empty()) {
    plots.emplace_back("battery_power.svg", RenderSvg(battery));
    plots.emplace_back("battery_soc.svg", RenderSvg(soc));
  }
  return plots;
}

std::string SafeLabel(const std::string& label) {
  std::string s;
  for (char c : label)
    s += (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return s.empty() ? "report" : s;
}

}  // namespace

std::vector<OutputFile> ReportFiles(const std::vector<EquilibriumReport>& reports) {
  std::vector<OutputFile> files;
  if (reports.empty()) return files;
  files.push_back({"summary.json", SummaryJson(reports)});
  files.push_back({"summary.csv", SummaryCsv(reports)});
  for (const EquilibriumReport& r : reports) {
    const std::string sub = SafeLabel(r.label);
    files.push_back({sub + "/report.json", env::FormatReportJson(r) + "\n"});
    for (auto& [file, content] : env::FormatReportCsv(r)) {
      files.push_back({sub + "/" + file, std::move(content)});
    }
  }
  for (auto& [file, content] : Plots(reports))
    files.push_back({"plots/" + file, std::move(content)});
  return files;
}

absl::Status WriteOutputFiles(const std::string& dir, const std::vector<OutputFile>& files) {
  for (const OutputFile& f : files) SMFG_RETURN_IF_ERROR(ValidateRelativePath(f.path));
  for (const OutputFile& f : files) {
    const std::filesystem::path path = std::filesystem::path(dir) / f.path;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", path.parent_path().string(), ": ", ec.message()));
    }
    SMFG_RETURN_IF_ERROR(WriteFileAtomically(path.string(), f.bytes));
  }
  return absl::OkStatus();
}

}  // namespace smfg::training
