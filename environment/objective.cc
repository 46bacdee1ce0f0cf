#include "environment/objective.h"

#include <algorithm>
#include <cmath>

namespace smfg::env {
namespace {

// Sums over a set of days, the inputs every term is built from.
struct DaySums {
  std::vector<double> spending;  // per group: bills + fixed charges, $
  double revenue = 0, wholesale = 0, generation_cost = 0, generated_mwh = 0;
  double lmp_sum = 0, lmp_sum2 = 0, lmp_count = 0;
};

void AddDay(const Scenario& sc, const Tariff& tariff, const InnerResult& in, int d, DaySums* s) {
  const PopulationStats& st = in.stats;
  const double scale = sc.households_represented;
  s->spending.resize(st.groups, 0.0);
  for (int g = 0; g < st.groups; ++g) {
    const double spend = st.group_bill_by_day[static_cast<size_t>(d) * st.groups + g] +
                         tariff.FixedCharge(g, d) * st.group_households[g];
    s->spending[g] += spend;
    s->revenue += scale * spend;
  }
  s->wholesale += scale * SumHouseholdMoney(st, tariff, in.clearing.lmp, d, d + 1).wholesale;
  const size_t per_day = static_cast<size_t>(kHoursPerDay) * st.buses;
  for (size_t k = d * per_day; k < (d + 1) * per_day; ++k) {
    const double lmp = in.clearing.lmp.lmp_per_mwh[k];
    s->lmp_sum += lmp;
    s->lmp_sum2 += lmp * lmp;
    s->lmp_count += 1;
    s->generated_mwh += in.clearing.bus_load_mw[k];  // lossless: generation = load
  }
  s->generation_cost += in.clearing.generation_cost_usd[d];
}

ObjectiveTerms Terms(const Scenario& sc, const PopulationStats& st, const DaySums& s, int days,
                     const ObjectiveWeights& w) {
  ObjectiveTerms t;
  double lo = 1e300, hi = -1e300, mean = 0;
  for (int g = 0; g < st.groups; ++g) {
    const double eei = 365.0 * s.spending[g] / days / st.group_annual_income_usd[g];
    t.eei.push_back(eei);
    lo = std::min(lo, eei);
    hi = std::max(hi, eei);
    mean += eei / st.groups;
  }
  if (w.spread_is_std_dev) {
    double var = 0;
    for (double e : t.eei) var += (e - mean) * (e - mean) / st.groups;
    t.eei_spread = std::sqrt(var);
  } else {
    t.eei_spread = hi - lo;
  }
  const double cost = s.wholesale + sc.utility_fixed_cost_per_day * days;
  t.recovery_gap = cost != 0 ? (cost - s.revenue) / cost : 0.0;
  const double gap = w.penalize_over_recovery ? t.recovery_gap : std::max(t.recovery_gap, 0.0);
  const double lmp_mean = s.lmp_sum / s.lmp_count;
  t.lmp_std = std::sqrt(std::max(0.0, s.lmp_sum2 / s.lmp_count - lmp_mean * lmp_mean));
  t.generation_cost_per_mwh = s.generated_mwh > 0 ? s.generation_cost / s.generated_mwh : 0.0;
  t.objective = -w.equity * t.eei_spread - w.revenue * gap * gap - w.volatility * t.lmp_std -
                w.cost * t.generation_cost_per_mwh;
  if (w.recovery_constraint_tolerance >= 0) {
    t.objective -= kRecoveryConstraintPenalty * w.revenue *
                   std::max(0.0, std::fabs(t.recovery_gap) - w.recovery_constraint_tolerance);
  }
  return t;
}

}  // namespace

ObjectiveTerms PoolObjective(const Scenario& scenario, const Tariff& tariff,
                             const InnerResult& inner, const ObjectiveWeights& weights) {
  DaySums s;
  for (int d = 0; d < scenario.days; ++d) AddDay(scenario, tariff, inner, d, &s);
  return Terms(scenario, inner.stats, s, scenario.days, weights);
}

std::vector<ObjectiveTerms> DailyObjectives(const Scenario& scenario, const Tariff& tariff,
                                            const InnerResult& inner,
                                            const ObjectiveWeights& weights) {
  std::vector<ObjectiveTerms> out;
  out.reserve(scenario.days);
  for (int d = 0; d < scenario.days; ++d) {
    DaySums s;
    AddDay(scenario, tariff, inner, d, &s);
    out.push_back(Terms(scenario, inner.stats, s, 1, weights));
  }
  return out;
}

}  // namespace smfg::env
