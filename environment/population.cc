#include "environment/population.h"

#include <algorithm>
#include <cmath>

namespace smfg::env {

double Draw(const Distribution& d, CounterRng& rng) {
  double v = d.a;
  switch (d.kind) {
    case Distribution::Kind::kConstant:
      return d.a;  // not clipped: a constant is what the user wrote
    case Distribution::Kind::kUniform:
      v = rng.Uniform(d.a, d.b);
      break;
    case Distribution::Kind::kNormal:
      v = d.a + d.b * rng.Normal();
      break;
    case Distribution::Kind::kLogNormal: {
      // Moment matching: the value (not its log) has mean a and std b.
      const double sigma2 = std::log1p((d.b * d.b) / (d.a * d.a));
      const double mu = std::log(d.a) - 0.5 * sigma2;
      v = std::exp(mu + std::sqrt(sigma2) * rng.Normal());
      break;
    }
  }
  return std::clamp(v, d.min_value, d.max_value);
}

Population BuildPopulation(const Scenario& scenario) {
  Population p;
  int64_t total = 0;
  for (const HouseholdClass& c : scenario.classes) {
    for (int n : c.households_per_bus) total += n;
  }
  auto reserve = [total](auto& v) { v.reserve(total); };
  reserve(p.bus), reserve(p.income_group), reserve(p.class_index), reserve(p.der_type);
  reserve(p.annual_income_usd), reserve(p.daily_demand_kwh), reserve(p.pv_kw);
  reserve(p.battery_kwh), reserve(p.battery_kw), reserve(p.charge_efficiency);
  reserve(p.discharge_efficiency);

  for (size_t ci = 0; ci < scenario.classes.size(); ++ci) {
    const HouseholdClass& c = scenario.classes[ci];
    for (size_t b = 0; b < c.households_per_bus.size(); ++b) {
      for (int k = 0; k < c.households_per_bus[b]; ++k) {
        const uint64_t id = p.bus.size();
        // Draw order is fixed; every household consumes the same draws whatever
        // its DER type, so adding a field never shifts another household's draws.
        CounterRng rng(scenario.seed, RngPurpose::kHouseholdParams, id);
        const auto der = static_cast<DerType>(rng.Categorical(c.der_share, kNumDerTypes));
        const double income = Draw(c.annual_income_usd, rng);
        const double demand = Draw(c.daily_demand_kwh, rng);
        const double pv = Draw(c.pv_kw, rng);
        const double e_kwh = Draw(c.battery_kwh, rng);
        const double p_kw = Draw(c.battery_kw, rng);
        const double eta_c = Draw(c.charge_efficiency, rng);
        const double eta_d = Draw(c.discharge_efficiency, rng);
        const bool has_pv = der != DerType::kConsumer;
        const bool has_battery = der == DerType::kSolarBattery;
        p.bus.push_back(static_cast<int32_t>(b));
        p.income_group.push_back(c.income_group);
        p.class_index.push_back(static_cast<int32_t>(ci));
        p.der_type.push_back(static_cast<uint8_t>(der));
        p.annual_income_usd.push_back(income);
        p.daily_demand_kwh.push_back(demand);
        p.pv_kw.push_back(has_pv ? pv : 0.0);
        p.battery_kwh.push_back(has_battery ? e_kwh : 0.0);
        p.battery_kw.push_back(has_battery ? p_kw : 0.0);
        p.charge_efficiency.push_back(has_battery ? eta_c : 1.0);
        p.discharge_efficiency.push_back(has_battery ? eta_d : 1.0);
      }
    }
  }
  return p;
}

std::vector<int32_t> ShardMembers(int num_households, int shards, int shard) {
  std::vector<int32_t> members;
  members.reserve(num_households / shards + 1);
  for (int i = shard; i < num_households; i += shards) members.push_back(i);
  return members;
}

namespace {

template <typename Array>
void NormaliseToSum(Array& a, double target) {
  double sum = 0;
  for (double v : a) sum += v;
  for (double& v : a) v = sum > 0 ? v * target / sum : target / a.size();
}

}  // namespace

HourlyShapes MakeShapes(const ProfileParams& profiles) {
  HourlyShapes s;
  for (int h = 0; h < kHoursPerDay; ++h) {
    s.demand[h] = profiles.demand_shape[h];
    s.exogenous[h] = profiles.exogenous_shape[h];
    // Half-sine between sunrise and sunset, sampled at the hour's midpoint.
    const double t = h + 0.5;
    const double span = profiles.sunset_hour - profiles.sunrise_hour;
    const double x = (t - profiles.sunrise_hour) / span;
    s.pv[h] = (x > 0 && x < 1) ? std::sin(M_PI * x) : 0.0;
  }
  NormaliseToSum(s.demand, 1.0);
  NormaliseToSum(s.exogenous, kHoursPerDay);
  NormaliseToSum(s.pv, profiles.pv_clear_sky_kwh_per_kw_day * profiles.pv_system_efficiency);
  return s;
}

DayConditions MakeDayConditions(const Scenario& scenario, int day) {
  const ProfileParams& p = scenario.profiles;
  CounterRng rng(scenario.seed, RngPurpose::kDayWeather, static_cast<uint64_t>(day));
  DayConditions c;
  c.clearness = rng.Uniform(p.min_clearness, 1.0);
  // A single cosine is the simplest shape with one annual cycle.
  const double calendar_day = (scenario.first_day_of_year + day) % 365;
  const double seasonal =
      1.0 + p.seasonal_demand_amplitude *
                std::cos(2.0 * M_PI * (calendar_day - p.seasonal_peak_day) / 365.0);
  const double noise = std::max(0.5, 1.0 + p.daily_demand_noise * rng.Normal());
  c.demand_factor = seasonal * noise;
  return c;
}

double ExogenousLoadMw(const Scenario& scenario, const HourlyShapes& shapes,
                       const DayConditions& day, int bus, int hour) {
  return scenario.exogenous_mean_mw[bus] * shapes.exogenous[hour] * day.demand_factor;
}

HouseholdDayScales DayScales(const Scenario& scenario, const Population& population,
                             const DayConditions& day, int household, int day_index) {
  const double sd = scenario.profiles.household_demand_noise;
  double noise = 1.0;
  if (sd > 0) {
    CounterRng rng(scenario.seed, RngPurpose::kHouseholdDayNoise, static_cast<uint64_t>(household),
                   static_cast<uint64_t>(day_index));
    const double sigma2 = std::log1p(sd * sd);
    noise = std::exp(-0.5 * sigma2 + std::sqrt(sigma2) * rng.Normal());
  }
  return {population.daily_demand_kwh[household] * day.demand_factor * noise,
          population.pv_kw[household] * day.clearness};
}

void HouseholdDayProfile(const Scenario& scenario, const HourlyShapes& shapes,
                         const Population& population, const DayConditions& day, int household,
                         int day_index, double* demand_kwh, double* pv_kwh) {
  const HouseholdDayScales x = DayScales(scenario, population, day, household, day_index);
  for (int h = 0; h < kHoursPerDay; ++h) {
    demand_kwh[h] = x.daily_demand_kwh * shapes.demand[h];
    pv_kwh[h] = x.pv_kwh_per_kw_shape * shapes.pv[h];
  }
}

std::vector<DayConditions> MakeAllDayConditions(const Scenario& scenario) {
  std::vector<DayConditions> days;
  days.reserve(scenario.days);
  for (int d = 0; d < scenario.days; ++d) days.push_back(MakeDayConditions(scenario, d));
  return days;
}

}  // namespace smfg::env
