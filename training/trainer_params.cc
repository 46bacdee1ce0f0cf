#include "training/trainer_params.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/spec_convert.h"

namespace smfg::training {

absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const v1::ExperimentSpec& written,
                                                    const env::Scenario& scenario) {
  const v1::ExperimentSpec spec = config::WithDefaults(written);
  TrainerParams p;
  p.scenario = scenario;
  const v1::TariffStructure& t = spec.tariff();
  switch (t.rate_structure()) {
    case v1::TariffStructure::UNIFORM:
      break;
    case v1::TariffStructure::PER_BUS:
      return absl::UnimplementedError(
          "tariff.rate_structure: PER_BUS is not learnable yet; the leader posts UNIFORM rates");
    default:
      return absl::InvalidArgumentError(absl::StrCat("tariff.rate_structure: unknown value ",
                                                     static_cast<int>(t.rate_structure()),
                                                     " (expected UNIFORM or PER_BUS)"));
  }
  absl::StatusOr<env::ExportRule> rule = config::ToExportRule(t.export_rule());
  if (!rule.ok()) return Annotate(rule.status(), "tariff.export_rule");
  p.base.export_rule = *rule;
  p.base.fixed_export_credit_per_kwh = t.fixed_export_credit_per_kwh();
  if (!t.fixed_charge_per_day().empty() && t.learn_fixed_charges()) {
    return absl::InvalidArgumentError(
        "tariff.fixed_charge_per_day: must be empty when learn_fixed_charges is true (the leader "
        "chooses them)");
  }
  p.base.fixed_charge_per_day.assign(t.fixed_charge_per_day().begin(),
                                     t.fixed_charge_per_day().end());
  if (p.base.fixed_charge_per_day.empty()) {
    p.base.fixed_charge_per_day.assign(scenario.income_groups.size(), 0.0);
  }
  p.bounds.min_rate_per_kwh = t.min_import_rate_per_kwh();
  p.bounds.max_rate_per_kwh = t.max_import_rate_per_kwh();
  p.bounds.learn_fixed_charges = t.learn_fixed_charges();
  p.bounds.min_fixed_charge_per_day = t.min_fixed_charge_per_day();
  p.bounds.max_fixed_charge_per_day = t.max_fixed_charge_per_day();

  const v1::LeaderObjective& o = spec.objective();
  if (o.spread_measure() != v1::LeaderObjective::MAX_MIN &&
      o.spread_measure() != v1::LeaderObjective::STD_DEV) {
    return absl::InvalidArgumentError(absl::StrCat("objective.spread_measure: unknown value ",
                                                   static_cast<int>(o.spread_measure()),
                                                   " (expected MAX_MIN or STD_DEV)"));
  }
  p.weights.equity = o.w_equity();
  p.weights.revenue = o.w_revenue();
  p.weights.volatility = o.w_volatility();
  p.weights.cost = o.w_cost();
  p.weights.spread_is_std_dev = o.spread_measure() == v1::LeaderObjective::STD_DEV;
  p.weights.penalize_over_recovery = o.penalize_over_recovery();

  const v1::LeaderLearner& l = spec.learner();
  if (l.has_rollout_days_per_update() && l.rollout_days_per_update() != scenario.days) {
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
  // A minibatch holds at most the whole rollout (one transition a day).
  p.ppo.minibatch_size = std::min(l.minibatch_size(), scenario.days);
  p.ppo.target_kl = l.target_kl();
  p.ppo.max_grad_norm = l.max_grad_norm();
  p.ppo.initial_action_std = l.initial_action_std();
  p.ppo.seed = scenario.seed + l.seed_offset();

  const v1::OuterLoop& loop = spec.loop();
  p.loop.max_iterations = loop.max_iterations();
  p.loop.objective_tolerance = loop.objective_tolerance();
  p.loop.mean_field_tolerance_per_mwh = loop.mean_field_tolerance_per_mwh();
  p.loop.patience = loop.patience_iterations();
  p.loop.checkpoint_every = loop.checkpoint_every();
  SMFG_RETURN_IF_ERROR(p.Validate());
  return p;
}

absl::Status ValidateLeaderSide(const v1::ExperimentSpec& spec, const env::Scenario& scenario) {
  return TrainerParamsFromSpec(spec, scenario).status();
}

absl::StatusOr<config::LoadedSpec> LoadExperimentFile(const std::string& path,
                                                      const SpecOverrides& overrides) {
  config::LoadOptions options;
  options.edit = [overrides](v1::ExperimentSpec* spec) {
    if (overrides.days > 0) spec->mutable_scenario()->set_days(overrides.days);
    if (overrides.max_iterations > 0) {
      spec->mutable_loop()->set_max_iterations(overrides.max_iterations);
    }
  };
  options.extra_rules = ValidateLeaderSide;
  return config::LoadExperimentFile(path, options);
}

}  // namespace smfg::training
