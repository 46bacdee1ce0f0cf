// Market clearing for every hour of every day: builds each bus's load
//   load_b(d, h) = exogenous_b(d, h) + households_represented * net_load_kw_b(d, h) / 1000
// and runs the hourly DC-OPF (dcopf.h). LMPs feed the next price belief.
#ifndef SMFG_ENVIRONMENT_MARKET_H_
#define SMFG_ENVIRONMENT_MARKET_H_

#include <memory>
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
};

class MarketClearing {
 public:
  // Requires a validated scenario; shapes/days as from the ShardKernel.
  static absl::StatusOr<std::unique_ptr<MarketClearing>> Create(
      const Scenario& scenario, const HourlyShapes& shapes, const std::vector<DayConditions>& days);

  absl::StatusOr<ClearingResult> Clear(const PopulationStats& stats);

  int days() const { return scenario_.days; }
  int buses() const { return static_cast<int>(scenario_.network.buses.size()); }

 private:
  MarketClearing(const Scenario& scenario, const HourlyShapes& shapes,
                 const std::vector<DayConditions>& days, std::unique_ptr<DcOpf> opf);
  Scenario scenario_;
  HourlyShapes shapes_;
  std::vector<DayConditions> days_;
  std::unique_ptr<DcOpf> opf_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_MARKET_H_
