// What a person wants to know about an equilibrium (DESIGN §5): energy burden
// by income group, prices, cost recovery, system stress and solver health.
//
// Definitions (docs/MODEL.md §Reporting):
//   spending_g   = 365 * (sum of group g's daily energy bills / days + fixed
//                  charge_g * N_g)                       $/yr, simulated households
//   EEI_g        = spending_g / sum of group g's annual incomes
//   EEI spread   = max_g EEI_g - min_g EEI_g
//   revenue/day  = households_represented * (bills / days + sum_g fixed_g N_g)
//   cost/day     = households_represented * sum LMP * household net load / days
//                  + utility_fixed_cost_per_day
//   recovery     = revenue / cost
#ifndef SMFG_ENVIRONMENT_REPORT_H_
#define SMFG_ENVIRONMENT_REPORT_H_

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "environment/equilibrium.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"

namespace smfg::env {

struct GroupReport {
  std::string name;
  double households = 0;
  double mean_income_usd = 0;
  double annual_spending_per_household_usd = 0;
  double eei = 0;
  double import_kwh_per_household_day = 0;
  double export_kwh_per_household_day = 0;
};

struct BusPriceReport {
  std::string name;
  double mean = 0, std = 0, min = 0, max = 0;       // $/MWh over days x hours
  std::array<double, kHoursPerDay> mean_by_hour{};  // averaged over days
};

// Average hourly behaviour of one (class, DER type) over its household-days.
struct BehaviourReport {
  std::string class_name;
  DerType der = DerType::kConsumer;
  double household_days = 0;
  std::array<double, kHoursPerDay> demand_kwh{}, pv_kwh{}, charge_kw{}, discharge_kw{}, soc_kwh{},
      net_kw{};
};

struct EquilibriumReport {
  std::string label;
  Tariff tariff;
  std::vector<GroupReport> groups;
  double eei_spread = 0;
  std::vector<BusPriceReport> buses;
  double revenue_per_day_usd = 0;
  double wholesale_cost_per_day_usd = 0;
  double total_cost_per_day_usd = 0;
  double cost_recovery_ratio = 0;
  double generation_cost_per_day_usd = 0;
  double fossil_share = 0;           // fossil MWh / all generated MWh
  double renewable_curtailment = 0;  // unused share of available renewable MWh
  double shed_mwh = 0;
  double peak_system_load_mw = 0;
  double peak_household_net_load_mw = 0;
  // Averages over days, MW.
  std::array<double, kHoursPerDay> household_net_load_mw_by_hour{};
  std::array<double, kHoursPerDay> system_load_mw_by_hour{};
  std::vector<int> congested_hours_per_line;
  int inner_iterations = 0;
  double inner_residual_per_mwh = 0;
  bool inner_converged = false;
  bool inner_stalled = false;  // stopped by InnerLoopParams::stall_iterations
  int inner_damping_reductions = 0;
  ExploitabilityStats exploitability;
  // Learning followers (follower.learner = PPO): "ppo", their training steps
  // before the fixed point, and the exact softmax best response's
  // exploitability at the same prices beside the learned policy's
  // (`exploitability` above). "exact" and no comparison otherwise.
  std::string follower_learner = "exact";
  int learning_steps = 0;
  bool has_best_response_exploitability = false;
  ExploitabilityStats best_response_exploitability;
  double mean_policy_iterations = 0;
  long long unconverged_household_days = 0;
  // Battery household-days whose midnight SoC distribution was not unique
  // (the one reached from an empty battery is reported; household_solver.h).
  long long nonunique_distribution_household_days = 0;
  std::vector<BehaviourReport> behaviour;
  double wall_seconds = 0;
};

EquilibriumReport MakeReport(const Scenario& scenario, const Tariff& tariff,
                             const InnerResult& inner, const ExploitabilityStats& exploitability,
                             std::string label);

// Human-readable multi-line summary.
std::string FormatReportText(const EquilibriumReport& report);
// One JSON document (stable key order).
std::string FormatReportJson(const EquilibriumReport& report);
// CSV tables: "groups", "buses", "behaviour", "tariff" -> file contents.
std::vector<std::pair<std::string, std::string>> FormatReportCsv(const EquilibriumReport& report);

const char* DerTypeName(DerType t);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_REPORT_H_
