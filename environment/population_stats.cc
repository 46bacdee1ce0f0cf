#include "environment/population_stats.h"

#include <algorithm>

namespace smfg::env {

PopulationStats PopulationStats::Zero(int days, int buses, int groups, int classes) {
  PopulationStats s;
  s.days = days;
  s.buses = buses;
  s.groups = groups;
  s.classes = classes;
  s.net_load_kw.assign(static_cast<size_t>(days) * kHoursPerDay * buses, 0.0);
  for (auto* v : {&s.group_wear_usd, &s.group_import_kwh, &s.group_export_kwh, &s.group_households,
                  &s.group_annual_income_usd}) {
    v->assign(groups, 0.0);
  }
  s.group_bill_by_day.assign(static_cast<size_t>(days) * groups, 0.0);
  s.import_kwh_bus_hour.assign(static_cast<size_t>(buses) * kHoursPerDay, 0.0);
  s.export_kwh_bus_hour.assign(static_cast<size_t>(buses) * kHoursPerDay, 0.0);
  s.behaviour.assign(
      static_cast<size_t>(classes) * kNumDerTypes * kHoursPerDay * kNumBehaviourFields, 0.0);
  s.class_der_household_days.assign(static_cast<size_t>(classes) * kNumDerTypes, 0.0);
  return s;
}

namespace {
void AddInto(std::vector<double>& to, const std::vector<double>& from) {
  for (size_t i = 0; i < to.size(); ++i) to[i] += from[i];
}
}  // namespace

void PopulationStats::Add(const PopulationStats& o) {
  AddInto(net_load_kw, o.net_load_kw);
  AddInto(group_wear_usd, o.group_wear_usd);
  AddInto(group_import_kwh, o.group_import_kwh);
  AddInto(group_export_kwh, o.group_export_kwh);
  AddInto(group_households, o.group_households);
  AddInto(group_annual_income_usd, o.group_annual_income_usd);
  AddInto(group_bill_by_day, o.group_bill_by_day);
  AddInto(import_kwh_bus_hour, o.import_kwh_bus_hour);
  AddInto(export_kwh_bus_hour, o.export_kwh_bus_hour);
  AddInto(behaviour, o.behaviour);
  AddInto(class_der_household_days, o.class_der_household_days);
  household_days += o.household_days;
  battery_household_days += o.battery_household_days;
  policy_iterations += o.policy_iterations;
  unconverged_household_days += o.unconverged_household_days;
  nonunique_distribution_household_days += o.nonunique_distribution_household_days;
}

HouseholdMoney SumHouseholdMoney(const PopulationStats& st, const Tariff& tariff,
                                 const PriceBelief& lmp, int first_day, int end_day) {
  HouseholdMoney m;
  for (int d = first_day; d < end_day; ++d) {
    for (int g = 0; g < st.groups; ++g) {
      m.bills += st.group_bill_by_day[static_cast<size_t>(d) * st.groups + g];
      m.fixed_charges += tariff.FixedCharge(g, d) * st.group_households[g];
    }
  }
  const size_t per_day = static_cast<size_t>(kHoursPerDay) * st.buses;
  for (size_t k = first_day * per_day; k < end_day * per_day; ++k) {
    m.wholesale += lmp.lmp_per_mwh[k] * st.net_load_kw[k] / 1000.0;
  }
  return m;
}

void ExploitabilityStats::Add(const ExploitabilityStats& o) {
  household_days += o.household_days;
  sum_regularised += o.sum_regularised;
  sum_plain += o.sum_plain;
  max_regularised = std::max(max_regularised, o.max_regularised);
  max_plain = std::max(max_plain, o.max_plain);
}

}  // namespace smfg::env
