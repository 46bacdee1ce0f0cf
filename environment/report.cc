#include "environment/report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json.h"

namespace smfg::env {

const char* DerTypeName(DerType t) {
  switch (t) {
    case DerType::kConsumer:
      return "consumer";
    case DerType::kSolar:
      return "solar";
    case DerType::kSolarBattery:
      return "solar_battery";
  }
  return "unknown";
}

namespace {

const char* ExportRuleName(ExportRule r) {
  switch (r) {
    case ExportRule::kNetBillingLmp:
      return "net_billing_lmp";
    case ExportRule::kNetMetering:
      return "net_metering";
    case ExportRule::kFixed:
      return "fixed";
  }
  return "unknown";
}

void FillGroups(const Scenario& sc, const Tariff& tariff, const PopulationStats& st,
                EquilibriumReport* r) {
  const double days = sc.days;
  double lo = 1e300, hi = -1e300;
  for (int g = 0; g < st.groups; ++g) {
    GroupReport gr;
    gr.name = sc.income_groups[g];
    gr.households = st.group_households[g];
    if (gr.households > 0) {
      const double daily =
          st.GroupBill(g) / days + tariff.MeanFixedCharge(g, sc.days) * gr.households;
      gr.mean_income_usd = st.group_annual_income_usd[g] / gr.households;
      gr.annual_spending_per_household_usd = 365.0 * daily / gr.households;
      gr.eei = 365.0 * daily / st.group_annual_income_usd[g];
      gr.import_kwh_per_household_day = st.group_import_kwh[g] / (days * gr.households);
      gr.export_kwh_per_household_day = st.group_export_kwh[g] / (days * gr.households);
      lo = std::min(lo, gr.eei);
      hi = std::max(hi, gr.eei);
    }
    r->groups.push_back(gr);
  }
  r->eei_spread = hi >= lo ? hi - lo : 0.0;
}

void FillPrices(const Scenario& sc, const ClearingResult& c, EquilibriumReport* r) {
  const int buses = c.lmp.buses;
  const size_t n = static_cast<size_t>(c.lmp.days) * kHoursPerDay;
  for (int b = 0; b < buses; ++b) {
    BusPriceReport p;
    p.name = sc.network.buses[b].name;
    p.min = 1e300;
    p.max = -1e300;
    double sum = 0, sum2 = 0;
    for (size_t k = 0; k < n; ++k) {
      const double v = c.lmp.lmp_per_mwh[k * buses + b];
      sum += v;
      p.min = std::min(p.min, v);
      p.max = std::max(p.max, v);
    }
    p.mean = sum / n;
    for (size_t k = 0; k < n; ++k) {
      p.mean_by_hour[k % kHoursPerDay] += c.lmp.lmp_per_mwh[k * buses + b] / c.lmp.days;
    }
    for (size_t k = 0; k < n; ++k) {
      const double d = c.lmp.lmp_per_mwh[k * buses + b] - p.mean;
      sum2 += d * d;
    }
    p.std = std::sqrt(sum2 / n);
    r->buses.push_back(p);
  }
}

void FillMoney(const Scenario& sc, const Tariff& tariff, const InnerResult& in,
               EquilibriumReport* r) {
  const PopulationStats& st = in.stats;
  const double scale = sc.households_represented;
  const HouseholdMoney money = SumHouseholdMoney(st, tariff, in.clearing.lmp, 0, sc.days);
  for (size_t k = 0; k < st.net_load_kw.size(); ++k) {
    const int hour = static_cast<int>((k / st.buses) % kHoursPerDay);
    r->household_net_load_mw_by_hour[hour] += scale * st.net_load_kw[k] / 1000.0 / sc.days;
    r->system_load_mw_by_hour[hour] += in.clearing.bus_load_mw[k] / sc.days;
  }
  r->revenue_per_day_usd = scale * (money.bills + money.fixed_charges) / sc.days;
  r->wholesale_cost_per_day_usd = scale * money.wholesale / sc.days;
  r->total_cost_per_day_usd = r->wholesale_cost_per_day_usd + sc.utility_fixed_cost_per_day;
  r->cost_recovery_ratio =
      r->total_cost_per_day_usd != 0 ? r->revenue_per_day_usd / r->total_cost_per_day_usd : 0;
}

void FillBehaviour(const Scenario& sc, const PopulationStats& st, EquilibriumReport* r) {
  for (int c = 0; c < st.classes; ++c) {
    for (int d = 0; d < kNumDerTypes; ++d) {
      const double n = st.class_der_household_days[c * kNumDerTypes + d];
      if (n == 0) continue;
      BehaviourReport b;
      b.class_name = sc.classes[c].name;
      b.der = static_cast<DerType>(d);
      b.household_days = n;
      std::array<double, kHoursPerDay>* fields[kNumBehaviourFields] = {
          &b.demand_kwh, &b.pv_kwh, &b.charge_kw, &b.discharge_kw, &b.soc_kwh, &b.net_kw};
      for (int h = 0; h < kHoursPerDay; ++h) {
        for (int f = 0; f < kNumBehaviourFields; ++f) {
          (*fields[f])[h] = st.behaviour[st.BehaviourIndex(c, d, h, f)] / n;
        }
      }
      r->behaviour.push_back(std::move(b));
    }
  }
}

}  // namespace

EquilibriumReport MakeReport(const Scenario& scenario, const Tariff& tariff,
                             const InnerResult& inner, const ExploitabilityStats& exploitability,
                             std::string label) {
  EquilibriumReport r;
  r.label = std::move(label);
  r.tariff = tariff;
  FillGroups(scenario, tariff, inner.stats, &r);
  FillPrices(scenario, inner.clearing, &r);
  FillMoney(scenario, tariff, inner, &r);
  FillBehaviour(scenario, inner.stats, &r);
  const ClearingResult& c = inner.clearing;
  double gen_cost = 0;
  for (double v : c.generation_cost_usd) gen_cost += v;
  r.generation_cost_per_day_usd = gen_cost / scenario.days;
  const double generated = c.fossil_mwh + c.renewable_mwh;
  r.fossil_share = generated > 0 ? c.fossil_mwh / generated : 0;
  r.renewable_curtailment =
      c.renewable_available_mwh > 0 ? 1.0 - c.renewable_mwh / c.renewable_available_mwh : 0;
  r.shed_mwh = c.shed_mwh;
  r.peak_system_load_mw = c.peak_system_load_mw;
  r.peak_household_net_load_mw = c.peak_household_net_load_mw;
  r.congested_hours_per_line = c.congested_hours_per_line;
  r.inner_iterations = inner.iterations;
  r.inner_residual_per_mwh = inner.residual;
  r.inner_converged = inner.converged;
  r.inner_stalled = inner.stalled;
  r.inner_damping_reductions = inner.damping_reductions;
  r.exploitability = exploitability;
  r.learning_steps = inner.learning_steps;
  if (scenario.follower.learner == FollowerParams::Learner::kPpo) r.follower_learner = "ppo";
  r.mean_policy_iterations =
      inner.stats.battery_household_days
          ? static_cast<double>(inner.stats.policy_iterations) / inner.stats.battery_household_days
          : 0;
  r.unconverged_household_days = inner.stats.unconverged_household_days;
  r.nonunique_distribution_household_days = inner.stats.nonunique_distribution_household_days;
  return r;
}

std::string FormatReportText(const EquilibriumReport& r) {
  std::string s = absl::StrFormat("Equilibrium under tariff '%s'\n", r.label);
  absl::StrAppendFormat(&s, "  inner fixed point: %d iterations, residual %.3g $/MWh (%s)%s\n",
                        r.inner_iterations, r.inner_residual_per_mwh,
                        r.inner_converged ? "converged"
                        : r.inner_stalled ? "NOT converged: stalled, the residual stopped shrinking"
                                          : "NOT converged",
                        r.inner_damping_reductions
                            ? absl::StrCat(", damping halved ", r.inner_damping_reductions, "x")
                            : "");
  absl::StrAppendFormat(&s,
                        "  exploitability ($/household-day): regularised mean %.3g max %.3g; "
                        "plain mean %.3g max %.3g over %d battery household-days\n",
                        r.exploitability.MeanRegularised(), r.exploitability.max_regularised,
                        r.exploitability.MeanPlain(), r.exploitability.max_plain,
                        static_cast<int>(r.exploitability.household_days));
  if (r.follower_learner != "exact") {
    absl::StrAppendFormat(&s, "  followers: learned (%s), trained during %d inner steps\n",
                          r.follower_learner, r.learning_steps);
  }
  if (r.has_best_response_exploitability) {
    const ExploitabilityStats& b = r.best_response_exploitability;
    absl::StrAppendFormat(
        &s,
        "  exact softmax best response at the same prices: regularised mean %.3g; plain mean "
        "%.3g max %.3g\n  learned / exact plain exploitability: %.2f\n",
        b.MeanRegularised(), b.MeanPlain(), b.max_plain,
        b.MeanPlain() > 0 ? r.exploitability.MeanPlain() / b.MeanPlain() : 0.0);
  }
  absl::StrAppend(&s, "  energy burden (EEI = annual electricity spending / income):\n");
  absl::StrAppendFormat(&s, "    %-12s %10s %12s %12s %8s\n", "group", "households", "income $/yr",
                        "spend $/yr", "EEI %");
  for (const GroupReport& g : r.groups) {
    absl::StrAppendFormat(&s, "    %-12s %10.0f %12.0f %12.0f %8.3f\n", g.name, g.households,
                          g.mean_income_usd, g.annual_spending_per_household_usd, 100 * g.eei);
  }
  absl::StrAppendFormat(&s, "    EEI spread (max - min): %.3f percentage points\n",
                        100 * r.eei_spread);
  absl::StrAppend(&s, "  LMP $/MWh by bus:  mean    std     min     max\n");
  for (const BusPriceReport& b : r.buses) {
    absl::StrAppendFormat(&s, "    %-12s %7.2f %7.2f %7.2f %7.2f\n", b.name, b.mean, b.std, b.min,
                          b.max);
  }
  absl::StrAppendFormat(&s, "  revenue %.0f $/day vs cost %.0f $/day (recovery %.1f %%)\n",
                        r.revenue_per_day_usd, r.total_cost_per_day_usd,
                        100 * r.cost_recovery_ratio);
  absl::StrAppendFormat(&s,
                        "  generation cost %.0f $/day, fossil share %.1f %%, "
                        "renewable curtailment %.1f %%, load shed %.3f MWh\n",
                        r.generation_cost_per_day_usd, 100 * r.fossil_share,
                        100 * r.renewable_curtailment, r.shed_mwh);
  absl::StrAppendFormat(&s, "  peak system load %.2f MW, peak household net load %.2f MW\n",
                        r.peak_system_load_mw, r.peak_household_net_load_mw);
  if (r.follower_learner == "exact") {
    absl::StrAppendFormat(&s,
                          "  best response: %.2f policy iterations per battery household-day, "
                          "%d unconverged, %d with a non-unique SoC distribution\n",
                          r.mean_policy_iterations, static_cast<int>(r.unconverged_household_days),
                          static_cast<int>(r.nonunique_distribution_household_days));
  } else {
    absl::StrAppendFormat(&s,
                          "  learned policy: %d battery household-days with a non-unique SoC "
                          "distribution\n",
                          static_cast<int>(r.nonunique_distribution_household_days));
  }
  return s;
}

namespace {

void WriteTariffJson(const Tariff& t, JsonWriter& w) {
  w.BeginObject().Key("import_rate_per_kwh").BeginArray();
  for (const auto& bus : t.import_rate_per_kwh) w.Numbers(bus);
  w.EndArray();
  w.Key("fixed_charge_per_day").Numbers(t.fixed_charge_per_day);
  if (!t.daily_import_rate_per_kwh.empty()) {
    w.Key("daily_import_rate_per_kwh").BeginArray();
    for (const auto& day : t.daily_import_rate_per_kwh) w.Numbers(day);
    w.EndArray();
    if (t.daily_rate_rows != 1) w.Key("daily_rate_rows").Int(t.daily_rate_rows);
  }
  if (!t.daily_fixed_charge_per_day.empty()) {
    w.Key("daily_fixed_charge_per_day").BeginArray();
    for (const auto& day : t.daily_fixed_charge_per_day) w.Numbers(day);
    w.EndArray();
  }
  w.Key("export_rule").String(ExportRuleName(t.export_rule));
  w.Key("fixed_export_credit_per_kwh").Number(t.fixed_export_credit_per_kwh);
  w.EndObject();
}

}  // namespace

std::string FormatReportJson(const EquilibriumReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("label").String(r.label);
  w.Key("tariff");
  WriteTariffJson(r.tariff, w);
  w.Key("groups").BeginArray();
  for (const GroupReport& g : r.groups) {
    w.BeginObject().Key("name").String(g.name).Key("households").Number(g.households);
    w.Key("mean_income_usd").Number(g.mean_income_usd);
    w.Key("annual_spending_per_household_usd").Number(g.annual_spending_per_household_usd);
    w.Key("eei").Number(g.eei);
    w.Key("import_kwh_per_household_day").Number(g.import_kwh_per_household_day);
    w.Key("export_kwh_per_household_day").Number(g.export_kwh_per_household_day);
    w.EndObject();
  }
  w.EndArray();
  w.Key("eei_spread").Number(r.eei_spread);
  w.Key("lmp_by_bus").BeginArray();
  for (const BusPriceReport& b : r.buses) {
    w.BeginObject().Key("bus").String(b.name).Key("mean").Number(b.mean).Key("std").Number(b.std);
    w.Key("min").Number(b.min).Key("max").Number(b.max);
    w.Key("mean_by_hour").Numbers(b.mean_by_hour).EndObject();
  }
  w.EndArray();
  w.Key("revenue_per_day_usd").Number(r.revenue_per_day_usd);
  w.Key("wholesale_cost_per_day_usd").Number(r.wholesale_cost_per_day_usd);
  w.Key("total_cost_per_day_usd").Number(r.total_cost_per_day_usd);
  w.Key("cost_recovery_ratio").Number(r.cost_recovery_ratio);
  w.Key("generation_cost_per_day_usd").Number(r.generation_cost_per_day_usd);
  w.Key("fossil_share").Number(r.fossil_share);
  w.Key("renewable_curtailment").Number(r.renewable_curtailment);
  w.Key("shed_mwh").Number(r.shed_mwh);
  w.Key("peak_system_load_mw").Number(r.peak_system_load_mw);
  w.Key("peak_household_net_load_mw").Number(r.peak_household_net_load_mw);
  w.Key("household_net_load_mw_by_hour").Numbers(r.household_net_load_mw_by_hour);
  w.Key("system_load_mw_by_hour").Numbers(r.system_load_mw_by_hour);
  w.Key("congested_hours_per_line").BeginArray();
  for (int c : r.congested_hours_per_line) w.Int(c);
  w.EndArray();
  w.Key("inner").BeginObject().Key("iterations").Int(r.inner_iterations);
  w.Key("residual_per_mwh").Number(r.inner_residual_per_mwh);
  w.Key("converged").Bool(r.inner_converged).Key("stalled").Bool(r.inner_stalled);
  w.Key("damping_reductions").Int(r.inner_damping_reductions).EndObject();
  w.Key("exploitability").BeginObject();
  w.Key("household_days").Int(r.exploitability.household_days);
  w.Key("regularised_mean").Number(r.exploitability.MeanRegularised());
  w.Key("regularised_max").Number(r.exploitability.max_regularised);
  w.Key("plain_mean").Number(r.exploitability.MeanPlain());
  w.Key("plain_max").Number(r.exploitability.max_plain).EndObject();
  w.Key("follower_learner").String(r.follower_learner);
  w.Key("learning_steps").Int(r.learning_steps);
  if (r.has_best_response_exploitability) {
    const ExploitabilityStats& b = r.best_response_exploitability;
    w.Key("best_response_exploitability").BeginObject();
    w.Key("household_days").Int(b.household_days);
    w.Key("regularised_mean").Number(b.MeanRegularised());
    w.Key("regularised_max").Number(b.max_regularised);
    w.Key("plain_mean").Number(b.MeanPlain());
    w.Key("plain_max").Number(b.max_plain).EndObject();
  }
  w.Key("mean_policy_iterations").Number(r.mean_policy_iterations);
  w.Key("unconverged_household_days").Int(r.unconverged_household_days);
  w.Key("nonunique_distribution_household_days").Int(r.nonunique_distribution_household_days);
  w.Key("behaviour").BeginArray();
  for (const BehaviourReport& b : r.behaviour) {
    w.BeginObject().Key("class").String(b.class_name).Key("der").String(DerTypeName(b.der));
    w.Key("household_days").Number(b.household_days);
    w.Key("demand_kwh").Numbers(b.demand_kwh).Key("pv_kwh").Numbers(b.pv_kwh);
    w.Key("charge_kw").Numbers(b.charge_kw).Key("discharge_kw").Numbers(b.discharge_kw);
    w.Key("soc_kwh").Numbers(b.soc_kwh).Key("net_kw").Numbers(b.net_kw);
    w.EndObject();
  }
  w.EndArray();
  w.Key("wall_seconds").Number(r.wall_seconds);
  w.EndObject();
  return w.str();
}

std::vector<std::pair<std::string, std::string>> FormatReportCsv(const EquilibriumReport& r) {
  std::vector<std::pair<std::string, std::string>> files;
  std::string groups =
      "group,households,mean_income_usd,annual_spending_usd,eei,"
      "import_kwh_per_day,export_kwh_per_day\n";
  for (const GroupReport& g : r.groups) {
    absl::StrAppendFormat(&groups, "%s,%.0f,%.6g,%.6g,%.8g,%.6g,%.6g\n", g.name, g.households,
                          g.mean_income_usd, g.annual_spending_per_household_usd, g.eei,
                          g.import_kwh_per_household_day, g.export_kwh_per_household_day);
  }
  files.emplace_back("groups.csv", groups);
  std::string buses = "bus,lmp_mean,lmp_std,lmp_min,lmp_max\n";
  for (const BusPriceReport& b : r.buses) {
    absl::StrAppendFormat(&buses, "%s,%.8g,%.8g,%.8g,%.8g\n", b.name, b.mean, b.std, b.min, b.max);
  }
  files.emplace_back("lmp_by_bus.csv", buses);
  std::string behaviour =
      "class,der,hour,demand_kwh,pv_kwh,charge_kw,discharge_kw,soc_kwh,net_kw\n";
  for (const BehaviourReport& b : r.behaviour) {
    for (int h = 0; h < kHoursPerDay; ++h) {
      absl::StrAppendFormat(&behaviour, "%s,%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", b.class_name,
                            DerTypeName(b.der), h, b.demand_kwh[h], b.pv_kwh[h], b.charge_kw[h],
                            b.discharge_kw[h], b.soc_kwh[h], b.net_kw[h]);
    }
  }
  files.emplace_back("behaviour.csv", behaviour);
  std::string tariff = "bus,hour,import_rate_per_kwh\n";
  for (size_t b = 0; b < r.tariff.import_rate_per_kwh.size(); ++b) {
    for (int h = 0; h < kHoursPerDay; ++h) {
      absl::StrAppendFormat(&tariff, "%s,%d,%.8g\n",
                            r.tariff.import_rate_per_kwh.size() == 1 ? "all" : absl::StrCat(b), h,
                            r.tariff.import_rate_per_kwh[b][h]);
    }
  }
  files.emplace_back("tariff.csv", tariff);
  return files;
}

}  // namespace smfg::env
