// Conversion between the proto experiment spec (proto/smfg/v1/spec.proto) and
// the environment's plain-C++ view (environment/scenario.h), and the effective
// spec (every default written out) for reports.
//
// Defaults. A scenario field absent from the spec keeps the initialiser of the
// env:: struct it maps to (environment/scenario.h, network.h), except the two
// hourly shapes, which the environment requires and conversion fills with
// kDefaultResidentialShape / kDefaultCommercialShape. The leader-side messages
// (tariff, objective, learner, loop) have no env:: struct; their defaults live in
// WithDefaults below and are quoted in spec.proto's comments.
//
// Conversion does not validate values (see spec_loader.h ValidateSpec and
// env::ValidateScenario); it only rejects what cannot be represented in the env
// structs (an unknown income-group name or enum value, no network). Its errors
// are INVALID_ARGUMENT and start with the spec field path, e.g.
// "scenario.classes[1].income_group: unknown income group 'lo' ...".
#ifndef SMFG_CONFIG_SPEC_CONVERT_H_
#define SMFG_CONFIG_SPEC_CONVERT_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "environment/scenario.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {

// Relative residential demand by hour (hour 0 = 00:00-01:00 local time), mean 1.
// Follows the typical US residential load shape: an overnight trough near 0.6 of
// the daily mean around 03:00-04:00, a morning shoulder at 07:00-09:00, a midday
// plateau, and the evening peak of ~1.5x the mean at 19:00-20:00 when people are
// home (cooking, lighting, air conditioning). Scaled by the household's own daily
// demand, so only the shape matters (the environment renormalises it).
inline constexpr std::array<double, env::kHoursPerDay> kDefaultResidentialShape = {
    0.81, 0.70, 0.65, 0.62, 0.63, 0.70, 0.88, 1.03, 1.03, 0.96, 0.92, 0.91,
    0.92, 0.94, 0.98, 1.05, 1.16, 1.31, 1.45, 1.47, 1.45, 1.33, 1.15, 0.95};

// Relative exogenous (non-residential: commercial and light industrial) load by
// hour, mean 1: ~0.65 overnight, a ramp from 06:00, a daytime plateau of ~1.35
// from 10:00 to 16:00 (business hours, cooling), and a decline through the
// evening.
inline constexpr std::array<double, env::kHoursPerDay> kDefaultCommercialShape = {
    0.67, 0.65, 0.64, 0.64, 0.67, 0.72, 0.82, 0.98, 1.15, 1.26, 1.32, 1.34,
    1.35, 1.36, 1.36, 1.34, 1.30, 1.20, 1.08, 0.98, 0.90, 0.82, 0.75, 0.70};

// A converted scenario and where its network came from.
struct ConvertedScenario {
  env::Scenario scenario;
  // The resolved path of scenario.matpower_file (spec_dir joined with the
  // relative path); empty when the network is inline.
  std::string matpower_path;
};

// Options for ConvertScenario.
struct ConvertOptions {
  // When false, a spec that names a file (scenario.matpower_file) is refused
  // with INVALID_ARGUMENT "scenario.matpower_file: ..." instead of the file
  // being read: for specs that arrive over the network, whose paths mean
  // nothing (or too much) where they arrive.
  bool read_files = true;
};

// Converts spec.scenario to env::Scenario, applying defaults. `spec_dir` is the
// directory of the spec file; a relative matpower_file is resolved against it
// and read with env::LoadMatpowerFile (its errors are returned prefixed with
// "scenario.matpower_file: "). An empty exogenous_mean_mw then defaults to the
// case's Pd column. A class with a single households_per_bus entry gets that
// count at every bus. The scenario name defaults to spec.name.
absl::StatusOr<ConvertedScenario> ConvertScenario(const v1::ExperimentSpec& spec,
                                                  absl::string_view spec_dir,
                                                  const ConvertOptions& options = {});

// ConvertScenario(spec, spec_dir).scenario.
absl::StatusOr<env::Scenario> ToScenario(const v1::ExperimentSpec& spec,
                                         absl::string_view spec_dir);

// The reverse: a spec whose `name` and `scenario` describe `scenario` with every
// field written out (inline network; income groups by name; unbounded
// max_value/limit_mw left absent, which means the same). Leader-side messages are
// left empty. ToScenario(FromScenario(s)) == s for any s whose class income
// groups index into income_groups.
v1::ExperimentSpec FromScenario(const env::Scenario& scenario);

// Returns `spec` with every absent leader-side field (tariff, objective,
// learner, loop) set to its default (but learner.rollout_days_per_update, whose
// default is the scenario's days: see EffectiveSpec), and every *_UNSPECIFIED enum replaced by the
// value it stands for, so consumers can read fields without has_ checks. The
// scenario is left as it is (its defaults are applied by ToScenario).
v1::ExperimentSpec WithDefaults(const v1::ExperimentSpec& spec);

// The effective spec of `spec`, whose scenario converted to `scenario`:
// FromScenario(scenario) (network inline, every scenario default written) and
// WithDefaults for the rest, with learner.rollout_days_per_update set to the
// scenario's days when absent (its default depends on the scenario). Self-
// contained: it names no file. What `smfg submit` sends, what the coordinator
// stores and runs, and what a report records as "the spec that ran".
v1::ExperimentSpec EffectiveSpec(const v1::ExperimentSpec& spec, const env::Scenario& scenario);

// EffectiveSpec as text format, with a header comment.
std::string EffectiveSpecText(const v1::ExperimentSpec& spec, const env::Scenario& scenario);

// Converts a tariff file for `scenario`: a uniform rate list becomes env's
// single-row (uniform) form, per_bus one row per bus, absent fixed charges become
// zeros (one per income group), and the export rule maps across. Shape problems
// that env::ValidateTariff cannot name in TariffFile terms (both or neither of
// import_rate_per_kwh and per_bus, a per_bus count other than the bus count, a
// per_bus bus name that does not match) are errors here; values are checked by
// env::ValidateTariff.
absl::StatusOr<env::Tariff> ToTariff(const v1::TariffFile& file, const env::Scenario& scenario);

// The reverse, for writing a learned tariff so that `smfg evaluate --tariff`
// can read it back: uniform when every bus has the same rates, per-bus (with bus
// names) otherwise.
v1::TariffFile FromTariff(const env::Tariff& tariff, const env::Scenario& scenario);

// Maps between the proto and env enums; UNSPECIFIED is kNetBillingLmp, and a
// value outside the proto enum (proto3 enums are open) is INVALID_ARGUMENT.
absl::StatusOr<env::ExportRule> ToExportRule(v1::ExportRule rule);
v1::ExportRule FromExportRule(env::ExportRule rule);

// Env validation errors start with an env field path ("classes[1].der_share:
// ..." from env::ValidateScenario, "import_rate_per_kwh[0][5]: ..." from
// env::ValidateTariff). These return the same error with the path rewritten to
// the spec's field path ("scenario.classes[1].der_share: ...",
// "per_bus[0].import_rate_per_kwh[5]: ..." or "import_rate_per_kwh[5]: ..."
// depending on how the tariff file gives its rates). A message without a leading
// path is prefixed with the root of the object ("scenario: ..."). Errors about a
// network read from matpower_file are reported as
// "scenario.matpower_file: <file>: network....". OK passes through.
absl::Status ScenarioErrorInSpec(const absl::Status& error, const v1::ExperimentSpec& spec);
absl::Status TariffErrorInFile(const absl::Status& error, const v1::TariffFile& file);

// Splits "a.b[2].c: message" into the leading field path and the rest. Returns
// false (and leaves the outputs alone) when the text before the first ": " is
// not a field path (identifiers, dots and [index] only).
bool SplitFieldPath(absl::string_view message, absl::string_view* path, absl::string_view* rest);

// The directory part of `path` ("" for a bare file name), used as spec_dir.
std::string DirName(absl::string_view path);

// `relative` resolved against `dir` (unchanged when absolute or dir is empty).
std::string JoinPath(absl::string_view dir, absl::string_view relative);

}  // namespace smfg::config

#endif  // SMFG_CONFIG_SPEC_CONVERT_H_
