// Reading experiment specs and tariff files (proto/smfg/v1/spec.proto) from
// text-format or JSON files, with errors a person can act on.
//
// Every problem with the content of a file is INVALID_ARGUMENT and its message
// starts with the file name, the line (when it is known) and the field path from
// the root of the message:
//   configs/x.textproto:12:5: unknown field 'foo' in smfg.v1.Scenario (at scenario)
//   configs/x.textproto:3:9: scenario.days: expected integer, got: "abc"
//   configs/three_bus.textproto:41: scenario.network.generators[2].pmax_mw: must be
//     >= 0, got -5
//   configs/x.json:7:15: Expected : between key:value pair.
// Syntax errors carry line:column (1-based); value errors carry the line of the
// offending field, or of its nearest enclosing field that the file spells out
// when the value came from a default (a JSON value error has no line when the
// path cannot be located). A file that cannot be read is NOT_FOUND /
// PERMISSION_DENIED / ... as the OS reports it; a matpower_file that cannot be
// read keeps the status of env::LoadMatpowerFile.
//
// Where each rule lives: scenario values in env::ValidateScenario and
// env::ValidateNetwork (environment/), tariff values in env::ValidateTariff,
// leader-side values (tariff structure, objective, learner, loop) in
// training::TrainerParams::Validate (added through LoadOptions::extra_rules by
// training::LoadExperimentFile), and representability (unknown names, enum
// values) in spec_convert.
#ifndef SMFG_CONFIG_SPEC_LOADER_H_
#define SMFG_CONFIG_SPEC_LOADER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/spec_convert.h"
#include "environment/scenario.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {

enum class Format {
  kText,  // protobuf text format: .textproto, .txtpb, .pbtxt
  kJson,  // proto3 JSON mapping (proto or lowerCamel field names): .json
};

// The format implied by `path`'s extension; INVALID_ARGUMENT for any other.
absl::StatusOr<Format> FormatFromPath(absl::string_view path);

// A parsed, converted and validated experiment spec.
struct LoadedSpec {
  // The spec as written in the file (absent fields stay absent; see
  // spec_convert.h WithDefaults / EffectiveSpec for the filled-in form).
  v1::ExperimentSpec spec;
  // spec.scenario converted with defaults applied; passes
  // env::ValidateScenario.
  env::Scenario scenario;
  // The resolved matpower_file, or empty for an inline network.
  std::string matpower_path;
};

// Rules a caller adds to the scenario's: called with the spec (as written,
// after LoadOptions::edit) and its converted scenario. Errors must start with
// the spec field path ("loop.patience_iterations: ..."), so that the loader
// can add file and line. training::ValidateLeaderSide is the one in use.
using SpecRules =
    std::function<absl::Status(const v1::ExperimentSpec& spec, const env::Scenario& scenario)>;

struct LoadOptions {
  // Applied to the parsed spec before it is converted and checked, e.g. the
  // command-line overrides of `smfg train --days`.
  std::function<void(v1::ExperimentSpec*)> edit;
  // Checked after ValidateSpec.
  SpecRules extra_rules;
};

// Reads, parses, converts and validates the spec at `path` (relative paths in
// it are resolved against the file's directory).
absl::StatusOr<LoadedSpec> LoadExperimentFile(const std::string& path,
                                              const LoadOptions& options = {});

// The same for `content`; `source_name` is used in messages and its directory
// resolves matpower_file.
absl::StatusOr<LoadedSpec> ParseExperiment(absl::string_view content, absl::string_view source_name,
                                           Format format, const LoadOptions& options = {});

// Both loaders first check the spec's size bounds (config/bounds.h), before
// anything is converted.
//
// The checks of ParseExperiment for a spec that arrived as a message (the
// coordinator's Submit): converts it with `convert` and validates it
// (ValidateSpec, then `extra_rules` when set). Errors start with the spec field
// path and name no file or line.
absl::StatusOr<env::Scenario> CheckSpecMessage(const v1::ExperimentSpec& spec,
                                               const ConvertOptions& convert,
                                               const SpecRules& extra_rules);

// The scenario-side value rules for a spec whose scenario converted to
// `scenario`: a non-empty name and env::ValidateScenario (paths mapped to
// "scenario. ..."). Errors name the spec field path but no file; the loader
// adds file and line. The leader side's rules live in training/
// (TrainerParams::Validate) and come in through SpecRules.
absl::Status ValidateSpec(const v1::ExperimentSpec& spec, const env::Scenario& scenario);

// Reads a TariffFile (for `smfg evaluate --tariff FILE`), converts it for
// `scenario` (spec_convert.h ToTariff) and checks it with env::ValidateTariff.
// Errors as above, with paths from the root of the TariffFile.
absl::StatusOr<env::Tariff> LoadTariffFile(const std::string& path, const env::Scenario& scenario);
absl::StatusOr<env::Tariff> ParseTariffText(absl::string_view content,
                                            absl::string_view source_name, Format format,
                                            const env::Scenario& scenario);

}  // namespace smfg::config

#endif  // SMFG_CONFIG_SPEC_LOADER_H_
