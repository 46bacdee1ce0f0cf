// An experiment spec's leader side as TrainerParams, and the spec loader for
// training: the one place where the leader-side rules meet the spec.
#ifndef SMFG_TRAINING_TRAINER_PARAMS_H_
#define SMFG_TRAINING_TRAINER_PARAMS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/spec_loader.h"
#include "environment/scenario.h"
#include "smfg/v1/spec.pb.h"
#include "training/trainer.h"

namespace smfg::training {

// The TrainerParams of `spec` (as written or effective; config::WithDefaults
// is applied here) for its converted `scenario`, checked with
// TrainerParams::Validate. checkpoint_dir and checkpoint_owner are left empty.
// Errors name the spec field path: INVALID_ARGUMENT for a bad value (also an
// enum value the proto does not define, fixed_charge_per_day given with
// learn_fixed_charges, or a learner.rollout_days_per_update that is not the
// whole day pool).
absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const v1::ExperimentSpec& spec,
                                                    const env::Scenario& scenario);

// TrainerParamsFromSpec(spec, scenario).status(): the leader side's rules as
// config::SpecRules.
absl::Status ValidateLeaderSide(const v1::ExperimentSpec& spec, const env::Scenario& scenario);

// Command-line overrides of a spec file's values (0: keep the file's).
struct SpecOverrides {
  // scenario.days; a learner.rollout_days_per_update of K times the file's
  // days becomes K times these.
  int days = 0;
  int max_iterations = 0;  // loop.max_iterations
};

// Loads an experiment spec file for training or evaluation: overrides applied,
// then every rule (config's scenario rules and ValidateLeaderSide), errors with
// file, line and field path.
absl::StatusOr<config::LoadedSpec> LoadExperimentFile(const std::string& path,
                                                      const SpecOverrides& overrides = {});

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TRAINER_PARAMS_H_
