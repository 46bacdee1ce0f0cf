// Reader for MATPOWER case files, format version 2 (mpc.version = '2').
//
// Reads mpc.baseMVA, mpc.bus, mpc.gen, mpc.branch and mpc.gencost (model 2,
// polynomial with up to 3 coefficients). Columns a DC model does not use are read
// and ignored. Bus numbers are mapped to dense indices in file order. Branches
// that are out of service (status 0) and generators with status 0 are dropped.
// rateA = 0 means unlimited (MATPOWER's convention). Piecewise-linear costs
// (model 1), cubic or higher polynomials, and anything syntactically unexpected
// are INVALID_ARGUMENT errors naming the file, line and matrix/column.
//
// Details: only `<name>.<field> = <value>;` statements (plus the `function`
// line, comments and `return`/`end`) are accepted; unknown fields and cell
// arrays are skipped. mpc.version ('2') and mpc.baseMVA are required. The DC
// reactance of a branch is BR_X * RATIO (RATIO 0 meaning 1), as in MATPOWER's
// makeBdc: it may be negative (series compensation), only zero is rejected;
// SHIFT (degrees) becomes the line's phase_shift_rad. Shunt conductance GS (MW
// consumed at 1 p.u. voltage) counts as load, as in MATPOWER's DC OPF
// (PD + GS). Gencost rows are matched to gen rows
// by position (extra rows, e.g. reactive costs, are ignored); NCOST 3/2/1 give
// quadratic/linear/constant terms. Names: buses get their MATPOWER number
// ("7"), generators "gen<row>", lines "branch<row>" (1-based rows of the file,
// so dropped elements leave gaps). Generators are never marked renewable.
// After parsing, ValidateNetwork runs and its errors are prefixed with the
// source name ("case5.m: lines[2]...").
#ifndef SMFG_ENVIRONMENT_MATPOWER_H_
#define SMFG_ENVIRONMENT_MATPOWER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "environment/network.h"

namespace smfg::env {

struct MatpowerCase {
  Network network;
  // What the DC-OPF balances at each bus (per bus index): PD + GS, MW.
  std::vector<double> bus_load_mw;
  std::vector<double> bus_demand_mw;  // PD column, MW
  std::vector<double> bus_shunt_mw;   // GS column, MW at 1 p.u.
  std::vector<int> bus_numbers;       // original MATPOWER bus numbers, per index
};

// `source_name` is used in error messages ("case5.m:12: mpc.gen row 3: ...").
absl::StatusOr<MatpowerCase> ParseMatpowerCase(absl::string_view text,
                                               absl::string_view source_name);
// Uses `path` as the source name; NOT_FOUND if the file cannot be opened.
absl::StatusOr<MatpowerCase> LoadMatpowerFile(const std::string& path);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_MATPOWER_H_
