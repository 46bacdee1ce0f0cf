#include "environment/market.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/parallel.h"
#include "common/status.h"

namespace smfg::env {

absl::StatusOr<std::unique_ptr<MarketClearing>> MarketClearing::Create(
    const Scenario& scenario, const HourlyShapes& shapes, const std::vector<DayConditions>& days,
    int threads) {
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("market clearing threads: must be at least 1, got ", threads));
  }
  std::vector<std::unique_ptr<DcOpf>> opfs;
  for (int t = 0; t < std::min(threads, std::max(scenario.days, 1)); ++t) {
    SMFG_ASSIGN_OR_RETURN(std::unique_ptr<DcOpf> opf, DcOpf::Create(scenario.network));
    opfs.push_back(std::move(opf));
  }
  return std::unique_ptr<MarketClearing>(
      new MarketClearing(scenario, shapes, days, std::move(opfs)));
}

MarketClearing::MarketClearing(const Scenario& scenario, const HourlyShapes& shapes,
                               const std::vector<DayConditions>& days,
                               std::vector<std::unique_ptr<DcOpf>> opfs)
    : scenario_(scenario), shapes_(shapes), days_(days), opfs_(std::move(opfs)) {
  counters_.hours_per_opf_method.assign(opfs_[0]->method_names().size(), 0);
}

std::string MarketClearing::CountersSummary() const {
  std::vector<std::string> per_method;
  for (size_t i = 0; i < counters_.hours_per_opf_method.size(); ++i) {
    per_method.push_back(absl::StrCat(opf_methods()[i], ": ", counters_.hours_per_opf_method[i]));
  }
  return absl::StrCat("market clearing: ", counters_.hours_cleared, " day-hours, ",
                      counters_.opf_fallback_hours, " by a fallback method (",
                      absl::StrJoin(per_method, ", "), "), ", counters_.opf_clamped_hours,
                      " clamped within tolerance");
}

absl::StatusOr<ClearingResult> MarketClearing::Clear(const PopulationStats& stats) {
  const Network& net = scenario_.network;
  const int buses = static_cast<int>(net.buses.size());
  const int days = scenario_.days;
  const size_t day_hours = static_cast<size_t>(days) * kHoursPerDay;
  // Every day-hour's load and answer, solved in parallel (thread t clears days
  // t, t + threads, ... with its own DcOpf), then reduced below in day-hour
  // order exactly as one thread would.
  std::vector<double> load(day_hours * buses), household_mw(day_hours), system_mw(day_hours);
  std::vector<absl::StatusOr<DispatchResult>> solved(day_hours);
  const int threads = static_cast<int>(opfs_.size());
  ParallelFor(threads, threads, [&](int t) {
    DcOpf& opf = *opfs_[t];
    for (int d = t; d < days; d += threads) {
      for (int h = 0; h < kHoursPerDay; ++h) {
        const size_t dh = static_cast<size_t>(d) * kHoursPerDay + h;
        double* bus_load = &load[dh * buses];
        double household = 0, system = 0;
        for (int b = 0; b < buses; ++b) {
          const double hh = scenario_.households_represented * stats.NetLoad(d, h, b) / 1000.0;
          bus_load[b] = ExogenousLoadMw(scenario_, shapes_, days_[d], b, h) + hh;
          household += hh;
          system += bus_load[b];
        }
        household_mw[dh] = household;
        system_mw[dh] = system;
        solved[dh] = opf.Solve(absl::MakeConstSpan(bus_load, buses), h);
      }
    }
  });

  ClearingResult r;
  r.lmp = PriceBelief::Constant(days, buses, 0.0);
  r.bus_load_mw = std::move(load);
  r.generation_cost_usd.assign(days, 0.0);
  r.congested_hours_per_line.assign(net.lines.size(), 0);
  r.hours_per_opf_method.assign(opf_methods().size(), 0);
  for (int d = 0; d < days; ++d) {
    for (int h = 0; h < kHoursPerDay; ++h) {
      const size_t dh = static_cast<size_t>(d) * kHoursPerDay + h;
      if (!solved[dh].ok()) {
        return Annotate(solved[dh].status(), absl::StrCat("market clearing, day ", d, " hour ", h));
      }
      const DispatchResult& x = *solved[dh];
      const size_t base = dh * buses;
      for (int b = 0; b < buses; ++b) r.lmp.lmp_per_mwh[base + b] = x.lmp_per_mwh[b];
      r.generation_cost_usd[d] += x.generation_cost_per_hour;
      for (size_t g = 0; g < net.generators.size(); ++g) {
        if (net.generators[g].renewable) {
          r.renewable_mwh += x.generation_mw[g];
          r.renewable_available_mwh += net.generators[g].AvailableMw(h);
        } else {
          r.fossil_mwh += x.generation_mw[g];
        }
      }
      for (size_t l = 0; l < net.lines.size(); ++l) {
        if (x.line_shadow_price[l] > 1e-9) ++r.congested_hours_per_line[l];
      }
      ++r.hours_per_opf_method[x.method];
      if (x.method > 0) ++r.opf_fallback_hours;
      if (x.clamped) ++r.opf_clamped_hours;
      r.max_opf_primal_residual_mw = std::max(r.max_opf_primal_residual_mw, x.primal_residual_mw);
      r.shed_mwh += x.total_shed_mw;
      if (x.total_shed_mw > 1e-9) ++r.shed_hours;
      r.peak_system_load_mw = std::max(r.peak_system_load_mw, system_mw[dh]);
      r.peak_household_net_load_mw = std::max(r.peak_household_net_load_mw, household_mw[dh]);
    }
  }
  counters_.hours_cleared += static_cast<int64_t>(days) * kHoursPerDay;
  for (size_t i = 0; i < r.hours_per_opf_method.size(); ++i) {
    counters_.hours_per_opf_method[i] += r.hours_per_opf_method[i];
  }
  counters_.opf_fallback_hours += r.opf_fallback_hours;
  counters_.opf_clamped_hours += r.opf_clamped_hours;
  return r;
}

}  // namespace smfg::env
