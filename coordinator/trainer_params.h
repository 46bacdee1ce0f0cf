// The leader-side parts of an experiment spec as coordinator::TrainerParams,
// shared by `smfg train` (local) and the coordinator's ExperimentManager.
#ifndef SMFG_COORDINATOR_TRAINER_PARAMS_H_
#define SMFG_COORDINATOR_TRAINER_PARAMS_H_

#include "absl/status/statusor.h"
#include "coordinator/stackelberg.h"
#include "environment/scenario.h"
#include "spec/spec_loader.h"

namespace smfg::coordinator {

// spec.proto's defaults applied (spec::WithDefaults). `scenario` is the
// scenario to train on (loaded.scenario, possibly with fewer days).
// checkpoint_dir is left empty. UNIMPLEMENTED for PER_BUS rates;
// INVALID_ARGUMENT naming the field for a rollout_days_per_update that is not
// the whole day pool.
absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const spec::LoadedSpec& loaded,
                                                    const env::Scenario& scenario);

}  // namespace smfg::coordinator

#endif  // SMFG_COORDINATOR_TRAINER_PARAMS_H_
