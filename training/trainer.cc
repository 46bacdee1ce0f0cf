#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "leader/ppo_math.h"
#include "training/checkpoint.h"
#include "training/iteration_record.h"

namespace smfg::training {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

v1::PpoUpdate PpoProto(const leader::UpdateStats& u) {
  v1::PpoUpdate p;
  p.set_policy_loss(u.policy_loss);
  p.set_value_loss(u.value_loss);
  p.set_entropy(u.entropy);
  p.set_clip_fraction(u.clip_fraction);
  p.set_grad_norm(u.grad_norm);
  p.set_approx_kl(u.approx_kl);
  p.set_epochs_run(u.epochs_run);
  p.set_minibatches(u.minibatches);
  p.set_kl_early_stop(u.kl_early_stop);
  return p;
}

// The distributed-evaluation figures accrued since `before`.
void RecordDistributed(const env::EvaluatorCounters& before, const env::EvaluatorCounters& after,
                       IterationRecord* r) {
  r->mutable_seconds()->set_worker_compute(after.compute_seconds - before.compute_seconds);
  r->mutable_seconds()->set_communication(after.communication_seconds -
                                          before.communication_seconds);
  r->mutable_seconds()->set_barrier_wait(after.barrier_seconds - before.barrier_seconds);
  r->mutable_bytes()->set_to_workers(after.bytes_sent - before.bytes_sent);
  r->mutable_bytes()->set_from_workers(after.bytes_received - before.bytes_received);
}

double MaxChange(const env::PriceBelief& a, const env::PriceBelief& b) {
  if (a.lmp_per_mwh.size() != b.lmp_per_mwh.size()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t i = 0; i < a.lmp_per_mwh.size(); ++i) {
    m = std::max(m, std::fabs(a.lmp_per_mwh[i] - b.lmp_per_mwh[i]));
  }
  return m;
}

}  // namespace

std::vector<double> DayFeatures(const env::Scenario& scenario, const env::DayConditions& day,
                                int day_index) {
  const double doy = (scenario.first_day_of_year + day_index) % 365;
  return {day.clearness - 0.625, day.demand_factor - 1.0, std::sin(2 * M_PI * doy / 365.0),
          std::cos(2 * M_PI * doy / 365.0)};
}

namespace {

// The learner's parameters with the observation and action sizes this
// trainer's policy needs.

}  // namespace

absl::StatusOr<std::unique_ptr<StackelbergTrainer>> StackelbergTrainer::Create(
    TrainerParams params, env::PopulationEvaluator* evaluator, env::MarketClearing* market,
    const std::vector<env::DayConditions>& days) {
  SMFG_RETURN_IF_ERROR(params.Validate());
  if (static_cast<int>(days.size()) != params.scenario.days) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer: ", days.size(), " day conditions for scenario.days = ", params.scenario.days));
  }
  std::vector<std::vector<double>> features;
  for (int d = 0; d < params.scenario.days; ++d) {
    features.push_back(DayFeatures(params.scenario, days[d], d));
  }
  params.ppo = LearnerParams(params);
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<leader::PpoLearner> learner,
                        leader::PpoLearner::Create(params.ppo));
  if (!params.checkpoint_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(params.checkpoint_dir, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", params.checkpoint_dir, ": ", ec.message()));
    }
  }
  return std::unique_ptr<StackelbergTrainer>(new StackelbergTrainer(
      std::move(params), evaluator, market, std::move(features), std::move(learner)));
}

StackelbergTrainer::StackelbergTrainer(TrainerParams params, env::PopulationEvaluator* evaluator,
                                       env::MarketClearing* market,
                                       std::vector<std::vector<double>> features,
                                       std::unique_ptr<leader::PpoLearner> learner)
    : params_(std::move(params)),
      family_(params_.tariff),
      evaluator_(evaluator),
      market_(market),
      features_(std::move(features)),
      learner_(std::move(learner)) {}

env::Tariff StackelbergTrainer::TariffFromActions(
    const std::vector<std::vector<double>>& raw) const {
  env::Tariff t = params_.base;
  const int rows = family_.params().rows;
  const bool learn = family_.params().learn_fixed_charges;
  t.daily_rate_rows = rows;
  t.daily_import_rate_per_kwh.clear();
  if (learn) t.daily_fixed_charge_per_day.assign(raw.size(), {});
  std::vector<double> x(family_.size());
  for (size_t d = 0; d < raw.size(); ++d) {
    // The raw action's i-th entry, squashed into the i-th parameter's range.
    for (int i = 0; i < family_.size(); ++i) {
      const double lo = family_.lower()[i], hi = family_.upper()[i];
      x[i] = params_.action_bounds == ActionBounds::kClip
                 ? leader::ClipToRange(raw[d][i], lo, hi)
                 : leader::SquashToRange(raw[d][i], lo, hi);
    }
    DayPrices day = family_.Map(x);
    for (const auto& row : day.rates)
      t.daily_import_rate_per_kwh.emplace_back(row.begin(), row.end());
    if (learn) t.daily_fixed_charge_per_day[d] = std::move(day.fixed_charges);
  }
  // The static rows stay meaningful for reports: the mean over days.
  t.import_rate_per_kwh.assign(rows, std::vector<double>(env::kHoursPerDay, 0.0));
  for (size_t d = 0; d < raw.size(); ++d) {
    for (int r = 0; r < rows; ++r) {
      for (int h = 0; h < env::kHoursPerDay; ++h) {
        t.import_rate_per_kwh[r][h] += t.daily_import_rate_per_kwh[d * rows + r][h] / raw.size();
      }
    }
  }
  if (learn) {
    for (size_t g = 0; g < t.fixed_charge_per_day.size(); ++g) {
      t.fixed_charge_per_day[g] =
          t.MeanFixedCharge(static_cast<int>(g), static_cast<int>(raw.size()));
    }
  }
  return t;
}

absl::StatusOr<StackelbergTrainer::FollowerOutcome> StackelbergTrainer::SingleStep(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  FollowerOutcome out;
  env::InnerResult& r = out.inner;
  const env::Scenario& sc = params_.scenario;
  r.belief =
      belief.lmp_per_mwh.empty()
          ? env::PriceBelief::Constant(sc.days, static_cast<int>(sc.network.buses.size()), 0.0)
          : belief;
  // Learning followers train at most one PPO phase per step here: the single
  // loop alternates one phase with one price update.
  SMFG_ASSIGN_OR_RETURN(const int learning, evaluator_->BeginSolve());
  r.learning_steps = learning > 0 ? 1 : 0;
  SMFG_ASSIGN_OR_RETURN(env::MeanFieldResponse step,
                        env::RespondAndClear(*evaluator_, *market_, tariff, r.belief));
  r.stats = std::move(step.stats);
  r.clearing = std::move(step.clearing);
  r.seconds_population = step.seconds_population;
  r.seconds_clearing = step.seconds_clearing;
  r.iterations = 1;
  // No belief yet: the first step takes the cleared prices (as SolveMeanField
  // does from a cold start); then the damped update.
  const double alpha = belief.lmp_per_mwh.empty() ? 1.0 : sc.inner.damping;
  r.residual = step.residual;
  r.converged = step.residual < sc.inner.tolerance_per_mwh;
  r.final_damping = alpha;
  // The stats and clearing belong to the belief they responded to; the caller
  // continues from the next one.
  out.next = r.belief;
  for (size_t k = 0; k < r.belief.lmp_per_mwh.size(); ++k) {
    out.next.lmp_per_mwh[k] =
        (1 - alpha) * r.belief.lmp_per_mwh[k] + alpha * r.clearing.lmp.lmp_per_mwh[k];
  }
  return out;
}

absl::StatusOr<StackelbergTrainer::FollowerOutcome> StackelbergTrainer::Followers(
    const env::Tariff& tariff, const env::PriceBelief& belief) {
  if (params_.loop.mode == LoopMode::kSingle) return SingleStep(tariff, belief);
  FollowerOutcome out;
  SMFG_ASSIGN_OR_RETURN(out.inner,
                        env::SolveMeanField(*evaluator_, *market_, tariff, params_.scenario.inner,
                                            belief.lmp_per_mwh.empty() ? nullptr : &belief));
  out.next = out.inner.belief;
  out.equilibrium = true;
  return out;
}

absl::StatusOr<env::Tariff> StackelbergTrainer::PolicyTariff() {
  std::vector<std::vector<double>> raw;
  for (const auto& f : features_)
    raw.push_back(learner_->Act(f, /*deterministic=*/true).raw_action);
  return TariffFromActions(raw);
}

absl::StatusOr<IterationRecord> StackelbergTrainer::Step() {
  IterationRecord rec;
  rec.set_iteration(iteration_ + 1);
  v1::WallTime& seconds = *rec.mutable_seconds();
  const env::Scenario& sc = params_.scenario;
  const env::EvaluatorCounters counters_before = evaluator_->Counters();
  auto start = Clock::now();

  // 1-2. Sampled tariffs and the followers' equilibrium under them, once per
  // rollout; every day is a one-step episode.
  std::vector<leader::Transition> rollout;
  double seconds_population = 0, seconds_clearing = 0, rollout_reward = 0;
  int rollout_inner_iterations = 0;
  for (int k = 0; k < params_.rollouts_per_update; ++k) {
    const size_t first = rollout.size();
    std::vector<std::vector<double>> raw;
    for (const auto& f : features_) {
      leader::PolicySample s = learner_->Act(f, /*deterministic=*/false);
      raw.push_back(s.raw_action);
      rollout.push_back({.observation = f,
                         .raw_action = std::move(s.raw_action),
                         .log_prob = s.log_prob,
                         .value = s.value,
                         .reward = 0.0,
                         .done = true});
    }
    const env::Tariff sampled = TariffFromActions(raw);
    SMFG_ASSIGN_OR_RETURN(FollowerOutcome outcome, Followers(sampled, rollout_belief_));
    const env::InnerResult& inner = outcome.inner;
    if (outcome.equilibrium) CountEquilibriumEnd(inner, rec.mutable_equilibria());
    rollout_inner_iterations += inner.iterations;
    seconds_population += inner.seconds_population;
    seconds_clearing += inner.seconds_clearing;
    const std::vector<env::ObjectiveTerms> daily =
        env::DailyObjectives(sc, sampled, inner, params_.weights);
    for (size_t d = 0; d < daily.size(); ++d) {
      if (!std::isfinite(daily[d].objective)) {
        return absl::InternalError(absl::StrCat("iteration ", rec.iteration(), ": day ", d,
                                                " has a non-finite leader objective; the run "
                                                "diverged (last good checkpoint kept)"));
      }
      rollout[first + d].reward = daily[d].objective;
      rollout_reward += daily[d].objective;
    }
    rollout_belief_ = std::move(outcome.next);
  }
  rec.mutable_inner_iterations()->set_rollout(rollout_inner_iterations);
  rec.set_rollout_mean_reward(rollout_reward / static_cast<double>(rollout.size()));
  seconds.set_rollout(Since(start));

  // 3. PPO update on the rollout (every day is a one-step episode, so there is
  // no state after the last transition to value).
  start = Clock::now();
  absl::StatusOr<leader::UpdateStats> update = learner_->Update(rollout, /*last_value=*/0.0);
  if (!update.ok()) {
    return Annotate(update.status(),
                    absl::StrCat("iteration ", rec.iteration(), " (last good checkpoint kept)"));
  }
  *rec.mutable_ppo() = PpoProto(*update);
  seconds.set_update(Since(start));

  // 4. Evaluate the updated mean policy.
  start = Clock::now();
  SMFG_ASSIGN_OR_RETURN(env::Tariff policy, PolicyTariff());
  SMFG_ASSIGN_OR_RETURN(FollowerOutcome eval_outcome, Followers(policy, eval_belief_));
  env::InnerResult& eval = eval_outcome.inner;
  if (eval_outcome.equilibrium) CountEquilibriumEnd(eval, rec.mutable_equilibria());
  const env::ObjectiveTerms evaluated = env::PoolObjective(sc, policy, eval, params_.weights);
  if (!std::isfinite(evaluated.objective)) {
    return absl::InternalError(absl::StrCat("iteration ", rec.iteration(),
                                            ": the leader objective is not finite; the run "
                                            "diverged (last good checkpoint kept)"));
  }
  *rec.mutable_evaluated() = TermsToProto(evaluated, sc);
  rec.mutable_inner_iterations()->set_evaluation(eval.iterations);
  seconds_population += eval.seconds_population;
  seconds_clearing += eval.seconds_clearing;
  seconds.set_population(seconds_population);
  seconds.set_clearing(seconds_clearing);
  rec.set_inner_residual_per_mwh(eval.residual);
  rec.set_belief_change_per_mwh(MaxChange(eval_outcome.next, eval_belief_));
  const auto exploit_start = Clock::now();
  SMFG_ASSIGN_OR_RETURN(env::ExploitabilityStats exploit,
                        evaluator_->Exploitability(policy, eval.belief, eval.clearing.lmp));
  seconds.set_exploitability(Since(exploit_start));
  rec.mutable_exploitability()->set_regularised_max(exploit.max_regularised);
  rec.mutable_exploitability()->set_plain_mean(exploit.MeanPlain());
  const env::EquilibriumReport report = env::MakeReport(sc, policy, eval, exploit, "learned");
  for (const env::BusPriceReport& b : report.buses) {
    v1::BusPrices* prices = rec.add_lmp_by_bus();
    prices->set_bus(b.name);
    prices->set_mean(b.mean);
    prices->set_std(b.std);
  }
  double mean_rate = 0;
  for (const auto& row : policy.import_rate_per_kwh) {
    for (double r : row) mean_rate += r / (env::kHoursPerDay * policy.import_rate_per_kwh.size());
  }
  rec.set_mean_rate_per_kwh(mean_rate);
  rec.set_mean_hourly_step_per_kwh(MeanHourlyStep(policy));
  if (reference_.has_value()) {
    const double j_ref = reference_->terms().objective();
    rec.set_optimality_gap((j_ref - evaluated.objective) / std::max(std::fabs(j_ref), 1e-12));
  }
  seconds.set_evaluation(Since(start));
  RecordDistributed(counters_before, evaluator_->Counters(), &rec);

  // PPO keeps exploring, so J_k never stands still; the run has converged
  // when it stops *improving*: no gain over the best J so far beyond the
  // tolerance, with the equilibrium prices settled, `patience` times running.
  // While the learner's schedule still anneals (the first schedule_updates
  // updates) the policy is still narrowing, so no stall is counted.
  const double objective = evaluated.objective;
  const bool improved =
      iteration_ == 0 || objective > best_objective_ + params_.loop.objective_tolerance;
  const bool settled = rec.belief_change_per_mwh() < params_.loop.mean_field_tolerance_per_mwh;
  const bool annealing = rec.iteration() <= params_.ppo.schedule_updates;
  stall_ = (!improved && settled && !annealing) ? stall_ + 1 : 0;
  if (iteration_ == 0 || objective > best_objective_) best_objective_ = objective;
  eval_belief_ = std::move(eval_outcome.next);
  last_eval_ = std::move(eval);
  iteration_ = rec.iteration();
  history_.push_back(rec);
  const int every = params_.loop.checkpoint_every;
  if (!params_.checkpoint_dir.empty() && every > 0 && (iteration_ % every == 0 || done())) {
    SMFG_RETURN_IF_ERROR(SaveCheckpoint());
  }
  return rec;
}

absl::Status StackelbergTrainer::SaveCheckpoint() const {
  v1::TrainerCheckpoint c;
  c.set_iteration(iteration_);
  c.set_stall(stall_);
  c.set_best_objective(best_objective_);
  *c.mutable_rollout_belief() = BeliefToState(rollout_belief_);
  *c.mutable_eval_belief() = BeliefToState(eval_belief_);
  for (const IterationRecord& r : history_) *c.add_history() = r;
  SMFG_ASSIGN_OR_RETURN(*c.mutable_leader_state(), learner_->SaveToBytes());
  c.set_owner(params_.checkpoint_owner);
  if (reference_.has_value()) *c.mutable_reference() = *reference_;
  if (const std::optional<env::LearnerState> s = evaluator_->SaveLearnerState()) {
    v1::FollowerLearnerState* f = c.mutable_follower_state();
    f->set_policy_version(s->policy_version);
    f->mutable_parameters()->Add(s->parameters.begin(), s->parameters.end());
    f->mutable_adam_m()->Add(s->adam_m.begin(), s->adam_m.end());
    f->mutable_adam_v()->Add(s->adam_v.begin(), s->adam_v.end());
    f->set_adam_steps(s->adam_steps);
    f->set_phases(s->phases);
    f->set_solves(s->solves);
  }
  return WriteCheckpoint(params_.checkpoint_dir, c);
}

absl::Status StackelbergTrainer::Resume() {
  if (params_.checkpoint_dir.empty()) return absl::NotFoundError("no checkpoint directory");
  SMFG_ASSIGN_OR_RETURN(v1::TrainerCheckpoint c, ReadCheckpoint(params_.checkpoint_dir));
  if (!params_.checkpoint_owner.empty() && c.owner() != params_.checkpoint_owner) {
    return absl::FailedPreconditionError(
        absl::StrCat("the checkpoint in ", params_.checkpoint_dir, " belongs to '", c.owner(),
                     "', not to '", params_.checkpoint_owner, "'; it is not resumed"));
  }
  const int buses = static_cast<int>(params_.scenario.network.buses.size());
  for (const v1::PriceBeliefState* b : {&c.rollout_belief(), &c.eval_belief()}) {
    if (b->days() != params_.scenario.days || b->buses() != buses) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the checkpoint in ", params_.checkpoint_dir, " has prices for ", b->days(), " days x ",
          b->buses(), " buses; this run has ", params_.scenario.days, " x ", buses));
    }
  }
  // The followers' learning state, when they learn (it changes only the
  // evaluator, and only when it fits).
  if (evaluator_->learned_followers()) {
    if (!c.has_follower_state()) {
      return absl::DataLossError(absl::StrCat("the checkpoint in ", params_.checkpoint_dir,
                                              " has no state of the learning followers"));
    }
    const v1::FollowerLearnerState& f = c.follower_state();
    env::LearnerState s;
    s.policy_version = f.policy_version();
    s.parameters.assign(f.parameters().begin(), f.parameters().end());
    s.adam_m.assign(f.adam_m().begin(), f.adam_m().end());
    s.adam_v.assign(f.adam_v().begin(), f.adam_v().end());
    s.adam_steps = f.adam_steps();
    s.phases = f.phases();
    s.solves = f.solves();
    SMFG_RETURN_IF_ERROR(Annotate(evaluator_->RestoreLearnerState(s),
                                  absl::StrCat(params_.checkpoint_dir, ": follower state")));
  }
  // Last, as it is the only step that changes this trainer.
  SMFG_RETURN_IF_ERROR(learner_->LoadFromBytes(
      c.leader_state(), absl::StrCat(params_.checkpoint_dir, ": leader state")));
  iteration_ = c.iteration();
  stall_ = c.stall();
  best_objective_ = c.best_objective();
  rollout_belief_ = BeliefFromState(c.rollout_belief());
  eval_belief_ = BeliefFromState(c.eval_belief());
  history_.assign(c.history().begin(), c.history().end());
  if (c.has_reference()) reference_ = c.reference();
  return absl::OkStatus();
}

}  // namespace smfg::training
