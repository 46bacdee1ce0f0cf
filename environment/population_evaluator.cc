#include "environment/population_evaluator.h"

#include <algorithm>
#include <utility>

#include "common/parallel.h"
#include "environment/household_solver.h"

namespace smfg::env {

void HouseholdPrices(const Tariff& tariff, const PriceBelief& belief, int bus, int day,
                     double* import_rate, double* export_credit) {
  const std::vector<double>& rates = tariff.Rates(bus, day);
  for (int h = 0; h < kHoursPerDay; ++h) {
    import_rate[h] = rates[h];
    switch (tariff.export_rule) {
      case ExportRule::kNetBillingLmp:
        export_credit[h] = belief.At(day, h, bus) / 1000.0;
        break;
      case ExportRule::kNetMetering:
        export_credit[h] = rates[h];
        break;
      case ExportRule::kFixed:
        export_credit[h] = tariff.fixed_export_credit_per_kwh;
        break;
    }
  }
}

namespace {

BatterySpec BatteryOf(const Population& p, int i) {
  return {p.battery_kwh[i], p.battery_kw[i], p.charge_efficiency[i], p.discharge_efficiency[i]};
}

}  // namespace

ShardKernel::ShardKernel(const Scenario& scenario)
    : scenario_(scenario),
      population_(BuildPopulation(scenario)),
      shapes_(MakeShapes(scenario.profiles)),
      days_(MakeAllDayConditions(scenario)) {}

PopulationStats ShardKernel::EvaluateShard(int shard, const Tariff& tariff,
                                           const PriceBelief& belief) const {
  const Scenario& sc = scenario_;
  const Population& pop = population_;
  PopulationStats st = PopulationStats::Zero(sc.days, static_cast<int>(sc.network.buses.size()),
                                             static_cast<int>(sc.income_groups.size()),
                                             static_cast<int>(sc.classes.size()));
  HouseholdSolver solver(sc.follower);
  double demand[kHoursPerDay], pv[kHoursPerDay], rate[kHoursPerDay], credit[kHoursPerDay];
  HouseholdDayOutcome out;
  for (int i : ShardMembers(pop.size(), sc.shards, shard)) {
    const int bus = pop.bus[i], group = pop.income_group[i], der = pop.der_type[i];
    const BatterySpec battery = BatteryOf(pop, i);
    const bool has_battery = battery.capacity_kwh > 0;
    st.group_households[group] += 1;
    st.group_annual_income_usd[group] += pop.annual_income_usd[i];
    for (int d = 0; d < sc.days; ++d) {
      HouseholdDayProfile(sc, shapes_, pop, days_[d], i, d, demand, pv);
      HouseholdPrices(tariff, belief, bus, d, rate, credit);
      // Day d starts Newton's method from day d-1's values of the same household.
      solver.Solve({demand, pv, rate, credit}, battery, &out, /*warm_start=*/d > 0);
      for (int h = 0; h < kHoursPerDay; ++h) {
        const double net = out.import_kwh[h] - out.export_kwh[h];
        st.NetLoad(d, h, bus) += net;
        const double fields[kNumBehaviourFields] = {
            demand[h], pv[h], out.charge_kw[h], out.discharge_kw[h], out.soc_kwh[h], net};
        for (int f = 0; f < kNumBehaviourFields; ++f) {
          st.behaviour[st.BehaviourIndex(pop.class_index[i], der, h, f)] += fields[f];
        }
        st.import_kwh_bus_hour[bus * kHoursPerDay + h] += out.import_kwh[h];
        st.export_kwh_bus_hour[bus * kHoursPerDay + h] += out.export_kwh[h];
        st.group_import_kwh[group] += out.import_kwh[h];
        st.group_export_kwh[group] += out.export_kwh[h];
      }
      st.group_bill_by_day[static_cast<size_t>(d) * st.groups + group] += out.energy_bill_usd;
      st.group_wear_usd[group] += out.wear_cost_usd;
      st.class_der_household_days[pop.class_index[i] * kNumDerTypes + der] += 1;
      st.household_days += 1;
      if (has_battery) {
        st.battery_household_days += 1;
        st.policy_iterations += out.policy_iterations;
        st.unconverged_household_days += out.converged ? 0 : 1;
      }
    }
  }
  return st;
}

ExploitabilityStats ShardKernel::ShardExploitability(int shard, const Tariff& tariff,
                                                     const PriceBelief& belief,
                                                     const PriceBelief& realised) const {
  const Scenario& sc = scenario_;
  const Population& pop = population_;
  HouseholdSolver solver(sc.follower);
  ExploitabilityStats st;
  double demand[kHoursPerDay], pv[kHoursPerDay];
  double rate[kHoursPerDay], credit_belief[kHoursPerDay], credit_real[kHoursPerDay];
  for (int i : ShardMembers(pop.size(), sc.shards, shard)) {
    const BatterySpec battery = BatteryOf(pop, i);
    if (battery.capacity_kwh <= 0 || sc.follower.myopic) continue;
    for (int d = 0; d < sc.days; ++d) {
      HouseholdDayProfile(sc, shapes_, pop, days_[d], i, d, demand, pv);
      HouseholdPrices(tariff, belief, pop.bus[i], d, rate, credit_belief);
      HouseholdPrices(tariff, realised, pop.bus[i], d, rate, credit_real);
      const Exploitability e = solver.MeasureExploitability(
          {demand, pv, rate, credit_belief}, {demand, pv, rate, credit_real}, battery);
      st.household_days += 1;
      st.sum_regularised += e.regularised;
      st.sum_plain += e.plain;
      st.max_regularised = std::max(st.max_regularised, e.regularised);
      st.max_plain = std::max(st.max_plain, e.plain);
    }
  }
  return st;
}

LocalPopulationEvaluator::LocalPopulationEvaluator(const Scenario& scenario, int threads)
    : kernel_(scenario), threads_(ResolveThreads(threads)) {}

absl::StatusOr<PopulationStats> LocalPopulationEvaluator::Evaluate(const Tariff& tariff,
                                                                   const PriceBelief& belief) {
  const int shards = kernel_.scenario().shards;
  std::vector<PopulationStats> parts(shards);
  ParallelFor(shards, threads_,
              [&](int s) { parts[s] = kernel_.EvaluateShard(s, tariff, belief); });
  return ReduceShards(std::move(parts));
}

absl::StatusOr<ExploitabilityStats> LocalPopulationEvaluator::Exploitability(
    const Tariff& tariff, const PriceBelief& belief, const PriceBelief& realised) {
  const int shards = kernel_.scenario().shards;
  std::vector<ExploitabilityStats> parts(shards);
  ParallelFor(shards, threads_,
              [&](int s) { parts[s] = kernel_.ShardExploitability(s, tariff, belief, realised); });
  return ReduceShards(parts);
}

PopulationStats ReduceShards(std::vector<PopulationStats> parts) {
  PopulationStats total = std::move(parts[0]);
  for (size_t s = 1; s < parts.size(); ++s) total.Add(parts[s]);
  return total;
}

ExploitabilityStats ReduceShards(const std::vector<ExploitabilityStats>& parts) {
  ExploitabilityStats total;
  for (const ExploitabilityStats& p : parts) total.Add(p);
  return total;
}

}  // namespace smfg::env
