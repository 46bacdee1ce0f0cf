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
// ValidateSpec below, and representability (unknown names, enum values) in
// spec_convert.
#ifndef SMFG_CONFIG_SPEC_LOADER_H_
#define SMFG_CONFIG_SPEC_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// Reads, parses, converts and validates the spec at `path` (relative paths in
// it are resolved against the file's directory).
absl::StatusOr<LoadedSpec> LoadExperimentFile(const std::string& path);

// The same for `content`; `source_name` is used in messages and its directory
// resolves matpower_file.
absl::StatusOr<LoadedSpec> ParseExperiment(absl::string_view content, absl::string_view source_name,
                                           Format format);

// LoadExperimentFile(path) / ParseExperiment(...), returning only the spec as
// written. OK means the spec is valid: its scenario converts and validates.
absl::StatusOr<v1::ExperimentSpec> LoadSpecFile(const std::string& path);
absl::StatusOr<v1::ExperimentSpec> ParseSpecText(absl::string_view content,
                                                 absl::string_view source_name, Format format);

// All value rules for a spec whose scenario converted to `scenario`: a non-empty
// name, env::ValidateScenario (paths mapped to "scenario. ..."), and the
// leader-side rules (applied to WithDefaults(spec)). Errors name the spec field
// path but no file; the loader adds file and line.
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
