#include "environment/scenario.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status.h"
#include "environment/network.h"

namespace smfg::env {
namespace {

// Caps that keep a typo (an extra zero or three) from turning into hours of
// compute or an int overflow downstream; household ids are int32 (population.h).
constexpr int kMaxDays = 36500;
constexpr int kMaxShards = 1 << 16;
constexpr int kMaxSocLevels = 1001;
constexpr size_t kMaxFollowerHiddenLayers = 4;
constexpr int kMaxFollowerHiddenWidth = 1024;
constexpr int64_t kMaxHouseholds = std::numeric_limits<int32_t>::max();
constexpr double kMaxHouseholdsRepresented = 1e9;
constexpr double kShareSumTolerance = 1e-9;

absl::Status Error(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::Status Invalid(absl::string_view path, absl::string_view requirement, double value) {
  return Error(path, absl::StrCat(requirement, ", got ", value));
}

absl::Status CheckFinite(absl::string_view path, double value) {
  if (!std::isfinite(value)) return Invalid(path, "must be finite", value);
  return absl::OkStatus();
}

absl::Status CheckAtLeast(absl::string_view path, double value, double lo) {
  SMFG_RETURN_IF_ERROR(CheckFinite(path, value));
  if (value < lo) return Invalid(path, absl::StrCat("must be >= ", lo), value);
  return absl::OkStatus();
}

absl::Status CheckPositive(absl::string_view path, double value) {
  SMFG_RETURN_IF_ERROR(CheckFinite(path, value));
  if (value <= 0.0) return Invalid(path, "must be > 0", value);
  return absl::OkStatus();
}

// Checks lo <(=) value <(=) hi; the brackets in the message follow the openness.
absl::Status CheckInRange(absl::string_view path, double value, double lo, bool lo_open, double hi,
                          bool hi_open) {
  SMFG_RETURN_IF_ERROR(CheckFinite(path, value));
  const bool lo_ok = lo_open ? value > lo : value >= lo;
  const bool hi_ok = hi_open ? value < hi : value <= hi;
  if (!lo_ok || !hi_ok) {
    return Invalid(
        path, absl::StrCat("must be in ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]"),
        value);
  }
  return absl::OkStatus();
}

absl::Status CheckIntInRange(absl::string_view path, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return Error(path, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

// ValidateNetwork reports paths relative to the Network ("lines[2].limit_mw");
// within a scenario they live under "network.". Messages that do not start with
// a field path (or already start with "network") get "network: " instead, so
// every error still begins with a path.
bool LooksLikeFieldPath(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '[' &&
        c != ']') {
      return false;
    }
  }
  return absl::ascii_isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_';
}

absl::Status UnderNetwork(const absl::Status& status) {
  if (status.ok()) return status;
  const absl::string_view message = status.message();
  const size_t colon = message.find(": ");
  const absl::string_view head =
      colon == absl::string_view::npos ? absl::string_view() : message.substr(0, colon);
  std::string prefixed;
  if (head == "network" || absl::StartsWith(head, "network.") ||
      absl::StartsWith(head, "network[")) {
    prefixed = std::string(message);
  } else if (LooksLikeFieldPath(head)) {
    prefixed = absl::StrCat("network.", message);
  } else {
    prefixed = absl::StrCat("network: ", message);
  }
  return absl::Status(status.code(), prefixed);
}

// The range a Distribution's draws can take (see Draw in population.cc):
// constants are not clipped; everything else is clipped to [min, max].
struct Support {
  double lo = 0.0;
  double hi = 0.0;
  bool lo_open = false;  // lognormal draws are strictly positive
};

double Clip(double v, const Distribution& d) {
  return v < d.min_value ? d.min_value : (v > d.max_value ? d.max_value : v);
}

Support SupportOf(const Distribution& d) {
  switch (d.kind) {
    case Distribution::Kind::kConstant:
      return {d.a, d.a, false};
    case Distribution::Kind::kUniform:
      return {Clip(d.a, d), Clip(d.b, d), false};
    case Distribution::Kind::kNormal:
      if (d.b == 0.0) return {Clip(d.a, d), Clip(d.a, d), false};
      return {d.min_value, d.max_value, false};
    case Distribution::Kind::kLogNormal:
      if (d.b == 0.0) return {Clip(d.a, d), Clip(d.a, d), false};
      if (d.min_value > 0.0) return {d.min_value, d.max_value, false};
      return {0.0, d.max_value, true};
  }
  return {};
}

// Structural checks every distribution must pass, whatever it describes.
absl::Status ValidateDistribution(const std::string& path, const Distribution& d) {
  SMFG_RETURN_IF_ERROR(CheckFinite(path + ".a", d.a));
  SMFG_RETURN_IF_ERROR(CheckFinite(path + ".b", d.b));
  SMFG_RETURN_IF_ERROR(CheckFinite(path + ".min_value", d.min_value));
  SMFG_RETURN_IF_ERROR(CheckFinite(path + ".max_value", d.max_value));
  // std::clamp (used by Draw) is undefined for min > max.
  if (d.min_value > d.max_value) {
    return Invalid(path + ".min_value", absl::StrCat("must be <= max_value (", d.max_value, ")"),
                   d.min_value);
  }
  switch (d.kind) {
    case Distribution::Kind::kConstant:
      return absl::OkStatus();
    case Distribution::Kind::kUniform:
      if (d.b < d.a) {
        return Invalid(path + ".b", absl::StrCat("must be >= a (", d.a, ") for kUniform"), d.b);
      }
      return absl::OkStatus();
    case Distribution::Kind::kNormal:
      return CheckAtLeast(path + ".b", d.b, 0.0);
    case Distribution::Kind::kLogNormal:
      // Moment matching takes log(a).
      SMFG_RETURN_IF_ERROR(CheckPositive(path + ".a", d.a));
      return CheckAtLeast(path + ".b", d.b, 0.0);
  }
  return Error(path + ".kind", absl::StrCat("unknown kind ", static_cast<int>(d.kind)));
}

// Requires every draw to be >= lo (or > lo when `strict`) and <= hi.
absl::Status CheckDraws(const std::string& path, const Distribution& d, double lo, bool strict,
                        double hi) {
  const Support s = SupportOf(d);
  const bool lo_ok = strict ? (s.lo > lo || (s.lo == lo && s.lo_open)) : s.lo >= lo;
  const bool hi_ok = s.hi <= hi;
  if (lo_ok && hi_ok) return absl::OkStatus();
  const std::string requirement = hi == std::numeric_limits<double>::infinity()
                                      ? absl::StrCat(strict ? "> " : ">= ", lo)
                                      : absl::StrCat("in ", strict ? "(" : "[", lo, ", ", hi, "]");
  if (d.kind == Distribution::Kind::kConstant) {
    return Invalid(path + ".a", absl::StrCat("must be ", requirement), d.a);
  }
  return Error(path, absl::StrCat("every draw must be ", requirement, ", but draws range over ",
                                  s.lo_open ? "(" : "[", s.lo, ", ", s.hi,
                                  "]; adjust a, b, min_value or max_value"));
}

absl::Status ValidateClass(const HouseholdClass& c, size_t index, int num_buses, int num_groups,
                           int64_t* total, std::vector<int64_t>* per_group) {
  const std::string p = absl::StrCat("classes[", index, "]");
  if (c.income_group < 0 || c.income_group >= num_groups) {
    return Error(p + ".income_group", absl::StrCat("must be an index into income_groups [0, ",
                                                   num_groups, "), got ", c.income_group));
  }
  if (static_cast<int>(c.households_per_bus.size()) != num_buses) {
    return Error(p + ".households_per_bus",
                 absl::StrCat("has ", c.households_per_bus.size(), " entries, network has ",
                              num_buses, " buses"));
  }
  int64_t count = 0;
  for (size_t b = 0; b < c.households_per_bus.size(); ++b) {
    const int n = c.households_per_bus[b];
    if (n < 0) {
      return Error(absl::StrCat(p, ".households_per_bus[", b, "]"),
                   absl::StrCat("must be >= 0, got ", n));
    }
    count += n;
  }
  *total += count;
  (*per_group)[c.income_group] += count;

  double share_sum = 0.0;
  for (int t = 0; t < kNumDerTypes; ++t) {
    SMFG_RETURN_IF_ERROR(CheckInRange(absl::StrCat(p, ".der_share[", t, "]"), c.der_share[t], 0.0,
                                      false, 1.0, false));
    share_sum += c.der_share[t];
  }
  if (std::fabs(share_sum - 1.0) > kShareSumTolerance) {
    return Error(p + ".der_share",
                 absl::StrCat("must sum to 1 (within ", kShareSumTolerance, "), got ", share_sum));
  }

  const struct {
    const char* field;
    const Distribution& d;
  } distributions[] = {
      {"annual_income_usd", c.annual_income_usd},
      {"daily_demand_kwh", c.daily_demand_kwh},
      {"pv_kw", c.pv_kw},
      {"battery_kwh", c.battery_kwh},
      {"battery_kw", c.battery_kw},
      {"charge_efficiency", c.charge_efficiency},
      {"discharge_efficiency", c.discharge_efficiency},
  };
  for (const auto& [field, d] : distributions) {
    SMFG_RETURN_IF_ERROR(ValidateDistribution(absl::StrCat(p, ".", field), d));
  }
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // EEI divides spending by income.
  SMFG_RETURN_IF_ERROR(CheckDraws(p + ".annual_income_usd", c.annual_income_usd, 0.0, true, kInf));
  SMFG_RETURN_IF_ERROR(CheckDraws(p + ".daily_demand_kwh", c.daily_demand_kwh, 0.0, false, kInf));
  // Parameters of equipment a class never owns are drawn (to keep draw order
  // fixed) but unused, so they are only constrained when the share is positive.
  const bool has_pv = c.der_share[static_cast<int>(DerType::kSolar)] > 0.0 ||
                      c.der_share[static_cast<int>(DerType::kSolarBattery)] > 0.0;
  const bool has_battery = c.der_share[static_cast<int>(DerType::kSolarBattery)] > 0.0;
  if (has_pv) {
    SMFG_RETURN_IF_ERROR(CheckDraws(p + ".pv_kw", c.pv_kw, 0.0, false, kInf));
  }
  if (has_battery) {
    // A zero-capacity battery makes the SoC grid step zero.
    SMFG_RETURN_IF_ERROR(CheckDraws(p + ".battery_kwh", c.battery_kwh, 0.0, true, kInf));
    SMFG_RETURN_IF_ERROR(CheckDraws(p + ".battery_kw", c.battery_kw, 0.0, true, kInf));
    SMFG_RETURN_IF_ERROR(CheckDraws(p + ".charge_efficiency", c.charge_efficiency, 0.0, true, 1.0));
    SMFG_RETURN_IF_ERROR(
        CheckDraws(p + ".discharge_efficiency", c.discharge_efficiency, 0.0, true, 1.0));
  }
  return absl::OkStatus();
}

absl::Status ValidateShape(const std::string& path, const std::vector<double>& shape) {
  if (shape.size() != static_cast<size_t>(kHoursPerDay)) {
    return Error(path,
                 absl::StrCat("must have ", kHoursPerDay, " hourly values, got ", shape.size()));
  }
  double sum = 0.0;
  for (size_t h = 0; h < shape.size(); ++h) {
    SMFG_RETURN_IF_ERROR(CheckAtLeast(absl::StrCat(path, "[", h, "]"), shape[h], 0.0));
    sum += shape[h];
  }
  // The shape is normalised by its sum.
  if (!(sum > 0.0) || !std::isfinite(sum)) {
    return Invalid(path, "must have a positive, finite sum", sum);
  }
  return absl::OkStatus();
}

absl::Status ValidateProfiles(const ProfileParams& p) {
  SMFG_RETURN_IF_ERROR(ValidateShape("profiles.demand_shape", p.demand_shape));
  SMFG_RETURN_IF_ERROR(ValidateShape("profiles.exogenous_shape", p.exogenous_shape));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("profiles.sunrise_hour", p.sunrise_hour, 0.0, false, kHoursPerDay, true));
  SMFG_RETURN_IF_ERROR(CheckInRange("profiles.sunset_hour", p.sunset_hour, p.sunrise_hour, true,
                                    kHoursPerDay, false));
  SMFG_RETURN_IF_ERROR(
      CheckAtLeast("profiles.pv_clear_sky_kwh_per_kw_day", p.pv_clear_sky_kwh_per_kw_day, 0.0));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("profiles.pv_system_efficiency", p.pv_system_efficiency, 0.0, true, 1.0, false));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("profiles.min_clearness", p.min_clearness, 0.0, false, 1.0, false));
  // An amplitude >= 1 would make the seasonal factor reach zero or go negative.
  SMFG_RETURN_IF_ERROR(CheckInRange("profiles.seasonal_demand_amplitude",
                                    p.seasonal_demand_amplitude, 0.0, false, 1.0, true));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("profiles.seasonal_peak_day", p.seasonal_peak_day, 0.0, false, 365.0, true));
  SMFG_RETURN_IF_ERROR(CheckAtLeast("profiles.daily_demand_noise", p.daily_demand_noise, 0.0));
  return CheckAtLeast("profiles.household_demand_noise", p.household_demand_noise, 0.0);
}

absl::Status ValidateFollowerPpo(const FollowerParams::Ppo& ppo) {
  if (ppo.hidden_sizes.empty() || ppo.hidden_sizes.size() > kMaxFollowerHiddenLayers) {
    return Error("follower.ppo.hidden_sizes",
                 absl::StrCat("must have 1 to ", kMaxFollowerHiddenLayers, " layers, got ",
                              ppo.hidden_sizes.size()));
  }
  for (size_t i = 0; i < ppo.hidden_sizes.size(); ++i) {
    SMFG_RETURN_IF_ERROR(CheckIntInRange(absl::StrCat("follower.ppo.hidden_sizes[", i, "]"),
                                         ppo.hidden_sizes[i], 1, kMaxFollowerHiddenWidth));
  }
  SMFG_RETURN_IF_ERROR(
      CheckInRange("follower.ppo.learning_rate", ppo.learning_rate, 0.0, true, 1.0, false));
  SMFG_RETURN_IF_ERROR(
      CheckIntInRange("follower.ppo.phases_per_solve", ppo.phases_per_solve, 0, 10000));
  SMFG_RETURN_IF_ERROR(
      CheckIntInRange("follower.ppo.phases_per_warm_solve", ppo.phases_per_warm_solve, 0, 10000));
  SMFG_RETURN_IF_ERROR(
      CheckIntInRange("follower.ppo.epochs_per_phase", ppo.epochs_per_phase, 1, 100));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("follower.ppo.episodes_per_household_day",
                                       ppo.episodes_per_household_day, 1, 64));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("follower.ppo.episode_days", ppo.episode_days, 1, 30));
  SMFG_RETURN_IF_ERROR(CheckInRange("follower.ppo.clip", ppo.clip, 0.0, true, 1.0, true));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("follower.ppo.gae_lambda", ppo.gae_lambda, 0.0, false, 1.0, false));
  return CheckAtLeast("follower.ppo.value_coef", ppo.value_coef, 0.0);
}

absl::Status ValidateFollower(const FollowerParams& f) {
  SMFG_RETURN_IF_ERROR(CheckPositive("follower.temperature_usd", f.temperature_usd));
  SMFG_RETURN_IF_ERROR(
      CheckInRange("follower.discount_per_hour", f.discount_per_hour, 0.0, true, 1.0, true));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("follower.soc_levels", f.soc_levels, 2, kMaxSocLevels));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("follower.max_soc_steps_per_hour", f.max_soc_steps_per_hour,
                                       1, f.soc_levels - 1));
  SMFG_RETURN_IF_ERROR(
      CheckAtLeast("follower.battery_wear_usd_per_kwh", f.battery_wear_usd_per_kwh, 0.0));
  if (f.learner != FollowerParams::Learner::kPpo) return absl::OkStatus();
  if (f.myopic) {
    return Error("follower.learner",
                 "must not be PPO when follower.myopic is true (myopic followers have no "
                 "decision to learn)");
  }
  return ValidateFollowerPpo(f.ppo);
}

absl::Status ValidateInner(const InnerLoopParams& inner) {
  SMFG_RETURN_IF_ERROR(CheckInRange("inner.damping", inner.damping, 0.0, true, 1.0, false));
  SMFG_RETURN_IF_ERROR(CheckPositive("inner.tolerance_per_mwh", inner.tolerance_per_mwh));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("inner.anderson_memory", inner.anderson_memory, 0, 50));
  SMFG_RETURN_IF_ERROR(
      CheckIntInRange("inner.stall_iterations", inner.stall_iterations, 0, 100000));
  return CheckIntInRange("inner.max_iterations", inner.max_iterations, 1,
                         std::numeric_limits<int>::max());
}

// A battery whose smallest move, one SoC step dE = E / (S - 1), needs more
// than its power limit to charge (dE / eta_c > P, household_solver.h) can never
// charge; discharging needs no more (dE eta_d <= dE / eta_c), so such a battery
// would sit empty in every stationary state. Checked for the worst draw.
absl::Status ValidateBatteriesCanMove(const Scenario& scenario) {
  const int steps = scenario.follower.soc_levels - 1;
  for (size_t i = 0; i < scenario.classes.size(); ++i) {
    const HouseholdClass& c = scenario.classes[i];
    if (!(c.der_share[static_cast<int>(DerType::kSolarBattery)] > 0.0)) continue;
    const double capacity = SupportOf(c.battery_kwh).hi;
    const double power = SupportOf(c.battery_kw).lo;
    const double efficiency = SupportOf(c.charge_efficiency).lo;
    const double step = capacity / steps;
    // The same arithmetic and 1e-12 slack as the solver's feasibility test.
    if (step / efficiency <= power * (1.0 + 1e-12)) continue;
    return Error(
        absl::StrCat("classes[", i, "].battery_kwh"),
        absl::StrCat("a battery of up to ", capacity, " kWh moves ", step,
                     " kWh per SoC step (follower.soc_levels ", steps + 1, "), which takes ",
                     step / efficiency, " kW to charge at charge_efficiency ", efficiency,
                     ", above battery_kw ", power,
                     ": it could never charge; raise follower.soc_levels or "
                     "battery_kw, or lower battery_kwh"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateScenario(const Scenario& scenario) {
  // Everything below is sized by the network, so it goes first.
  SMFG_RETURN_IF_ERROR(UnderNetwork(ValidateNetwork(scenario.network)));
  const int num_buses = static_cast<int>(scenario.network.buses.size());

  if (static_cast<int>(scenario.exogenous_mean_mw.size()) != num_buses) {
    return Error("exogenous_mean_mw", absl::StrCat("has ", scenario.exogenous_mean_mw.size(),
                                                   " entries, network has ", num_buses, " buses"));
  }
  for (size_t b = 0; b < scenario.exogenous_mean_mw.size(); ++b) {
    SMFG_RETURN_IF_ERROR(CheckAtLeast(absl::StrCat("exogenous_mean_mw[", b, "]"),
                                      scenario.exogenous_mean_mw[b], 0.0));
  }

  const int num_groups = static_cast<int>(scenario.income_groups.size());
  if (num_groups == 0) {
    return Error("income_groups", "must name at least one income group, got none");
  }
  for (int g = 0; g < num_groups; ++g) {
    const std::string& name = scenario.income_groups[g];
    const std::string path = absl::StrCat("income_groups[", g, "]");
    if (name.empty()) return Error(path, "must not be empty");
    for (int other = 0; other < g; ++other) {
      if (scenario.income_groups[other] == name) {
        return Error(path,
                     absl::StrCat("duplicate name '", name, "' (also income_groups[", other, "])"));
      }
    }
  }

  if (scenario.classes.empty()) {
    return Error("classes", "must have at least one household class, got none");
  }
  int64_t total = 0;
  std::vector<int64_t> per_group(num_groups, 0);
  for (size_t i = 0; i < scenario.classes.size(); ++i) {
    SMFG_RETURN_IF_ERROR(
        ValidateClass(scenario.classes[i], i, num_buses, num_groups, &total, &per_group));
    // Checked as we go so the running total cannot overflow.
    if (total > kMaxHouseholds) {
      return Error("classes", absl::StrCat("must hold at most ", kMaxHouseholds,
                                           " households in total, got more (through "
                                           "classes[",
                                           i, "])"));
    }
  }
  if (total == 0) {
    return Error("classes", "must hold at least one household, got 0 in total");
  }
  for (int g = 0; g < num_groups; ++g) {
    // An empty group has no EEI, and the leader's spread would be undefined.
    if (per_group[g] == 0) {
      return Error(absl::StrCat("income_groups[", g, "]"),
                   absl::StrCat("no household belongs to group '", scenario.income_groups[g], "'"));
    }
  }

  // At most a billion real households: with the household bounds above this
  // keeps every bus load the market clears far inside the solver's range.
  SMFG_RETURN_IF_ERROR(
      CheckAtLeast("households_represented", scenario.households_represented, 1.0));
  if (scenario.households_represented > kMaxHouseholdsRepresented) {
    return Invalid("households_represented", absl::StrCat("must be <= ", kMaxHouseholdsRepresented),
                   scenario.households_represented);
  }
  SMFG_RETURN_IF_ERROR(CheckIntInRange("days", scenario.days, 1, kMaxDays));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("first_day_of_year", scenario.first_day_of_year, 0, 364));
  SMFG_RETURN_IF_ERROR(CheckIntInRange("shards", scenario.shards, 1, kMaxShards));
  SMFG_RETURN_IF_ERROR(ValidateProfiles(scenario.profiles));
  SMFG_RETURN_IF_ERROR(ValidateFollower(scenario.follower));
  SMFG_RETURN_IF_ERROR(ValidateBatteriesCanMove(scenario));
  SMFG_RETURN_IF_ERROR(ValidateInner(scenario.inner));
  return CheckAtLeast("utility_fixed_cost_per_day", scenario.utility_fixed_cost_per_day, 0.0);
}

double Tariff::MeanFixedCharge(int group, int days) const {
  if (daily_fixed_charge_per_day.empty()) return fixed_charge_per_day[group];
  double sum = 0;
  for (int d = 0; d < days; ++d) sum += daily_fixed_charge_per_day[d][group];
  return sum / days;
}

namespace {

absl::Status ValidateDailyTariff(const Tariff& tariff, const Scenario& scenario) {
  const size_t days = static_cast<size_t>(scenario.days);
  for (const auto* table :
       {&tariff.daily_import_rate_per_kwh, &tariff.daily_fixed_charge_per_day}) {
    const bool rates = table == &tariff.daily_import_rate_per_kwh;
    const char* name = rates ? "daily_import_rate_per_kwh" : "daily_fixed_charge_per_day";
    if (table->empty()) continue;
    const size_t per_day = rates ? static_cast<size_t>(tariff.daily_rate_rows) : 1;
    if (rates && tariff.daily_rate_rows != 1 &&
        static_cast<size_t>(tariff.daily_rate_rows) != scenario.network.buses.size()) {
      return Error("daily_rate_rows",
                   absl::StrCat("must be 1 or the number of buses (", scenario.network.buses.size(),
                                "), got ", tariff.daily_rate_rows));
    }
    if (table->size() != days * per_day) {
      return Error(name, absl::StrCat("has ", table->size(), " rows, expected ", days * per_day,
                                      " (", per_day, " per day for ", days, " days)"));
    }
    const size_t width = rates ? kHoursPerDay : scenario.income_groups.size();
    for (size_t d = 0; d < table->size(); ++d) {
      const std::string path = absl::StrCat(name, "[", d, "]");
      if ((*table)[d].size() != width) {
        return Error(path, absl::StrCat("has ", (*table)[d].size(), " entries, expected ", width));
      }
      for (size_t k = 0; k < width; ++k) {
        const std::string item = absl::StrCat(path, "[", k, "]");
        SMFG_RETURN_IF_ERROR(rates ? CheckAtLeast(item, (*table)[d][k], 0.0)
                                   : CheckFinite(item, (*table)[d][k]));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTariff(const Tariff& tariff, const Scenario& scenario) {
  const size_t num_buses = scenario.network.buses.size();
  const size_t rows = tariff.import_rate_per_kwh.size();
  // One row applies at every bus (a uniform tariff); otherwise one row per bus.
  if (rows != 1 && rows != num_buses) {
    return Error(
        "import_rate_per_kwh",
        absl::StrCat("has ", rows, " rows, expected 1 (uniform) or ", num_buses, " (one per bus)"));
  }
  for (size_t b = 0; b < rows; ++b) {
    const std::vector<double>& row = tariff.import_rate_per_kwh[b];
    const std::string path = absl::StrCat("import_rate_per_kwh[", b, "]");
    if (row.size() != static_cast<size_t>(kHoursPerDay)) {
      return Error(path, absl::StrCat("has ", row.size(), " entries, expected ", kHoursPerDay));
    }
    for (size_t h = 0; h < row.size(); ++h) {
      SMFG_RETURN_IF_ERROR(CheckAtLeast(absl::StrCat(path, "[", h, "]"), row[h], 0.0));
    }
  }
  const size_t num_groups = scenario.income_groups.size();
  if (tariff.fixed_charge_per_day.size() != num_groups) {
    return Error("fixed_charge_per_day",
                 absl::StrCat("has ", tariff.fixed_charge_per_day.size(), " entries, scenario has ",
                              num_groups, " income groups"));
  }
  for (size_t g = 0; g < num_groups; ++g) {
    // Negative charges (credits) are allowed; only nonsense is rejected.
    SMFG_RETURN_IF_ERROR(
        CheckFinite(absl::StrCat("fixed_charge_per_day[", g, "]"), tariff.fixed_charge_per_day[g]));
  }
  SMFG_RETURN_IF_ERROR(ValidateDailyTariff(tariff, scenario));
  switch (tariff.export_rule) {
    case ExportRule::kNetBillingLmp:
    case ExportRule::kNetMetering:
    case ExportRule::kFixed:
      break;
    default:
      return Error("export_rule",
                   absl::StrCat("unknown rule ", static_cast<int>(tariff.export_rule)));
  }
  SMFG_RETURN_IF_ERROR(
      CheckAtLeast("fixed_export_credit_per_kwh", tariff.fixed_export_credit_per_kwh, 0.0));
  // A credit under another rule is ignored by the bill, which is surely a mistake.
  if (tariff.export_rule != ExportRule::kFixed && tariff.fixed_export_credit_per_kwh != 0.0) {
    return Invalid("fixed_export_credit_per_kwh", "must be 0 unless export_rule is fixed",
                   tariff.fixed_export_credit_per_kwh);
  }
  return absl::OkStatus();
}

}  // namespace smfg::env
