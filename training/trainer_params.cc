#include "training/trainer_params.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/spec_convert.h"

namespace smfg::training {

absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const config::LoadedSpec& loaded,
                                                    const env::Scenario& scenario) {
  const v1::ExperimentSpec spec = config::WithDefaults(loaded.spec);
  TrainerParams p;
  p.scenario = scenario;
  const v1::TariffStructure& t = spec.tariff();
  if (t.rate_structure() == v1::TariffStructure::PER_BUS) {
    return absl::UnimplementedError(
        "tariff.rate_structure: PER_BUS is not learnable yet; the leader posts UNIFORM rates");
  }
  SMFG_ASSIGN_OR_RETURN(p.base.export_rule, config::ToExportRule(t.export_rule()));
  p.base.fixed_export_credit_per_kwh = t.fixed_export_credit_per_kwh();
  p.base.fixed_charge_per_day.assign(t.fixed_charge_per_day().begin(),
                                     t.fixed_charge_per_day().end());
  if (p.base.fixed_charge_per_day.empty())
    p.base.fixed_charge_per_day.assign(scenario.income_groups.size(), 0.0);
  p.bounds = {t.min_import_rate_per_kwh(), t.max_import_rate_per_kwh(), t.learn_fixed_charges(),
              t.min_fixed_charge_per_day(), t.max_fixed_charge_per_day()};
  const v1::LeaderObjective& o = spec.objective();
  p.weights = {o.w_equity(),
               o.w_revenue(),
               o.w_volatility(),
               o.w_cost(),
               o.spread_measure() == v1::LeaderObjective::STD_DEV,
               o.penalize_over_recovery()};
  const v1::LeaderLearner& l = spec.learner();
  if (loaded.spec.learner().has_rollout_days_per_update() &&
      l.rollout_days_per_update() != scenario.days) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.rollout_days_per_update: each outer iteration's rollout is the whole day pool (",
        scenario.days, " days); set it to ", scenario.days, " or leave it unset"));
  }
  p.ppo.hidden_sizes.assign(l.hidden_sizes().begin(), l.hidden_sizes().end());
  p.ppo.policy_learning_rate = l.policy_learning_rate();
  p.ppo.value_learning_rate = l.value_learning_rate();
  p.ppo.clip_epsilon = l.clip_epsilon();
  p.ppo.gae_lambda = l.gae_lambda();
  p.ppo.discount = l.discount();
  p.ppo.entropy_coefficient = l.entropy_coefficient();
  p.ppo.value_coefficient = l.value_coefficient();
  p.ppo.epochs = l.epochs();
  p.ppo.minibatch_size = std::min(l.minibatch_size(), scenario.days);
  p.ppo.target_kl = l.target_kl();
  p.ppo.max_grad_norm = l.max_grad_norm();
  p.ppo.initial_action_std = l.initial_action_std();
  p.ppo.seed = scenario.seed + l.seed_offset();
  const v1::OuterLoop& loop = spec.loop();
  p.loop = {loop.max_iterations(), loop.objective_tolerance(), loop.mean_field_tolerance_per_mwh(),
            loop.patience_iterations(), loop.checkpoint_every()};
  return p;
}

}  // namespace smfg::training
