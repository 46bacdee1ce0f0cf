// Market clearing for every hour of every day: builds each bus's load
//   load_b(d, h) = exogenous_b(d, h) + households_represented * net_load_kw_b(d, h) / 1000
// and runs the hourly DC-OPF (dcopf.h, with its tolerances and fallback chain).
// LMPs feed the next price belief.
#ifndef SMFG_ENVIRONMENT_MARKET_H_
#define SMFG_ENVIRONMENT_MARKET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/dcopf.h"
#include "environment/population.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"

namespace smfg::env {

struct ClearingResult {
  PriceBelief lmp;                          // realised LMPs, $/MWh [day][hour][bus]
  std::vector<double> bus_load_mw;          // total load [day][hour][bus]
  std::vector<double> generation_cost_usd;  // per day (sum over hours)
  double fossil_mwh = 0.0;
  double renewable_mwh = 0.0;
  double renewable_available_mwh = 0.0;
  double shed_mwh = 0.0;
  int shed_hours = 0;
  std::vector<int> congested_hours_per_line;
  // Peak of total system load and of household net load, MW.
  double peak_system_load_mw = 0.0;
  double peak_household_net_load_mw = 0.0;
  // How the DC-OPF answered (dcopf.h), so that nothing degrades silently:
  // hours answered by each method of its fallback chain (indexed as
  // MarketClearing::opf_methods()), hours not answered by the first method,
  // hours whose answer was clamped into bounds within tolerance, and the
  // largest primal residual accepted (MW).
  std::vector<int> hours_per_opf_method;
  int opf_fallback_hours = 0;
  int opf_clamped_hours = 0;
  double max_opf_primal_residual_mw = 0.0;
};

// The same counts summed over every Clear() call of one MarketClearing.
struct MarketCounters {
  int64_t hours_cleared = 0;
  std::vector<int64_t> hours_per_opf_method;
  int64_t opf_fallback_hours = 0;
  int64_t opf_clamped_hours = 0;
};

class MarketClearing {
 public:
  // Requires a validated scenario; shapes/days as from the ShardKernel.
  // `threads` (>= 1) clear days in parallel, each with its own DcOpf; every
  // hour is a function of its own data (dcopf.h) and the results are reduced
  // in day-hour order, so a Clear gives the same bits for any thread count.
  static absl::StatusOr<std::unique_ptr<MarketClearing>> Create(
      const Scenario& scenario, const HourlyShapes& shapes, const std::vector<DayConditions>& days,
      int threads = 1);

  // Clears every hour of every day; a function of `stats` (and the scenario)
  // alone. An hour that no DC-OPF method solves is an error naming its day and
  // hour and what each method returned; an hour a fallback solved is counted
  // in the result, never an error.
  absl::StatusOr<ClearingResult> Clear(const PopulationStats& stats);

  int days() const { return scenario_.days; }
  int buses() const { return static_cast<int>(scenario_.network.buses.size()); }
  int threads() const { return static_cast<int>(opfs_.size()); }
  // The DC-OPF's fallback chain, in order (DcOpf::method_names()).
  const std::vector<std::string>& opf_methods() const { return opfs_[0]->method_names(); }
  const MarketCounters& counters() const { return counters_; }
  // One line for logs: "market clearing: 4800 day-hours, 0 by a fallback
  // method (QP primal: 4800, ...), 2 clamped within tolerance".
  std::string CountersSummary() const;
  // For tests that inject solver trouble (DcOpf::SetSolutionHookForTesting):
  // the DcOpf of thread `thread`, which clears days thread, thread + threads(), ...
  DcOpf& opf_for_testing(int thread = 0) { return *opfs_[thread]; }

 private:
  MarketClearing(const Scenario& scenario, const HourlyShapes& shapes,
                 const std::vector<DayConditions>& days, std::vector<std::unique_ptr<DcOpf>> opfs);
  Scenario scenario_;
  HourlyShapes shapes_;
  std::vector<DayConditions> days_;
  std::vector<std::unique_ptr<DcOpf>> opfs_;  // one per thread (DcOpf is not thread-safe)
  MarketCounters counters_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_MARKET_H_
