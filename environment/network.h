// Transmission network model for hourly lossless DC optimal power flow.
//
// Units: power in MW, energy prices in $/MWh, reactance in per unit on `base_mva`.
// Line flow (from -> to) in MW: f = base_mva * (theta_from - theta_to - phi) / x,
// phi the line's phase shift (MATPOWER's DC model, makeBdc).
#ifndef SMFG_ENVIRONMENT_NETWORK_H_
#define SMFG_ENVIRONMENT_NETWORK_H_

#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace smfg::env {

struct Bus {
  std::string name;
};

struct Line {
  std::string name;
  int from_bus = 0;  // index into Network::buses
  int to_bus = 0;
  // Nonzero; negative for series-compensated branches (MATPOWER accepts them).
  double reactance_pu = 0.1;
  // Thermal limit in MW, applied in both directions; +infinity means unlimited.
  double limit_mw = std::numeric_limits<double>::infinity();
  // Phase-shifter angle phi in radians (MATPOWER's SHIFT column, converted from
  // degrees); 0 for an ordinary line.
  double phase_shift_rad = 0.0;
};

// Cost of producing p MW for one hour: cost_quadratic * p^2 + cost_linear * p +
// cost_fixed ($/h). Marginal cost 2 * cost_quadratic * p + cost_linear ($/MWh).
struct Generator {
  std::string name;
  int bus = 0;
  double pmin_mw = 0.0;
  double pmax_mw = 0.0;
  double cost_quadratic = 0.0;  // $/MW^2h, >= 0 (convex)
  double cost_linear = 0.0;     // $/MWh
  double cost_fixed = 0.0;      // $/h, counted only when committed (always here)
  // Renewable units count as non-fossil in the reports.
  bool renewable = false;
  // Either empty (always pmax) or 24 fractions in [0, 1] scaling pmax by hour.
  std::vector<double> hourly_availability;

  double AvailableMw(int hour) const {
    return hourly_availability.empty() ? pmax_mw : pmax_mw * hourly_availability[hour];
  }
};

struct Network {
  double base_mva = 100.0;
  std::vector<Bus> buses;
  std::vector<Line> lines;
  std::vector<Generator> generators;
  // Price of involuntary load shedding, $/MWh; makes every hour feasible.
  double value_of_lost_load_per_mwh = 10000.0;
};

// Checks structure and values. Errors are INVALID_ARGUMENT with the field path,
// e.g. "lines[2].reactance_pu: must be nonzero, got 0". Rejects: no buses, bus
// indices out of range, self-loops, zero reactance, negative limits or
// capacities, pmin > pmax, negative quadratic cost, availability not 24 values in
// [0,1], a network whose buses are not all connected, and non-positive VOLL/base.
// Every number must be finite except limit_mw (+infinity = unlimited). pmin_mw
// may be negative (a dispatchable load). The first problem found is reported;
// connectivity ("network: buses {2} are not connected to bus 0") is checked last.
absl::Status ValidateNetwork(const Network& network);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_NETWORK_H_
