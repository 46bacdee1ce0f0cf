// The household population (struct of arrays) and its hourly demand and PV
// profiles. See docs/MODEL.md §Households and §Profiles for the equations.
//
// Household ids are dense, 0..N-1, in the order class-major, then bus, then the
// index within (class, bus). Every parameter of household i is a pure function of
// (scenario.seed, i): CounterRng(seed, kHouseholdParams, i). Every day-level
// quantity is a pure function of (seed, day) and every household-day quantity of
// (seed, household, day), so any shard can be rebuilt anywhere (DESIGN §4).
#ifndef SMFG_ENVIRONMENT_POPULATION_H_
#define SMFG_ENVIRONMENT_POPULATION_H_

#include <array>
#include <cstdint>
#include <vector>

#include "common/rng.h"
#include "environment/scenario.h"

namespace smfg::env {

// One entry per household; all vectors have size() entries.
struct Population {
  std::vector<int32_t> bus;
  std::vector<int32_t> income_group;
  std::vector<int32_t> class_index;
  std::vector<uint8_t> der_type;  // DerType
  std::vector<double> annual_income_usd;
  std::vector<double> daily_demand_kwh;  // mean over the year
  std::vector<double> pv_kw;             // 0 for consumers
  std::vector<double> battery_kwh;       // 0 unless kSolarBattery
  std::vector<double> battery_kw;
  std::vector<double> charge_efficiency;
  std::vector<double> discharge_efficiency;

  int size() const { return static_cast<int>(bus.size()); }
};

// Draws a value from `d` with `rng` (see Distribution for the semantics).
double Draw(const Distribution& d, CounterRng& rng);

// Builds the whole population. Requires a validated scenario.
Population BuildPopulation(const Scenario& scenario);

// The households of logical shard `shard` are ids i with i % shards == shard;
// interleaving balances classes and DER types across shards.
std::vector<int32_t> ShardMembers(int num_households, int shards, int shard);

// Day-level conditions shared by everyone.
struct DayConditions {
  double clearness = 1.0;      // PV clearness index in [min_clearness, 1]
  double demand_factor = 1.0;  // seasonal x day noise, multiplies all demand
};

// Hour-by-hour shapes derived from ProfileParams, normalised.
struct HourlyShapes {
  std::array<double, kHoursPerDay> demand{};     // residential, sums to 1
  std::array<double, kHoursPerDay> exogenous{};  // non-residential, mean 1
  std::array<double, kHoursPerDay> pv{};         // kWh per kW on a clear day
};

HourlyShapes MakeShapes(const ProfileParams& profiles);
DayConditions MakeDayConditions(const Scenario& scenario, int day);
// MakeDayConditions of days 0 .. scenario.days - 1.
std::vector<DayConditions> MakeAllDayConditions(const Scenario& scenario);

// Exogenous load in MW at `bus` in `hour` of a day.
double ExogenousLoadMw(const Scenario& scenario, const HourlyShapes& shapes,
                       const DayConditions& day, int bus, int hour);

// The two household-day scalars behind HouseholdDayProfile, kWh per day:
//   daily_demand = daily_demand_kwh[i] * demand_factor * noise(i, d)
//   pv           = pv_kw[i] * clearness
struct HouseholdDayScales {
  double daily_demand_kwh = 0.0;
  double pv_kwh_per_kw_shape = 0.0;  // multiplies shapes.pv[h]
};
HouseholdDayScales DayScales(const Scenario& scenario, const Population& population,
                             const DayConditions& day, int household, int day_index);

// Household-day demand and PV output in kWh per hour:
//   demand[h] = daily_demand * demand_factor * noise(i, d) * shape.demand[h]
//   pv[h]     = pv_kw * shape.pv[h] * clearness
// noise is lognormal with mean 1 and std household_demand_noise. Equal, to the
// bit, to daily_demand * shape.demand[h] and pv * shape.pv[h] of DayScales.
void HouseholdDayProfile(const Scenario& scenario, const HourlyShapes& shapes,
                         const Population& population, const DayConditions& day, int household,
                         int day_index, double* demand_kwh, double* pv_kwh);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_POPULATION_H_
