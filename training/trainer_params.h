// The leader-side parts of an experiment spec as training::TrainerParams,
// shared by `smfg train` (local) and the coordinator's ExperimentManager.
#ifndef SMFG_TRAINING_TRAINER_PARAMS_H_
#define SMFG_TRAINING_TRAINER_PARAMS_H_

#include "absl/status/statusor.h"
#include "config/spec_loader.h"
#include "environment/scenario.h"
#include "training/trainer.h"

namespace smfg::training {

// spec.proto's defaults applied (config::WithDefaults). `scenario` is the
// scenario to train on (loaded.scenario, possibly with fewer days).
// checkpoint_dir is left empty. UNIMPLEMENTED for PER_BUS rates;
// INVALID_ARGUMENT naming the field for a rollout_days_per_update that is not
// the whole day pool.
absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const config::LoadedSpec& loaded,
                                                    const env::Scenario& scenario);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TRAINER_PARAMS_H_
