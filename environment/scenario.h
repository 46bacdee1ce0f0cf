// The energy scenario: everything the game model needs, as plain C++ values.
//
// This is the environment's own view of an experiment; spec/ converts the proto
// experiment spec (proto/smfg/v1/spec.proto) into it and back, so environment/
// stays free of protobuf. Defaults follow docs/MODEL.md, which gives each
// equation, default and the published figure it follows.
//
// Units: energy kWh, power kW at the household and MW at the network, money $,
// rates $/kWh for retail and $/MWh for wholesale, time in hours.
#ifndef SMFG_ENVIRONMENT_SCENARIO_H_
#define SMFG_ENVIRONMENT_SCENARIO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "environment/network.h"

namespace smfg::env {

constexpr int kHoursPerDay = 24;

// A scalar drawn per household. kUniform draws on [a, b); kNormal and kLogNormal
// take a = mean, b = standard deviation of the value itself (for kLogNormal the
// underlying normal is moment-matched); every draw is then clipped to
// [min_value, max_value].
struct Distribution {
  enum class Kind { kConstant, kUniform, kNormal, kLogNormal };
  Kind kind = Kind::kConstant;
  double a = 0.0;
  double b = 0.0;
  double min_value = 0.0;
  double max_value = 1e300;

  static Distribution Constant(double v) { return {Kind::kConstant, v, 0.0, v, v}; }
};

enum class DerType { kConsumer = 0, kSolar = 1, kSolarBattery = 2 };
constexpr int kNumDerTypes = 3;

// A class of households: one income group at a set of buses, with parameter
// distributions. `households_per_bus[b]` households of this class sit at bus b.
struct HouseholdClass {
  std::string name;
  int income_group = 0;  // index into Scenario::income_groups
  std::vector<int> households_per_bus;
  Distribution annual_income_usd;
  Distribution daily_demand_kwh;  // mean daily consumption of the household
  // Probabilities of each DER type, indexed by DerType; sum to 1.
  double der_share[kNumDerTypes] = {1.0, 0.0, 0.0};
  Distribution pv_kw;        // DC nameplate, for solar and solar+battery
  Distribution battery_kwh;  // usable energy capacity
  Distribution battery_kw;   // charge and discharge power limit
  Distribution charge_efficiency;
  Distribution discharge_efficiency;
};

// Shapes of hourly demand and PV output, and their day-to-day variation.
struct ProfileParams {
  // Relative residential demand by hour (normalised to mean 1 internally).
  std::vector<double> demand_shape;
  // Relative exogenous (non-residential) load by hour (normalised to mean 1).
  std::vector<double> exogenous_shape;
  double sunrise_hour = 6.0;  // PV output is zero outside [sunrise, sunset]
  double sunset_hour = 20.0;
  // Expected AC kWh per kW of PV per day on a clear day; the day's clearness
  // index scales it.
  double pv_clear_sky_kwh_per_kw_day = 6.0;
  double pv_system_efficiency = 0.86;  // PVWatts default losses 14.08 %
  // Day clearness index ~ uniform on [min, 1].
  double min_clearness = 0.25;
  // Seasonal demand swing: factor 1 + amplitude * cos(2 pi (day - peak_day)/365).
  double seasonal_demand_amplitude = 0.15;
  double seasonal_peak_day = 196.0;  // day of year of peak demand (mid-July)
  // Day-level demand noise (std of a multiplicative factor shared by everyone).
  double daily_demand_noise = 0.05;
  // Household-day noise (std of an individual multiplicative factor).
  double household_demand_noise = 0.10;
};

// Settings of the follower (household) decision problem.
struct FollowerParams {
  double temperature_usd = 0.01;           // softmax temperature tau, $ (> 0)
  double discount_per_hour = 0.995;        // gamma
  int soc_levels = 11;                     // SoC grid points from 0 to capacity (>= 2)
  int max_soc_steps_per_hour = 3;          // actions move SoC by -K..K grid steps
  double battery_wear_usd_per_kwh = 0.02;  // per kWh of battery throughput
  bool myopic = false;                     // myopic followers do not use storage
  // How the followers with a battery choose their moves: the exact softmax
  // best response (household_solver.h), or one policy network for the whole
  // population trained with PPO on days sampled in the same discretised model
  // (followers/, docs/MODEL.md §5 "Learning followers").
  enum class Learner { kExact, kPpo };
  Learner learner = Learner::kExact;
  // The PPO learner's network and training (used when learner == kPpo).
  struct Ppo {
    std::vector<int> hidden_sizes = {64, 64};  // policy and value networks, each
    double learning_rate = 0.01;               // Adam step size (decays to a tenth over a solve)
    // PPO phases at the start of each equilibrium solve: each samples fresh
    // episodes at the current price belief and takes epochs_per_phase
    // gradient steps on them; after the last one the policy is frozen and the
    // mean-field iteration converges on it.
    int phases_per_solve = 100;
    // The same for every later solve of the run (warm-started from the
    // policy the earlier ones left: the reference search, the leader's
    // iterations and the baselines each solve many tariffs).
    int phases_per_warm_solve = 10;
    int epochs_per_phase = 8;
    int episodes_per_household_day = 4;  // sampled per battery household-day per phase
    int episode_days = 2;                // an episode repeats its day this many times
    double clip = 0.2;                   // PPO ratio clip epsilon
    double gae_lambda = 0.95;
    double value_coef = 0.5;  // weight of the value loss
  };
  Ppo ppo;
};

// The inner (mean-field) fixed point on prices.
struct InnerLoopParams {
  double damping = 0.8;             // initial alpha in m <- (1-alpha) m + alpha Clear(stats)
  double tolerance_per_mwh = 1e-6;  // stop when max |m' - m| below this
  int max_iterations = 200;
  // Anderson acceleration window (anderson.h); 0 = plain damped iteration.
  int anderson_memory = 5;
  // Stop (not converged, "stalled") once this many iterations in a row have
  // not brought the residual below half the best one before them: at an LMP
  // jump the fixed point is set-valued and the iterates cycle for ever
  // (MODEL.md §6). 0 = never; run to max_iterations.
  int stall_iterations = 25;
};

// Export credit rule for energy a household sends to the grid.
enum class ExportRule {
  kNetBillingLmp,  // credited at the bus LMP of that hour (couples the mean field)
  kNetMetering,    // credited at the import rate of that hour
  kFixed,          // credited at fixed_export_credit_per_kwh
};

// The leader's decision for a day: what households pay.
struct Tariff {
  // import_rate_per_kwh[bus][hour], $/kWh: one row of 24 rates per bus, or a
  // single row that applies at every bus (a uniform tariff).
  std::vector<std::vector<double>> import_rate_per_kwh;
  // Fixed charge per day per income group, $/day.
  std::vector<double> fixed_charge_per_day;
  ExportRule export_rule = ExportRule::kNetBillingLmp;
  double fixed_export_credit_per_kwh = 0.0;
  // A leader that responds to each day's conditions posts a tariff per day.
  // When non-empty, these replace import_rate_per_kwh and
  // fixed_charge_per_day: daily_import_rate_per_kwh holds
  // daily_rate_rows rows of 24 rates per day, row d * daily_rate_rows + r,
  // where r = 0 for every bus (daily_rate_rows = 1, uniform) or r = bus
  // (daily_rate_rows = the number of buses, nodal rates).
  std::vector<std::vector<double>> daily_import_rate_per_kwh;   // [day * rows + row][hour]
  std::vector<std::vector<double>> daily_fixed_charge_per_day;  // [day][group]
  int daily_rate_rows = 1;

  // The rates of `bus` on `day` (24 values) and the fixed charge of `group`.
  const std::vector<double>& Rates(int bus, int day) const {
    if (!daily_import_rate_per_kwh.empty()) {
      return daily_import_rate_per_kwh[static_cast<size_t>(day) * daily_rate_rows +
                                       (daily_rate_rows == 1 ? 0 : bus)];
    }
    return import_rate_per_kwh.size() == 1 ? import_rate_per_kwh[0] : import_rate_per_kwh[bus];
  }
  double FixedCharge(int group, int day) const {
    return daily_fixed_charge_per_day.empty() ? fixed_charge_per_day[group]
                                              : daily_fixed_charge_per_day[day][group];
  }
  // Fixed charge of `group` averaged over `days` days.
  double MeanFixedCharge(int group, int days) const;
};

struct Scenario {
  std::string name;
  Network network;
  // Exogenous non-residential load: average MW per bus (scaled by the hourly
  // exogenous_shape and the day factor).
  std::vector<double> exogenous_mean_mw;
  std::vector<std::string> income_groups;
  std::vector<HouseholdClass> classes;
  // Each simulated household stands for this many real ones in the network
  // balance (lets a small simulation represent a city); >= 1.
  double households_represented = 1.0;
  int days = 100;
  int first_day_of_year = 0;  // calendar day of day 0, for the seasonal cycle
  uint64_t seed = 1;
  int shards = 16;
  ProfileParams profiles;
  FollowerParams follower;
  InnerLoopParams inner;
  // Utility costs beyond wholesale energy, recovered through the tariff: $/day.
  double utility_fixed_cost_per_day = 0.0;
};

// Checks cross-field consistency (sizes match bus/group counts, probabilities sum
// to 1, positive capacities, at least one household, ...). Errors name the field
// path, e.g. "classes[1].households_per_bus: has 2 entries, network has 3 buses".
absl::Status ValidateScenario(const Scenario& scenario);
absl::Status ValidateTariff(const Tariff& tariff, const Scenario& scenario);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_SCENARIO_H_
