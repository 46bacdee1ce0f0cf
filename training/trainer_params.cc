#include "training/trainer_params.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/spec_convert.h"
#include "leader/ppo.h"
#include "training/tariff_family.h"

namespace smfg::training {

namespace {

absl::Status Invalid(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// NaN fails every check below.
absl::Status CheckNonNegative(absl::string_view path, double value) {
  if (!(std::isfinite(value) && value >= 0)) {
    return Invalid(path, absl::StrCat("must be finite and >= 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckFinite(absl::string_view path, double value) {
  if (!std::isfinite(value)) return Invalid(path, absl::StrCat("must be finite, got ", value));
  return absl::OkStatus();
}

}  // namespace

leader::PpoParams LearnerParams(const TrainerParams& params) {
  leader::PpoParams ppo = params.ppo;
  ppo.observation_size = kDayFeatures;
  ppo.action_size = TariffFamily(params.tariff).size();
  return ppo;
}

absl::Status TrainerParams::Validate() const {
  const TariffFamilyParams& b = tariff;
  SMFG_RETURN_IF_ERROR(CheckNonNegative("tariff.min_import_rate_per_kwh", b.min_rate_per_kwh));
  SMFG_RETURN_IF_ERROR(CheckNonNegative("tariff.max_import_rate_per_kwh", b.max_rate_per_kwh));
  if (!(b.min_rate_per_kwh < b.max_rate_per_kwh)) {
    return Invalid("tariff.min_import_rate_per_kwh",
                   absl::StrCat("must be < max_import_rate_per_kwh (", b.max_rate_per_kwh,
                                "), got ", b.min_rate_per_kwh));
  }
  SMFG_RETURN_IF_ERROR(CheckFinite("tariff.min_fixed_charge_per_day", b.min_fixed_charge_per_day));
  SMFG_RETURN_IF_ERROR(CheckFinite("tariff.max_fixed_charge_per_day", b.max_fixed_charge_per_day));
  if (b.learn_fixed_charges ? !(b.min_fixed_charge_per_day < b.max_fixed_charge_per_day)
                            : b.min_fixed_charge_per_day > b.max_fixed_charge_per_day) {
    return Invalid(
        "tariff.min_fixed_charge_per_day",
        absl::StrCat("must be ", b.learn_fixed_charges ? "<" : "<=", " max_fixed_charge_per_day (",
                     b.max_fixed_charge_per_day, "), got ", b.min_fixed_charge_per_day));
  }
  SMFG_RETURN_IF_ERROR(b.Validate());
  const int buses = static_cast<int>(scenario.network.buses.size());
  if (b.rows != 1 && b.rows != buses) {
    return Invalid("tariff.rate_structure",
                   absl::StrCat("has ", b.rows, " rate rows; expected 1 or ", buses));
  }
  if (b.learn_fixed_charges && b.groups != static_cast<int>(scenario.income_groups.size())) {
    return Invalid(
        "tariff.learn_fixed_charges",
        absl::StrCat("expects ", scenario.income_groups.size(), " groups, got ", b.groups));
  }
  if (base.fixed_charge_per_day.size() != scenario.income_groups.size()) {
    return Invalid(
        "tariff.fixed_charge_per_day",
        absl::StrCat("has ", base.fixed_charge_per_day.size(), " entries, the scenario has ",
                     scenario.income_groups.size(), " income groups"));
  }
  for (size_t g = 0; g < base.fixed_charge_per_day.size(); ++g) {
    SMFG_RETURN_IF_ERROR(CheckFinite(absl::StrCat("tariff.fixed_charge_per_day[", g, "]"),
                                     base.fixed_charge_per_day[g]));
  }
  SMFG_RETURN_IF_ERROR(
      CheckNonNegative("tariff.fixed_export_credit_per_kwh", base.fixed_export_credit_per_kwh));
  if (base.export_rule != env::ExportRule::kFixed && base.fixed_export_credit_per_kwh != 0.0) {
    return Invalid("tariff.fixed_export_credit_per_kwh",
                   absl::StrCat("must be 0 unless export_rule is EXPORT_RULE_FIXED, got ",
                                base.fixed_export_credit_per_kwh));
  }
  SMFG_RETURN_IF_ERROR(CheckNonNegative("objective.w_equity", weights.equity));
  SMFG_RETURN_IF_ERROR(CheckNonNegative("objective.w_revenue", weights.revenue));
  SMFG_RETURN_IF_ERROR(CheckNonNegative("objective.w_volatility", weights.volatility));
  SMFG_RETURN_IF_ERROR(CheckNonNegative("objective.w_cost", weights.cost));
  if (weights.equity == 0 && weights.revenue == 0 && weights.volatility == 0 && weights.cost == 0) {
    return Invalid("objective", "all weights are 0, so every tariff would be optimal");
  }
  SMFG_RETURN_IF_ERROR(LearnerParams(*this).Validate());
  if (loop.max_iterations < 1) {
    return Invalid("loop.max_iterations", absl::StrCat("must be >= 1, got ", loop.max_iterations));
  }
  SMFG_RETURN_IF_ERROR(CheckNonNegative("loop.objective_tolerance", loop.objective_tolerance));
  SMFG_RETURN_IF_ERROR(
      CheckNonNegative("loop.mean_field_tolerance_per_mwh", loop.mean_field_tolerance_per_mwh));
  if (loop.patience < 1) {
    return Invalid("loop.patience_iterations", absl::StrCat("must be >= 1, got ", loop.patience));
  }
  if (loop.checkpoint_every < 0) {
    return Invalid("loop.checkpoint_every",
                   absl::StrCat("must be >= 0, got ", loop.checkpoint_every));
  }
  if (rollouts_per_update < 1 || rollouts_per_update > kMaxRolloutsPerUpdate) {
    return Invalid("learner.rollout_days_per_update",
                   absl::StrCat("must be 1 to ", kMaxRolloutsPerUpdate,
                                " times scenario.days, got ", rollouts_per_update, " times"));
  }
  if (reference.max_evaluations < 1) {
    return Invalid("reference.max_evaluations",
                   absl::StrCat("must be >= 1, got ", reference.max_evaluations));
  }
  if (!(reference.relative_tolerance > 0) || !std::isfinite(reference.relative_tolerance)) {
    return Invalid("reference.relative_tolerance",
                   absl::StrCat("must be > 0, got ", reference.relative_tolerance));
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainerParams> TrainerParamsFromSpec(const v1::ExperimentSpec& written,
                                                    const env::Scenario& scenario) {
  const v1::ExperimentSpec spec = config::WithDefaults(written);
  TrainerParams p;
  p.scenario = scenario;
  const v1::TariffStructure& t = spec.tariff();
  switch (t.rate_structure()) {
    case v1::TariffStructure::UNIFORM:
      p.tariff.rows = 1;
      break;
    case v1::TariffStructure::PER_BUS:
      p.tariff.rows = static_cast<int>(scenario.network.buses.size());
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("tariff.rate_structure: unknown value ",
                                                     static_cast<int>(t.rate_structure()),
                                                     " (expected UNIFORM or PER_BUS)"));
  }
  switch (t.family()) {
    case v1::TariffStructure::HOURLY:
      p.tariff.kind = FamilyKind::kHourly;
      break;
    case v1::TariffStructure::BLOCKS:
      p.tariff.kind = FamilyKind::kBlocks;
      p.tariff.block_start_hours.assign(t.block_start_hours().begin(), t.block_start_hours().end());
      break;
    case v1::TariffStructure::SMOOTH:
      p.tariff.kind = FamilyKind::kSmooth;
      p.tariff.harmonics = t.smooth_harmonics();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("tariff.family: unknown value ",
                                                     static_cast<int>(t.family()),
                                                     " (expected HOURLY, BLOCKS or SMOOTH)"));
  }
  if (t.has_max_peak_to_offpeak_ratio() && !(t.max_peak_to_offpeak_ratio() >= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tariff.max_peak_to_offpeak_ratio: must be >= 1, got ", t.max_peak_to_offpeak_ratio()));
  }
  if (t.has_max_hourly_step_per_kwh() && !(t.max_hourly_step_per_kwh() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tariff.max_hourly_step_per_kwh: must be > 0, got ", t.max_hourly_step_per_kwh()));
  }
  p.tariff.max_peak_to_offpeak_ratio = t.max_peak_to_offpeak_ratio();
  p.tariff.max_hourly_step_per_kwh = t.max_hourly_step_per_kwh();
  switch (t.cost_recovery()) {
    case v1::TariffStructure::PENALTY:
      break;
    case v1::TariffStructure::CONSTRAINT:
      if (!(t.cost_recovery_tolerance() >= 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tariff.cost_recovery_tolerance: must be >= 0, got ", t.cost_recovery_tolerance()));
      }
      p.weights.recovery_constraint_tolerance = t.cost_recovery_tolerance();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("tariff.cost_recovery: unknown value ",
                                                     static_cast<int>(t.cost_recovery()),
                                                     " (expected PENALTY or CONSTRAINT)"));
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
  p.tariff.min_rate_per_kwh = t.min_import_rate_per_kwh();
  p.tariff.max_rate_per_kwh = t.max_import_rate_per_kwh();
  p.tariff.learn_fixed_charges = t.learn_fixed_charges();
  p.tariff.min_fixed_charge_per_day = t.min_fixed_charge_per_day();
  p.tariff.max_fixed_charge_per_day = t.max_fixed_charge_per_day();
  p.tariff.groups = static_cast<int>(scenario.income_groups.size());

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
  if (l.has_rollout_days_per_update() &&
      (l.rollout_days_per_update() < scenario.days ||
       l.rollout_days_per_update() % scenario.days != 0 ||
       l.rollout_days_per_update() / scenario.days > kMaxRolloutsPerUpdate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("learner.rollout_days_per_update: a rollout is the whole day pool (",
                     scenario.days, " days) sampled 1 to ", kMaxRolloutsPerUpdate,
                     " times per update, so it must be a multiple of ", scenario.days, " up to ",
                     static_cast<int64_t>(kMaxRolloutsPerUpdate) * scenario.days, "; got ",
                     l.rollout_days_per_update()));
  }
  p.rollouts_per_update =
      l.has_rollout_days_per_update() ? l.rollout_days_per_update() / scenario.days : 1;
  switch (l.action_bounds()) {
    case v1::LeaderLearner::CLIP:
      p.action_bounds = ActionBounds::kClip;
      break;
    case v1::LeaderLearner::TANH:
      p.action_bounds = ActionBounds::kTanh;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("learner.action_bounds: unknown value ",
                                                     static_cast<int>(l.action_bounds()),
                                                     " (expected CLIP or TANH)"));
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
  p.ppo.minibatch_size = std::min(l.minibatch_size(), scenario.days * p.rollouts_per_update);
  p.ppo.target_kl = l.target_kl();
  p.ppo.max_grad_norm = l.max_grad_norm();
  p.ppo.initial_action_std = l.initial_action_std();
  p.ppo.schedule_updates = l.schedule_updates();
  p.ppo.final_learning_rate_fraction = l.final_learning_rate_fraction();
  p.ppo.final_action_std = l.final_action_std();
  p.ppo.seed = scenario.seed + l.seed_offset();
  p.ppo.state_independent_policy = !spec.tariff().vary_by_day();

  const v1::OuterLoop& loop = spec.loop();
  p.loop.max_iterations = loop.max_iterations();
  p.loop.objective_tolerance = loop.objective_tolerance();
  p.loop.mean_field_tolerance_per_mwh = loop.mean_field_tolerance_per_mwh();
  p.loop.patience = loop.patience_iterations();
  p.loop.checkpoint_every = loop.checkpoint_every();
  switch (loop.mode()) {
    case v1::OuterLoop::NESTED:
      p.loop.mode = LoopMode::kNested;
      break;
    case v1::OuterLoop::SINGLE:
      p.loop.mode = LoopMode::kSingle;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("loop.mode: unknown value ",
                                                     static_cast<int>(loop.mode()),
                                                     " (expected NESTED or SINGLE)"));
  }
  const v1::ReferenceOptimizer& reference = spec.reference();
  p.reference.enabled = !reference.disabled();
  p.reference.max_evaluations = reference.max_evaluations();
  p.reference.relative_tolerance = reference.relative_tolerance();
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
    if (overrides.days > 0) {
      // K rollouts of the day pool per update stay K rollouts of the shorter pool.
      v1::LeaderLearner* l = spec->mutable_learner();
      const int days = spec->scenario().days();
      if (l->has_rollout_days_per_update() && days > 0 &&
          l->rollout_days_per_update() % days == 0) {
        l->set_rollout_days_per_update(l->rollout_days_per_update() / days * overrides.days);
      }
      spec->mutable_scenario()->set_days(overrides.days);
    }
    if (overrides.max_iterations > 0) {
      spec->mutable_loop()->set_max_iterations(overrides.max_iterations);
    }
  };
  options.extra_rules = ValidateLeaderSide;
  return config::LoadExperimentFile(path, options);
}

}  // namespace smfg::training
