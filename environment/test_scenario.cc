#include "environment/test_scenario.h"

#include <cmath>

namespace smfg::env {

Scenario MakeTestScenario(int n, int days, uint64_t seed) {
  Scenario s;
  s.name = "test_three_bus";
  Network& net = s.network;
  net.buses = {{"1"}, {"2"}, {"3"}};
  net.lines = {{"1-2", 0, 1, 0.1, 40}, {"2-3", 1, 2, 0.1, 40}, {"1-3", 0, 2, 0.1, 25}};
  Generator base{"base", 0, 0, 50, 0.05, 18, 0, false, {}};
  Generator gas{"gas", 1, 0, 40, 0.2, 20, 0, false, {}};
  Generator peaker{"peaker", 2, 0, 30, 1.0, 25, 0, false, {}};
  Generator solar{"solar_farm", 0, 0, 20, 0, 0, 0, true, {}};
  for (int h = 0; h < kHoursPerDay; ++h) {
    const double x = (h + 0.5 - 6.0) / 14.0;
    solar.hourly_availability.push_back(x > 0 && x < 1 ? 0.9 * std::sin(M_PI * x) : 0.0);
  }
  net.generators = {base, gas, peaker, solar};
  // Scaled so that n households per class per bus weigh like the default
  // scenario's 8000 per bus.
  s.households_represented = 2000.0 / n;
  s.exogenous_mean_mw = {10, 12, 22};
  s.income_groups = {"very_low", "low", "middle", "high"};
  auto cls = [&](const char* name, int group, double income, double demand, double c, double pv,
                 double batt) {
    HouseholdClass k;
    k.name = name;
    k.income_group = group;
    k.households_per_bus = {n, n, n};
    k.annual_income_usd = {Distribution::Kind::kLogNormal, income, income / 3, 4000, 1e7};
    k.daily_demand_kwh = {Distribution::Kind::kNormal, demand, demand / 4, 5, 200};
    k.der_share[0] = c;
    k.der_share[1] = pv;
    k.der_share[2] = batt;
    k.pv_kw = {Distribution::Kind::kNormal, 6.5, 1.5, 2, 12};
    k.battery_kwh = {Distribution::Kind::kUniform, 9.3, 13.5, 0, 1e9};
    k.battery_kw = Distribution::Constant(5.0);
    k.charge_efficiency = Distribution::Constant(0.95);
    k.discharge_efficiency = Distribution::Constant(0.95);
    return k;
  };
  s.classes = {cls("very_low", 0, 15000, 20, 1, 0, 0), cls("low", 1, 35000, 24, 0.85, 0.12, 0.03),
               cls("middle", 2, 70000, 30, 0.65, 0.25, 0.10),
               cls("high", 3, 150000, 38, 0.45, 0.35, 0.20)};
  s.profiles.demand_shape = {0.55, 0.5, 0.48, 0.47, 0.48, 0.55, 0.75, 0.95, 0.95, 0.85, 0.8, 0.8,
                             0.8,  0.8, 0.82, 0.88, 1.0,  1.25, 1.5,  1.6,  1.5,  1.3,  1.0, 0.75};
  s.profiles.exogenous_shape = {0.7,  0.68, 0.66, 0.66, 0.68, 0.75, 0.85, 1.0,
                                1.1,  1.15, 1.2,  1.2,  1.2,  1.2,  1.2,  1.18,
                                1.15, 1.1,  1.05, 1.0,  0.95, 0.9,  0.8,  0.75};
  s.days = days;
  s.seed = seed;
  s.shards = 8;
  return s;
}

Tariff FlatTestTariff(const Scenario& scenario, double rate) {
  Tariff t;
  t.import_rate_per_kwh.assign(1, std::vector<double>(kHoursPerDay, rate));
  t.fixed_charge_per_day.assign(scenario.income_groups.size(), 0.0);
  return t;
}

}  // namespace smfg::env
