// The nested Stackelberg loop (DESIGN §1), single process or distributed: it
// talks to the population only through env::PopulationEvaluator.
//
// Outer iteration k:
//   1. the leader samples a tariff for every day d of the pool from its PPO
//      policy, given the day's features s_d (a contextual bandit: each day is a
//      one-step episode);
//   2. the followers' mean-field equilibrium under those tariffs is solved,
//      warm-started from the previous iteration's price belief;
//   3. each day's leader objective J_d (env/objective.h) is its reward, and PPO
//      updates the policy on the k-th rollout;
//   4. the updated policy's mean tariff is evaluated the same way; its pool
//      objective J_k is the iteration's figure of merit.
// Converged when, `patience` iterations in a row, J_k has not improved on the
// best J so far by more than objective_tolerance and the evaluated price belief
// moved by less than mean_field_tolerance_per_mwh (PPO keeps exploring, so J_k
// itself never stands still). Posted prices are rounded to whole micro-dollars
// (rates per kWh, fixed charges per day).
//
// Checkpoints (training/checkpoint.h) are written after every
// `checkpoint_every`-th iteration and after the last one; Resume() continues
// bit-identically: same records (but for wall time), same policy, same
// tariffs. A failed PPO update or a non-finite objective stops the loop with
// an error and leaves the last checkpoint as it was.
//
// Thread safety: a trainer is used from one thread at a time.
#ifndef SMFG_TRAINING_TRAINER_H_
#define SMFG_TRAINING_TRAINER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environment/equilibrium.h"
#include "environment/objective.h"
#include "environment/population.h"
#include "environment/scenario.h"
#include "leader/ppo.h"
#include "smfg/v1/training.pb.h"
#include "training/tariff_family.h"

namespace smfg::training {

enum class LoopMode {
  // The leader updates on the followers' mean-field equilibrium.
  kNested,
  // The leader updates after each single mean-field step (one population
  // evaluation, one damped price update).
  kSingle,
};

// How a raw policy action u becomes a tariff parameter in [lo, hi]
// (learner.action_bounds).
enum class ActionBounds {
  kTanh,  // leader::SquashToRange: a bound only as u -> infinity
  kClip,  // leader::ClipToRange: u clipped to [-1, 1], then linear
};

struct OuterLoopParams {
  int max_iterations = 200;
  double objective_tolerance = 1e-4;
  double mean_field_tolerance_per_mwh = 1e-3;
  int patience = 3;
  int checkpoint_every = 1;  // 0 = never
  LoopMode mode = LoopMode::kNested;
};

// The reference optimum (training/reference.h).
struct ReferenceParams {
  bool enabled = true;
  int max_evaluations = 120;
  double relative_tolerance = 1e-3;
};

// Upper bound of TrainerParams::rollouts_per_update.
inline constexpr int kMaxRolloutsPerUpdate = 64;

struct TrainerParams {
  env::Scenario scenario;
  env::Tariff base;  // export rule and static fixed charges
  // What the leader may post: the family, its bounds and the regulator's
  // limits (training/tariff_family.h).
  TariffFamilyParams tariff;
  env::ObjectiveWeights weights;
  leader::PpoParams ppo;  // observation/action sizes are filled in by Create()
  // Rollouts of the whole day pool per PPO update (learner.rollout_days_per_update
  // / scenario.days): each samples one tariff per day and solves the
  // followers' response to it, warm-started from the previous rollout's prices.
  int rollouts_per_update = 1;
  ActionBounds action_bounds = ActionBounds::kClip;
  OuterLoopParams loop;
  ReferenceParams reference;
  std::string checkpoint_dir;  // empty: no checkpoints
  // Stored in every checkpoint; Resume() refuses a checkpoint with another
  // owner (e.g. another experiment's that ended up in the same directory).
  // Empty: any checkpoint of this trainer's shape is accepted.
  std::string checkpoint_owner;

  // The one set of leader-side rules (tariff bounds and base tariff,
  // objective weights, the learner via leader::PpoParams::Validate, loop).
  // INVALID_ARGUMENT whose message starts with the spec field path the value
  // comes from, e.g. "tariff.min_import_rate_per_kwh: must be < ...",
  // "objective.w_equity: ...", "learner.clip_epsilon: ...", "loop.patience_iterations: ...".
  // Defined in trainer_params.cc, which links no LibTorch, so that checking a
  // spec never loads it.
  absl::Status Validate() const;
};

using IterationRecord = v1::IterationRecord;

// Features of day d the leader conditions on: clearness - 0.625, demand factor
// - 1, and the day of year as (sin, cos).
std::vector<double> DayFeatures(const env::Scenario& scenario, const env::DayConditions& day,
                                int day_index);
constexpr int kDayFeatures = 4;

// The learner's parameters: params.ppo with the observation size
// (kDayFeatures) and the action size (the tariff family's) the trainer uses.
leader::PpoParams LearnerParams(const TrainerParams& params);

class StackelbergTrainer {
 public:
  // `evaluator` and `market` are not owned and must outlive the trainer;
  // `days` are the scenario's day conditions (ShardKernel::days()).
  // INVALID_ARGUMENT for params that fail Validate(); UNAVAILABLE when the
  // checkpoint directory cannot be created.
  static absl::StatusOr<std::unique_ptr<StackelbergTrainer>> Create(
      TrainerParams params, env::PopulationEvaluator* evaluator, env::MarketClearing* market,
      const std::vector<env::DayConditions>& days);

  // Loads the checkpoint in checkpoint_dir (training/checkpoint.h): NOT_FOUND
  // if there is none, DATA_LOSS for a damaged one, FAILED_PRECONDITION for one
  // of another owner or an older format, INVALID_ARGUMENT when its learner or
  // beliefs do not fit this trainer's scenario and network. On error the
  // trainer is unchanged.
  absl::Status Resume();
  // Runs one outer iteration.
  absl::StatusOr<IterationRecord> Step();

  // The reference optimum's objective J_ref, which every later record's
  // optimality gap (J_ref - J_k) / |J_ref| is measured against; kept in the
  // checkpoint with the reference's parameters.
  void SetReference(const v1::ReferenceSummary& reference) { reference_ = reference; }
  const std::optional<v1::ReferenceSummary>& reference() const { return reference_; }
  const TariffFamily& family() const { return family_; }

  bool converged() const { return stall_ >= params_.loop.patience; }
  bool done() const { return converged() || iteration_ >= params_.loop.max_iterations; }
  int iteration() const { return iteration_; }
  // The mean-action tariff per day and its last evaluated equilibrium.
  absl::StatusOr<env::Tariff> PolicyTariff();
  // The tariff of one raw action per day (params.action_bounds maps each
  // entry into its family parameter's range, then TariffFamily::Map).
  env::Tariff TariffFromActions(const std::vector<std::vector<double>>& raw) const;
  const env::InnerResult& last_evaluation() const { return last_eval_; }
  const std::vector<IterationRecord>& history() const { return history_; }
  const TrainerParams& params() const { return params_; }

 private:
  StackelbergTrainer(TrainerParams params, env::PopulationEvaluator* evaluator,
                     env::MarketClearing* market, std::vector<std::vector<double>> features,
                     std::unique_ptr<leader::PpoLearner> learner);
  absl::Status SaveCheckpoint() const;
  // The followers' answer to a tariff: the outcome (stats and clearing of
  // the belief they responded to) and the belief to continue from.
  struct FollowerOutcome {
    env::InnerResult inner;
    env::PriceBelief next;
    // A solved equilibrium (kNested), whose end the record counts; false for
    // a single step.
    bool equilibrium = false;
  };
  // One damped mean-field step from `belief` (kSingle).
  absl::StatusOr<FollowerOutcome> SingleStep(const env::Tariff& tariff,
                                             const env::PriceBelief& belief);
  // The equilibrium (kNested, next = its belief) or one step (kSingle).
  absl::StatusOr<FollowerOutcome> Followers(const env::Tariff& tariff,
                                            const env::PriceBelief& belief);

  TrainerParams params_;
  TariffFamily family_;
  std::optional<v1::ReferenceSummary> reference_;
  env::PopulationEvaluator* evaluator_;
  env::MarketClearing* market_;
  std::vector<std::vector<double>> features_;  // per day
  std::unique_ptr<leader::PpoLearner> learner_;
  int iteration_ = 0;
  int stall_ = 0;
  double best_objective_ = 0;  // best evaluated J so far
  env::PriceBelief rollout_belief_, eval_belief_;
  env::InnerResult last_eval_;
  std::vector<IterationRecord> history_;
};

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TRAINER_H_
