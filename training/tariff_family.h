// Tariff families: the map from a parameter vector to what the leader posts
// for a day, shared by the PPO leader (whose raw actions are squashed into the
// parameters' ranges first) and the reference optimizer (which searches the
// parameters directly). docs/MODEL.md "Tariff families" gives the equations.
//
// Parameters x, per rate row (one row, or one per bus with PER_BUS), then one
// fixed charge per income group when they are learned:
//   HOURLY  x_h in [r_min, r_max], h = 0..23:        rate_h = x_h
//   BLOCKS  x_k in [r_min, r_max], k = 0..K-1:       rate_h = x_{block(h)}
//   SMOOTH  x_0 in [r_min, r_max], a_j, b_j in [-A, A] (A = (r_max - r_min) / 2),
//           j = 1..H:  rate_h = x_0 + sum_j a_j cos(2 pi j t_h / 24) + b_j sin(2 pi j t_h / 24),
//           t_h = h + 1/2
//   fixed charge_g = x_g in [c_min, c_max]
// Then the regulator's limits, per row and day, in this order:
//   1. shrink towards the day's mean m: rate_h <- m + s (rate_h - m), with the
//      largest s in [0, 1] that meets max |rate_{h+1} - rate_h| <= step_max
//      (23 -> 0 included) and max rate <= ratio_max * min rate;
//   2. clip to [r_min, r_max] (clipping never increases a step or the ratio);
//   3. round to whole micro-dollars (posted prices, MODEL.md §9).
// Fixed charges are rounded to micro-dollars too. The map is deterministic
// and a pure function of x, so every process computes the same tariff.
#ifndef SMFG_TRAINING_TARIFF_FAMILY_H_
#define SMFG_TRAINING_TARIFF_FAMILY_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "environment/scenario.h"

namespace smfg::training {

enum class FamilyKind { kHourly, kBlocks, kSmooth };

struct TariffFamilyParams {
  FamilyKind kind = FamilyKind::kSmooth;
  // kBlocks: start hour of each block, ascending, the first 0.
  std::vector<int> block_start_hours = {0, 7, 17, 21};
  // kSmooth: harmonics H.
  int harmonics = 2;
  // 1 (every bus the same rates) or the number of buses (nodal rates).
  int rows = 1;
  double min_rate_per_kwh = 0.05;
  double max_rate_per_kwh = 0.30;
  // 0: no limit.
  double max_peak_to_offpeak_ratio = 0;
  double max_hourly_step_per_kwh = 0;
  bool learn_fixed_charges = false;
  double min_fixed_charge_per_day = 0.0;
  double max_fixed_charge_per_day = 2.0;
  int groups = 0;  // income groups (fixed charges when learned)

  // INVALID_ARGUMENT naming the spec field ("tariff.block_start_hours[2]: ...").
  absl::Status Validate() const;
};

// A day's posted prices.
struct DayPrices {
  std::vector<std::array<double, env::kHoursPerDay>> rates;  // [row][hour], $/kWh
  std::vector<double> fixed_charges;                         // [group], $/day; empty if not learned
};

class TariffFamily {
 public:
  explicit TariffFamily(TariffFamilyParams params);

  // Parameters per rate row, and in all (rows x that, plus the groups' fixed
  // charges when learned).
  int RateParameters() const;
  int size() const;
  // Bounds of each parameter (size() entries).
  const std::vector<double>& lower() const { return lower_; }
  const std::vector<double>& upper() const { return upper_; }
  // The parameters of a flat rate `rate` (clamped into bounds) with every
  // fixed charge at `fixed_charge` (clamped): a starting point.
  std::vector<double> Flat(double rate, double fixed_charge) const;

  // x (size() entries, within bounds) -> the day's posted prices.
  DayPrices Map(const std::vector<double>& x) const;

  // A tariff that posts Map(x) every day: static rows, and the fixed
  // charges of `base` unless learned. `buses` sizes a nodal tariff.
  env::Tariff StaticTariff(const std::vector<double>& x, const env::Tariff& base) const;

  const TariffFamilyParams& params() const { return params_; }

 private:
  int BlockOf(int hour) const;

  TariffFamilyParams params_;
  std::vector<double> lower_, upper_;
};

// Mean over a day (and rows) of |rate(h+1) - rate(h)|, 23 -> 0 excluded:
// the figure of "how jagged" a posted tariff is ($/kWh).
double MeanHourlyStep(const env::Tariff& tariff);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TARIFF_FAMILY_H_
