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
// itself never stands still). A checkpoint (policy, optimiser, random counters, loop state) is
// written after every `checkpoint_every`-th successful iteration; Resume() continues
// bit-identically. A failed PPO update or a non-finite objective stops the loop
// with an error and leaves the last checkpoint as it was.
#ifndef SMFG_TRAINING_TRAINER_H_
#define SMFG_TRAINING_TRAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/equilibrium.h"
#include "environment/objective.h"
#include "environment/population.h"
#include "environment/scenario.h"
#include "leader/ppo.h"

namespace smfg::training {

// What the leader may post: hourly rates within [min, max] $/kWh, optionally a
// fixed charge per income group within [min, max] $/day.
struct TariffBounds {
  double min_rate_per_kwh = 0.05;
  double max_rate_per_kwh = 0.30;
  bool learn_fixed_charges = false;
  double min_fixed_charge_per_day = 0.0;
  double max_fixed_charge_per_day = 2.0;
};

struct OuterLoopParams {
  int max_iterations = 200;
  double objective_tolerance = 1e-4;
  double mean_field_tolerance_per_mwh = 1e-3;
  int patience = 3;
  int checkpoint_every = 1;  // 0 = never
};

struct TrainerParams {
  env::Scenario scenario;
  env::Tariff base;  // export rule and static fixed charges
  TariffBounds bounds;
  env::ObjectiveWeights weights;
  leader::PpoParams ppo;  // observation/action sizes are filled in by Create()
  OuterLoopParams loop;
  std::string checkpoint_dir;  // empty: no checkpoints
};

struct IterationRecord {
  int iteration = 0;
  env::ObjectiveTerms evaluated;   // the mean policy's pool objective terms
  double rollout_mean_reward = 0;  // mean J_d of the sampled tariffs
  int rollout_inner_iterations = 0, eval_inner_iterations = 0;
  double inner_residual = 0;  // of the evaluated equilibrium, $/MWh
  double belief_change = 0;   // max |m_k - m_{k-1}|, $/MWh
  double mean_rate_per_kwh = 0;
  // LMP mean and standard deviation per bus at the evaluated equilibrium, $/MWh.
  std::vector<double> lmp_mean_by_bus, lmp_std_by_bus;
  // Follower exploitability at the evaluated equilibrium, $/household-day.
  double exploitability_regularised_max = 0, exploitability_plain_mean = 0;
  leader::UpdateStats ppo;
  double seconds_rollout = 0, seconds_update = 0, seconds_evaluation = 0;
  // Of rollout + evaluation: population best responses and market clearing.
  double seconds_population = 0, seconds_clearing = 0;
  // Of the evaluation: measuring the followers' exploitability.
  double seconds_exploitability = 0;
  // Distributed population evaluation during the iteration (every Evaluate
  // and Exploitability call): the change of PopulationEvaluator::Counters(),
  // all zero with a local evaluator. Like the other seconds these are
  // wall-time figures: reported only, never used by a decision of the loop,
  // and not part of comparison.json or learned_tariff.json.
  double seconds_worker_compute = 0, seconds_communication = 0, seconds_barrier_wait = 0;
  int64_t bytes_to_workers = 0, bytes_from_workers = 0;
};

// Features of day d the leader conditions on: clearness - 0.625, demand factor
// - 1, and the day of year as (sin, cos).
std::vector<double> DayFeatures(const env::Scenario& scenario, const env::DayConditions& day,
                                int day_index);
constexpr int kDayFeatures = 4;

class StackelbergTrainer {
 public:
  // `evaluator` and `market` are not owned and must outlive the trainer;
  // `days` are the scenario's day conditions (ShardKernel::days()).
  static absl::StatusOr<std::unique_ptr<StackelbergTrainer>> Create(
      TrainerParams params, env::PopulationEvaluator* evaluator, env::MarketClearing* market,
      const std::vector<env::DayConditions>& days);

  // Loads the newest checkpoint in checkpoint_dir; NOT_FOUND if there is none.
  absl::Status Resume();
  // Runs one outer iteration.
  absl::StatusOr<IterationRecord> Step();

  bool converged() const { return stall_ >= params_.loop.patience; }
  bool done() const { return converged() || iteration_ >= params_.loop.max_iterations; }
  int iteration() const { return iteration_; }
  // The mean-action tariff per day and its last evaluated equilibrium.
  absl::StatusOr<env::Tariff> PolicyTariff();
  const env::InnerResult& last_evaluation() const { return last_eval_; }
  const std::vector<IterationRecord>& history() const { return history_; }
  const TrainerParams& params() const { return params_; }

 private:
  StackelbergTrainer(TrainerParams params, env::PopulationEvaluator* evaluator,
                     env::MarketClearing* market, std::vector<std::vector<double>> features,
                     std::unique_ptr<leader::PpoLearner> learner);
  env::Tariff TariffFromActions(const std::vector<std::vector<double>>& raw) const;
  absl::Status SaveCheckpoint() const;

  TrainerParams params_;
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

// One JSON object per record (stable keys), for metrics.jsonl and the API.
// Every wall-time figure is inside the flat "seconds" object (so tools can
// drop it to compare runs); "bytes" holds the traffic to and from workers.
std::string IterationJson(const IterationRecord& record, const env::Scenario& scenario);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_TRAINER_H_
