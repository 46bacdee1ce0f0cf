#include "environment/network.h"

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status.h"

namespace smfg::env {
namespace {

// Listing every disconnected bus of a large case would bury the message.
constexpr size_t kMaxBusesListed = 10;

absl::Status Invalid(absl::string_view path, absl::string_view requirement, double value) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", requirement, ", got ", value));
}

absl::Status CheckFinite(absl::string_view path, double value) {
  if (!std::isfinite(value)) return Invalid(path, "must be finite", value);
  return absl::OkStatus();
}

absl::Status CheckPositive(absl::string_view path, double value) {
  SMFG_RETURN_IF_ERROR(CheckFinite(path, value));
  if (value <= 0.0) return Invalid(path, "must be > 0", value);
  return absl::OkStatus();
}

absl::Status CheckBusIndex(absl::string_view path, int bus, int num_buses) {
  if (bus < 0 || bus >= num_buses) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be a bus index in [0, ", num_buses, "), got ", bus));
  }
  return absl::OkStatus();
}

absl::Status ValidateLine(const Line& line, size_t i, int num_buses) {
  const std::string p = absl::StrCat("lines[", i, "]");
  SMFG_RETURN_IF_ERROR(CheckBusIndex(p + ".from_bus", line.from_bus, num_buses));
  SMFG_RETURN_IF_ERROR(CheckBusIndex(p + ".to_bus", line.to_bus, num_buses));
  if (line.from_bus == line.to_bus) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, ": from_bus and to_bus must differ (self-loop at bus ", line.from_bus, ")"));
  }
  // Negative reactances (series capacitors) are valid, as in MATPOWER; only
  // x = 0 has no DC flow equation. Whether the network as a whole stays
  // solvable (negative and positive reactances cancelling) is the OPF's check.
  SMFG_RETURN_IF_ERROR(CheckFinite(p + ".reactance_pu", line.reactance_pu));
  if (line.reactance_pu == 0.0) {
    return Invalid(p + ".reactance_pu", "must be nonzero", line.reactance_pu);
  }
  SMFG_RETURN_IF_ERROR(CheckFinite(p + ".phase_shift_rad", line.phase_shift_rad));
  // +inf is the documented "unlimited"; NaN fails the comparison.
  if (!(line.limit_mw >= 0.0)) {
    return Invalid(p + ".limit_mw", "must be >= 0", line.limit_mw);
  }
  return absl::OkStatus();
}

absl::Status ValidateGenerator(const Generator& gen, size_t i, int num_buses) {
  const std::string p = absl::StrCat("generators[", i, "]");
  SMFG_RETURN_IF_ERROR(CheckBusIndex(p + ".bus", gen.bus, num_buses));
  for (const auto& [field, value] : {std::pair<const char*, double>{".pmin_mw", gen.pmin_mw},
                                     {".pmax_mw", gen.pmax_mw},
                                     {".cost_quadratic", gen.cost_quadratic},
                                     {".cost_linear", gen.cost_linear},
                                     {".cost_fixed", gen.cost_fixed}}) {
    SMFG_RETURN_IF_ERROR(CheckFinite(p + field, value));
  }
  if (gen.pmax_mw < 0.0) return Invalid(p + ".pmax_mw", "must be >= 0", gen.pmax_mw);
  if (gen.pmin_mw > gen.pmax_mw) {
    return Invalid(p + ".pmin_mw", absl::StrCat("must be <= pmax_mw (", gen.pmax_mw, ")"),
                   gen.pmin_mw);
  }
  if (gen.cost_quadratic < 0.0) {
    return Invalid(p + ".cost_quadratic", "must be >= 0 (convex cost)", gen.cost_quadratic);
  }
  const std::vector<double>& avail = gen.hourly_availability;
  if (!avail.empty()) {
    if (avail.size() != 24) {
      return absl::InvalidArgumentError(absl::StrCat(
          p, ".hourly_availability: must be empty or have 24 values, got ", avail.size()));
    }
    for (size_t h = 0; h < avail.size(); ++h) {
      // Written so that NaN fails too.
      if (!(avail[h] >= 0.0 && avail[h] <= 1.0)) {
        return Invalid(absl::StrCat(p, ".hourly_availability[", h, "]"), "must be in [0, 1]",
                       avail[h]);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckConnected(const Network& network) {
  const int n = static_cast<int>(network.buses.size());
  std::vector<std::vector<int>> adjacent(n);
  for (const Line& line : network.lines) {
    adjacent[line.from_bus].push_back(line.to_bus);
    adjacent[line.to_bus].push_back(line.from_bus);
  }
  std::vector<bool> seen(n, false);
  std::vector<int> queue = {0};
  seen[0] = true;
  for (size_t head = 0; head < queue.size(); ++head) {
    for (int next : adjacent[queue[head]]) {
      if (!seen[next]) {
        seen[next] = true;
        queue.push_back(next);
      }
    }
  }
  if (static_cast<int>(queue.size()) == n) return absl::OkStatus();
  std::vector<int> unreached;
  for (int b = 0; b < n; ++b) {
    if (!seen[b]) unreached.push_back(b);
  }
  const size_t total = unreached.size();
  std::string listed;
  if (total > kMaxBusesListed) {
    unreached.resize(kMaxBusesListed);
    listed = absl::StrCat(absl::StrJoin(unreached, ", "), ", ... (", total, " in all)");
  } else {
    listed = absl::StrJoin(unreached, ", ");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("network: buses {", listed, "} are not connected to bus 0"));
}

}  // namespace

absl::Status ValidateNetwork(const Network& network) {
  SMFG_RETURN_IF_ERROR(CheckPositive("base_mva", network.base_mva));
  SMFG_RETURN_IF_ERROR(
      CheckPositive("value_of_lost_load_per_mwh", network.value_of_lost_load_per_mwh));
  if (network.buses.empty()) {
    return absl::InvalidArgumentError("buses: must have at least one bus, got none");
  }
  const int num_buses = static_cast<int>(network.buses.size());
  for (size_t i = 0; i < network.lines.size(); ++i) {
    SMFG_RETURN_IF_ERROR(ValidateLine(network.lines[i], i, num_buses));
  }
  for (size_t i = 0; i < network.generators.size(); ++i) {
    SMFG_RETURN_IF_ERROR(ValidateGenerator(network.generators[i], i, num_buses));
  }
  // Angles are only defined relative to bus 0, so an island would make the OPF
  // singular rather than merely infeasible.
  return CheckConnected(network);
}

}  // namespace smfg::env
