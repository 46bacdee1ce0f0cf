// Aggregates of the follower population: everything the leader and the market
// need, and nothing per household (DESIGN §3: payloads stay small).
//
// Per-shard stats are computed independently and reduced with Add() in shard-id
// order, so the totals do not depend on how shards were distributed (DESIGN §4).
#ifndef SMFG_ENVIRONMENT_POPULATION_STATS_H_
#define SMFG_ENVIRONMENT_POPULATION_STATS_H_

#include <vector>

#include "environment/scenario.h"

namespace smfg::env {

// LMPs the followers believe, $/MWh, indexed [day][hour][bus].
struct PriceBelief {
  int days = 0;
  int buses = 0;
  std::vector<double> lmp_per_mwh;

  static PriceBelief Constant(int days, int buses, double value) {
    return {days, buses,
            std::vector<double>(static_cast<size_t>(days) * kHoursPerDay * buses, value)};
  }
  double At(int day, int hour, int bus) const {
    return lmp_per_mwh[(static_cast<size_t>(day) * kHoursPerDay + hour) * buses + bus];
  }
};

// Behaviour fields recorded per (class, DER type, hour), summed over
// household-days; divide by household_days of that (class, DER type).
enum BehaviourField {
  kBehaviourDemandKwh = 0,
  kBehaviourPvKwh,
  kBehaviourChargeKw,
  kBehaviourDischargeKw,
  kBehaviourSocKwh,
  kBehaviourNetKw,
  kNumBehaviourFields
};

struct PopulationStats {
  int days = 0, buses = 0, groups = 0, classes = 0;
  // Expected net household demand (imports - exports), kW = kWh per hour,
  // summed over the simulated households: [day][hour][bus].
  std::vector<double> net_load_kw;
  // Per income group, summed over households and days:
  std::vector<double> group_wear_usd;
  std::vector<double> group_import_kwh;
  std::vector<double> group_export_kwh;
  // Energy bills (sum_h rate * import - credit * export) by [day][group],
  // summed over the group's households.
  std::vector<double> group_bill_by_day;
  // Per income group, summed over households (not days):
  std::vector<double> group_households;
  std::vector<double> group_annual_income_usd;
  // Imports and exports by [bus][hour], summed over households and days (kWh).
  std::vector<double> import_kwh_bus_hour;
  std::vector<double> export_kwh_bus_hour;
  // [class][der][hour][field], summed over household-days.
  std::vector<double> behaviour;
  std::vector<double> class_der_household_days;  // [class][der]
  // Solver health.
  long long household_days = 0;
  long long battery_household_days = 0;
  long long policy_iterations = 0;
  long long unconverged_household_days = 0;
  // Battery household-days whose midnight SoC distribution was not unique
  // (household_solver.h: the one reached from an empty battery is used).
  long long nonunique_distribution_household_days = 0;

  static PopulationStats Zero(int days, int buses, int groups, int classes);
  // Elementwise sum; both must have the same shape.
  void Add(const PopulationStats& other);

  // Group g's energy bills summed over all days, $.
  double GroupBill(int group) const {
    double total = 0;
    for (int d = 0; d < days; ++d)
      total += group_bill_by_day[static_cast<size_t>(d) * groups + group];
    return total;
  }

  double& NetLoad(int day, int hour, int bus) {
    return net_load_kw[(static_cast<size_t>(day) * kHoursPerDay + hour) * buses + bus];
  }
  double NetLoad(int day, int hour, int bus) const {
    return net_load_kw[(static_cast<size_t>(day) * kHoursPerDay + hour) * buses + bus];
  }
  size_t BehaviourIndex(int cls, int der, int hour, int field) const {
    return ((static_cast<size_t>(cls) * kNumDerTypes + der) * kHoursPerDay + hour) *
               kNumBehaviourFields +
           field;
  }
};

// Exploitability over a set of battery household-days ($/day, see
// household_solver.h). Households without storage have no decision and are
// not counted.
struct ExploitabilityStats {
  long long household_days = 0;
  double sum_regularised = 0.0, max_regularised = 0.0;
  double sum_plain = 0.0, max_plain = 0.0;
  void Add(const ExploitabilityStats& other);
  double MeanRegularised() const { return household_days ? sum_regularised / household_days : 0; }
  double MeanPlain() const { return household_days ? sum_plain / household_days : 0; }
};

// The simulated households' money over days [first_day, end_day), in $ (not
// scaled by households_represented): energy bills, fixed charges, and the
// wholesale cost of their net load at `lmp` — the utility buys its customers'
// net load at the bus LMP of the hour.
struct HouseholdMoney {
  double bills = 0.0;
  double fixed_charges = 0.0;
  double wholesale = 0.0;
};
HouseholdMoney SumHouseholdMoney(const PopulationStats& stats, const Tariff& tariff,
                                 const PriceBelief& lmp, int first_day, int end_day);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_POPULATION_STATS_H_
