#include "environment/population_evaluator.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "common/status.h"
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

constexpr int kLanes = BatteryBlockSolver::kMaxLanes;

// Bit-for-bit equality (a -0.0 for a 0.0 or a NaN anywhere is a difference).
bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}
bool SameBits(const std::vector<std::vector<double>>& a,
              const std::vector<std::vector<double>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameBits(a[i], b[i])) return false;
  }
  return true;
}
bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// Every field of the tariffs and beliefs, bit for bit.
bool SameInputs(const Tariff& ta, const PriceBelief& ba, const Tariff& tb, const PriceBelief& bb) {
  return ta.export_rule == tb.export_rule && ta.daily_rate_rows == tb.daily_rate_rows &&
         SameBits(ta.fixed_export_credit_per_kwh, tb.fixed_export_credit_per_kwh) &&
         SameBits(ta.import_rate_per_kwh, tb.import_rate_per_kwh) &&
         SameBits(ta.fixed_charge_per_day, tb.fixed_charge_per_day) &&
         SameBits(ta.daily_import_rate_per_kwh, tb.daily_import_rate_per_kwh) &&
         SameBits(ta.daily_fixed_charge_per_day, tb.daily_fixed_charge_per_day) &&
         ba.days == bb.days && ba.buses == bb.buses && SameBits(ba.lmp_per_mwh, bb.lmp_per_mwh);
}

// Adds battery household i's outcome of day d to st: EvaluateShard's sums, in
// its order, whichever way the outcome was computed (best response or table).
void AddBatteryOutcome(const Population& pop, int i, int d, const HouseholdDayOutcome& o,
                       PopulationStats& st) {
  const int bus = pop.bus[i], group = pop.income_group[i], der = pop.der_type[i];
  const int cls = pop.class_index[i];
  for (int h = 0; h < kHoursPerDay; ++h) {
    const double net = o.import_kwh[h] - o.export_kwh[h];
    st.NetLoad(d, h, bus) += net;
    st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourChargeKw)] += o.charge_kw[h];
    st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourDischargeKw)] += o.discharge_kw[h];
    st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourSocKwh)] += o.soc_kwh[h];
    st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourNetKw)] += net;
    st.import_kwh_bus_hour[bus * kHoursPerDay + h] += o.import_kwh[h];
    st.export_kwh_bus_hour[bus * kHoursPerDay + h] += o.export_kwh[h];
    st.group_import_kwh[group] += o.import_kwh[h];
    st.group_export_kwh[group] += o.export_kwh[h];
  }
  st.group_bill_by_day[static_cast<size_t>(d) * st.groups + group] += o.energy_bill_usd;
  st.group_wear_usd[group] += o.wear_cost_usd;
  st.policy_iterations += o.policy_iterations;
  st.unconverged_household_days += o.converged ? 0 : 1;
  st.nonunique_distribution_household_days += o.unique_distribution ? 0 : 1;
}

void AddExploitability(const Exploitability& e, ExploitabilityStats& st) {
  st.household_days += 1;
  st.sum_regularised += e.regularised;
  st.sum_plain += e.plain;
  st.max_regularised = std::max(st.max_regularised, e.regularised);
  st.max_plain = std::max(st.max_plain, e.plain);
}

// A table the policy wrote for a household-day, checked before the kernel
// (which assumes valid tables) sees it.
absl::Status CheckTable(const FollowerParams& params, const FollowerDay& day, const double* table) {
  const absl::Status valid = ValidatePolicyTable(params, day.battery, table);
  if (valid.ok()) return valid;
  return absl::Status(valid.code(),
                      absl::StrCat("the follower policy's table for household ", day.household,
                                   " on day ", day.day, ": ", valid.message()));
}

}  // namespace

// The policy sources of one EvaluateShard: for the shard's battery households
// in blocks of the solver's lanes, [block][day][lane in block][s], i.e. block
// b (first member f, n members) starts at f * days * S and day d's lanes at
// that + d * n * S (the layout CopyPolicySources writes per day).
struct ShardKernel::PolicyCache {
  Tariff tariff;
  PriceBelief belief;
  std::vector<double> sources;
};

int64_t ShardKernel::policy_cache_hits() const { return policy_cache_hits_.load(); }

struct ShardKernel::ShardData {
  // Sums over the shard that no price changes: every household's count,
  // income, demand, PV and household-days, and every outcome of the
  // households without a decision except their bills.
  PopulationStats fixed;
  // Imports and exports of the households without a decision, kWh, summed
  // per (bus, income group) pair present in the shard: [pair][day][hour].
  std::vector<int> pair_bus, pair_group;
  std::vector<double> pair_import, pair_export;
  // Households with a decision, in member order, and their day scales
  // [household][day].
  std::vector<int32_t> battery_ids;
  std::vector<BatterySpec> batteries;
  std::vector<HouseholdDayScales> scales;
};

ShardKernel::ShardKernel(const Scenario& scenario)
    : scenario_(scenario),
      population_(BuildPopulation(scenario)),
      shapes_(MakeShapes(scenario.profiles)),
      days_(MakeAllDayConditions(scenario)),
      once_(new std::once_flag[scenario.shards]),
      data_(scenario.shards),
      policy_cache_(new PolicyCacheSlot[scenario.shards]) {}

ShardKernel::~ShardKernel() = default;

const ShardKernel::ShardData& ShardKernel::Data(int shard) const {
  std::call_once(once_[shard], [&] {
    const Scenario& sc = scenario_;
    const Population& pop = population_;
    const int buses = static_cast<int>(sc.network.buses.size());
    const int groups = static_cast<int>(sc.income_groups.size());
    auto data = std::make_unique<ShardData>();
    PopulationStats& st = data->fixed;
    st = PopulationStats::Zero(sc.days, buses, groups, static_cast<int>(sc.classes.size()));
    std::vector<int> pair_of(static_cast<size_t>(buses) * groups, -1);
    const size_t per_pair = static_cast<size_t>(sc.days) * kHoursPerDay;
    double demand[kHoursPerDay], pv[kHoursPerDay];
    for (int i : ShardMembers(pop.size(), sc.shards, shard)) {
      const int bus = pop.bus[i], group = pop.income_group[i], der = pop.der_type[i];
      const int cls = pop.class_index[i];
      const BatterySpec battery = BatteryOf(pop, i);
      const bool has_battery = battery.capacity_kwh > 0;
      const bool decides = has_battery && !sc.follower.myopic;
      st.group_households[group] += 1;
      st.group_annual_income_usd[group] += pop.annual_income_usd[i];
      int pair = -1;
      if (decides) {
        data->battery_ids.push_back(i);
        data->batteries.push_back(battery);
      } else {
        int& slot = pair_of[static_cast<size_t>(bus) * groups + group];
        if (slot < 0) {
          slot = static_cast<int>(data->pair_bus.size());
          data->pair_bus.push_back(bus);
          data->pair_group.push_back(group);
          data->pair_import.resize(data->pair_import.size() + per_pair, 0.0);
          data->pair_export.resize(data->pair_export.size() + per_pair, 0.0);
        }
        pair = slot;
      }
      for (int d = 0; d < sc.days; ++d) {
        const HouseholdDayScales x = DayScales(sc, pop, days_[d], i, d);
        for (int h = 0; h < kHoursPerDay; ++h) {
          demand[h] = x.daily_demand_kwh * shapes_.demand[h];
          pv[h] = x.pv_kwh_per_kw_shape * shapes_.pv[h];
          st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourDemandKwh)] += demand[h];
          st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourPvKwh)] += pv[h];
        }
        st.class_der_household_days[cls * kNumDerTypes + der] += 1;
        st.household_days += 1;
        if (has_battery) st.battery_household_days += 1;
        if (decides) {
          data->scales.push_back(x);
          continue;
        }
        const size_t at =
            static_cast<size_t>(pair) * per_pair + static_cast<size_t>(d) * kHoursPerDay;
        for (int h = 0; h < kHoursPerDay; ++h) {
          const double net = demand[h] - pv[h];
          const double imp = std::max(net, 0.0), exp = std::max(-net, 0.0);
          st.NetLoad(d, h, bus) += net;
          st.behaviour[st.BehaviourIndex(cls, der, h, kBehaviourNetKw)] += net;
          st.import_kwh_bus_hour[bus * kHoursPerDay + h] += imp;
          st.export_kwh_bus_hour[bus * kHoursPerDay + h] += exp;
          st.group_import_kwh[group] += imp;
          st.group_export_kwh[group] += exp;
          data->pair_import[at + h] += imp;
          data->pair_export[at + h] += exp;
        }
      }
    }
    data_[shard] = std::move(data);
  });
  return *data_[shard];
}

void ShardKernel::AddFixedBills(const ShardData& data, const Tariff& tariff,
                                const PriceBelief& belief, PopulationStats& st) const {
  double rate[kHoursPerDay], credit[kHoursPerDay];
  const size_t per_pair = static_cast<size_t>(scenario_.days) * kHoursPerDay;
  for (size_t k = 0; k < data.pair_bus.size(); ++k) {
    const int bus = data.pair_bus[k], group = data.pair_group[k];
    for (int d = 0; d < scenario_.days; ++d) {
      HouseholdPrices(tariff, belief, bus, d, rate, credit);
      const size_t at = k * per_pair + static_cast<size_t>(d) * kHoursPerDay;
      double bill = 0;
      for (int h = 0; h < kHoursPerDay; ++h) {
        bill += rate[h] * data.pair_import[at + h] - credit[h] * data.pair_export[at + h];
      }
      st.group_bill_by_day[static_cast<size_t>(d) * st.groups + group] += bill;
    }
  }
}

void ShardKernel::FillFollowerDay(const ShardData& data, int member, int d, const Tariff& tariff,
                                  const PriceBelief& belief, FollowerDay* out) const {
  const Population& pop = population_;
  const int i = data.battery_ids[member];
  const HouseholdDayScales& x = data.scales[static_cast<size_t>(member) * scenario_.days + d];
  out->household = i;
  out->day = d;
  out->bus = pop.bus[i];
  out->income_group = pop.income_group[i];
  out->battery = data.batteries[member];
  out->pv_kw = pop.pv_kw[i];
  out->mean_daily_demand_kwh = pop.daily_demand_kwh[i];
  out->scales = x;
  for (int h = 0; h < kHoursPerDay; ++h) {
    out->demand_kwh[h] = x.daily_demand_kwh * shapes_.demand[h];
    out->pv_kwh[h] = x.pv_kwh_per_kw_shape * shapes_.pv[h];
  }
  HouseholdPrices(tariff, belief, pop.bus[i], d, out->import_rate_per_kwh.data(),
                  out->export_credit_per_kwh.data());
}

std::vector<FollowerDay> ShardKernel::FollowerDays(int shard, const Tariff& tariff,
                                                   const PriceBelief& belief) const {
  const ShardData& data = Data(shard);
  const int n_battery = static_cast<int>(data.battery_ids.size());
  std::vector<FollowerDay> days(static_cast<size_t>(n_battery) * scenario_.days);
  for (int m = 0; m < n_battery; ++m) {
    for (int d = 0; d < scenario_.days; ++d) {
      FillFollowerDay(data, m, d, tariff, belief,
                      &days[static_cast<size_t>(m) * scenario_.days + d]);
    }
  }
  return days;
}

absl::StatusOr<PopulationStats> ShardKernel::EvaluateShard(int shard, const Tariff& tariff,
                                                           const PriceBelief& belief,
                                                           const PolicyTableWriter& policy) const {
  const ShardData& data = Data(shard);
  PopulationStats st = data.fixed;
  AddFixedBills(data, tariff, belief, st);
  const int n_battery = static_cast<int>(data.battery_ids.size());
  if (n_battery == 0) return st;
  BatteryBlockSolver solver(scenario_.follower);
  const int lanes = solver.lanes();
  const size_t table_size = solver.policy_table_size();
  std::vector<FollowerDay> lane_days(lanes);
  std::vector<double> tables(lanes * table_size);
  std::vector<HouseholdDayInput> in(lanes);
  std::vector<HouseholdDayOutcome> out(lanes);
  for (int first = 0; first < n_battery; first += lanes) {
    const int n = std::min(lanes, n_battery - first);
    solver.SetBatteries(&data.batteries[first], n);
    for (int d = 0; d < scenario_.days; ++d) {
      for (int l = 0; l < n; ++l) {
        FillFollowerDay(data, first + l, d, tariff, belief, &lane_days[l]);
        in[l] = lane_days[l].Input();
      }
      SMFG_RETURN_IF_ERROR(policy.WriteTables(lane_days.data(), n, tables.data()));
      for (int l = 0; l < n; ++l) {
        SMFG_RETURN_IF_ERROR(CheckTable(scenario_.follower, lane_days[l], &tables[l * table_size]));
      }
      solver.Follow(tables.data(), in.data(), out.data());
      for (int l = 0; l < n; ++l) {
        AddBatteryOutcome(population_, data.battery_ids[first + l], d, out[l], st);
      }
    }
  }
  return st;
}

absl::StatusOr<ExploitabilityStats> ShardKernel::ShardPolicyExploitability(
    int shard, const Tariff& tariff, const PriceBelief& belief, const PriceBelief& realised,
    const PolicyTableWriter& policy) const {
  const ShardData& data = Data(shard);
  ExploitabilityStats st;
  const int n_battery = static_cast<int>(data.battery_ids.size());
  if (n_battery == 0) return st;
  BatteryBlockSolver solver(scenario_.follower);
  const int lanes = solver.lanes();
  const size_t table_size = solver.policy_table_size();
  std::vector<FollowerDay> believed(lanes), real(lanes);
  std::vector<double> tables(lanes * table_size);
  std::vector<HouseholdDayInput> in_real(lanes);
  std::vector<Exploitability> out(lanes);
  for (int first = 0; first < n_battery; first += lanes) {
    const int n = std::min(lanes, n_battery - first);
    solver.SetBatteries(&data.batteries[first], n);
    for (int d = 0; d < scenario_.days; ++d) {
      for (int l = 0; l < n; ++l) {
        FillFollowerDay(data, first + l, d, tariff, belief, &believed[l]);
        FillFollowerDay(data, first + l, d, tariff, realised, &real[l]);
        in_real[l] = real[l].Input();
      }
      SMFG_RETURN_IF_ERROR(policy.WriteTables(believed.data(), n, tables.data()));
      for (int l = 0; l < n; ++l) {
        SMFG_RETURN_IF_ERROR(CheckTable(scenario_.follower, believed[l], &tables[l * table_size]));
      }
      solver.MeasurePolicyExploitability(tables.data(), in_real.data(), out.data());
      for (int l = 0; l < n; ++l) AddExploitability(out[l], st);
    }
  }
  return st;
}

PopulationStats ShardKernel::EvaluateShard(int shard, const Tariff& tariff,
                                           const PriceBelief& belief) const {
  const Scenario& sc = scenario_;
  const Population& pop = population_;
  const ShardData& data = Data(shard);
  PopulationStats st = data.fixed;
  AddFixedBills(data, tariff, belief, st);

  // Battery households, a block of kLanes at a time.
  const int n_battery = static_cast<int>(data.battery_ids.size());
  if (n_battery == 0) return st;
  BatteryBlockSolver solver(sc.follower);
  const int lanes = solver.lanes();
  std::vector<FollowerDay> lane_days(lanes);
  std::vector<HouseholdDayInput> in(lanes);
  std::vector<HouseholdDayOutcome> out(lanes);
  // The policy sources for ShardExploitability, unless the shard is too large.
  const int S = solver.soc_levels();
  const size_t source_values = static_cast<size_t>(n_battery) * sc.days * S;
  std::shared_ptr<PolicyCache> cache;
  if ((source_values + belief.lmp_per_mwh.size()) * sizeof(double) <= kMaxPolicyCacheBytes) {
    cache = std::make_shared<PolicyCache>();
    cache->tariff = tariff;
    cache->belief = belief;
    cache->sources.resize(source_values);
  }
  for (int first = 0; first < n_battery; first += lanes) {
    const int n = std::min(lanes, n_battery - first);
    solver.SetBatteries(&data.batteries[first], n);
    for (int d = 0; d < sc.days; ++d) {
      for (int l = 0; l < n; ++l) {
        FillFollowerDay(data, first + l, d, tariff, belief, &lane_days[l]);
        in[l] = lane_days[l].Input();
      }
      // Day d starts Newton's method from day d-1's values of the same household.
      solver.Solve(in.data(), out.data(), /*warm_start=*/d > 0);
      if (cache != nullptr) {
        solver.CopyPolicySources(
            &cache->sources[(static_cast<size_t>(first) * sc.days + static_cast<size_t>(d) * n) *
                            S]);
      }
      for (int l = 0; l < n; ++l)
        AddBatteryOutcome(pop, data.battery_ids[first + l], d, out[l], st);
    }
  }
  PolicyCacheSlot& slot = policy_cache_[shard];
  absl::MutexLock lock(&slot.mu);
  slot.last = std::move(cache);  // (none: forget an older evaluation's)
  return st;
}

ExploitabilityStats ShardKernel::ShardExploitability(int shard, const Tariff& tariff,
                                                     const PriceBelief& belief,
                                                     const PriceBelief& realised) const {
  const Scenario& sc = scenario_;
  const ShardData& data = Data(shard);
  ExploitabilityStats st;
  const int n_battery = static_cast<int>(data.battery_ids.size());
  if (n_battery == 0) return st;
  std::shared_ptr<const PolicyCache> cache;
  {
    PolicyCacheSlot& slot = policy_cache_[shard];
    absl::MutexLock lock(&slot.mu);
    cache = slot.last;
  }
  if (cache != nullptr && !SameInputs(cache->tariff, cache->belief, tariff, belief)) {
    cache = nullptr;
  }
  if (cache != nullptr) policy_cache_hits_.fetch_add(1);
  BatteryBlockSolver solver(sc.follower);
  const int lanes = solver.lanes();
  const int S = solver.soc_levels();
  std::vector<FollowerDay> believed(lanes), real(lanes);
  std::vector<HouseholdDayInput> in_belief(lanes), in_real(lanes);
  std::vector<Exploitability> out(lanes);
  for (int first = 0; first < n_battery; first += lanes) {
    const int n = std::min(lanes, n_battery - first);
    solver.SetBatteries(&data.batteries[first], n);
    for (int d = 0; d < sc.days; ++d) {
      for (int l = 0; l < n; ++l) {
        FillFollowerDay(data, first + l, d, tariff, belief, &believed[l]);
        FillFollowerDay(data, first + l, d, tariff, realised, &real[l]);
        in_belief[l] = believed[l].Input();
        in_real[l] = real[l].Input();
      }
      if (cache != nullptr) {
        // The belief problem's answer is EvaluateShard's: replay it.
        solver.MeasureExploitabilityFrom(
            &cache
                 ->sources[(static_cast<size_t>(first) * sc.days + static_cast<size_t>(d) * n) * S],
            in_belief.data(), in_real.data(), out.data());
      } else {
        // The belief problem of day d starts from day d-1's belief values, as
        // EvaluateShard's did.
        solver.MeasureExploitability(in_belief.data(), in_real.data(), out.data(),
                                     /*warm_start=*/d > 0);
      }
      for (int l = 0; l < n; ++l) AddExploitability(out[l], st);
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
