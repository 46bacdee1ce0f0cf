// Computing the population's response to a tariff and a price belief.
//
// ShardKernel is the single-threaded kernel: for one logical shard it solves
// every household-day's best response (household_solver.h) and sums the
// outcomes into PopulationStats. PopulationEvaluator is the interface the
// equilibrium loop talks to; LocalPopulationEvaluator runs all shards on a
// thread pool in this process, and the distributed service implements the same
// interface over gRPC. Either way, shard results are reduced in shard-id order.
#ifndef SMFG_ENVIRONMENT_POPULATION_EVALUATOR_H_
#define SMFG_ENVIRONMENT_POPULATION_EVALUATOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "environment/household_solver.h"
#include "environment/population.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"

namespace smfg::env {

// Retail import rates and export credits a household at `bus` faces on `day`
// ($/kWh, 24 values each). Net billing credits the believed LMP / 1000.
void HouseholdPrices(const Tariff& tariff, const PriceBelief& belief, int bus, int day,
                     double* import_rate, double* export_credit);

// One battery household-day as a learning follower sees it (issue 11): the
// household's own features, the day's profile and the prices it faces under a
// tariff and a price belief. Plain values: followers/ turns them into network
// inputs.
struct FollowerDay {
  int household = 0;  // population id
  int day = 0;
  int bus = 0;
  int income_group = 0;
  BatterySpec battery;
  double pv_kw = 0.0;                   // the household's PV size
  double mean_daily_demand_kwh = 0.0;   // its demand over the year
  HouseholdDayScales scales;            // this day's demand and PV scales
  HourlyArray demand_kwh{}, pv_kwh{};   // kWh per hour
  HourlyArray import_rate_per_kwh{};    // $/kWh
  HourlyArray export_credit_per_kwh{};  // $/kWh
  HouseholdDayInput Input() const {
    return {demand_kwh.data(), pv_kwh.data(), import_rate_per_kwh.data(),
            export_credit_per_kwh.data()};
  }
};

// A learned follower policy, seen from the environment: it writes the policy
// tables (household_solver.h "Policy tables") of given household-days. The
// environment never sees how (followers/ implements it with LibTorch).
class PolicyTableWriter {
 public:
  virtual ~PolicyTableWriter() = default;
  // The table of days[i] at tables + i * table_size (table_size = 24 * S *
  // (2K + 1) of the scenario's follower grid), each passing
  // ValidatePolicyTable for its battery. Must be safe to call from several
  // threads at once, and give the same bits for a day whatever else is in the
  // call (ShardKernel calls it per block of lanes).
  virtual absl::Status WriteTables(const FollowerDay* days, int n, double* tables) const = 0;
};

// What the kernel computes, and how (docs/PERFORMANCE.md "Follower kernel").
// Everything that does not depend on prices is computed once per shard, on
// the shard's first use, as a pure function of (scenario, shard): the
// households without a decision (consumers, solar only, and every household
// when followers are myopic) are reduced to their price-independent sums plus
// imports and exports per (bus, income group, day, hour), so that an
// evaluation only prices them; the battery households keep two scalars per day
// (daily demand and PV scale, population.h DayScales). Battery households are
// solved in blocks of BatteryBlockSolver::kMaxLanes consecutive members of the
// shard, days in order with each household warm-started from its previous day,
// and their outcomes are summed household by household in member order within
// a block, day by day. So a shard's result is the same bits wherever and with
// however many threads it is computed (DESIGN §4).
class ShardKernel {
 public:
  // Requires a validated scenario.
  explicit ShardKernel(const Scenario& scenario);
  ~ShardKernel();
  ShardKernel(const ShardKernel&) = delete;
  ShardKernel& operator=(const ShardKernel&) = delete;

  // Thread-safe: shards may be evaluated concurrently.
  PopulationStats EvaluateShard(int shard, const Tariff& tariff, const PriceBelief& belief) const;
  // Exploitability of the shard's battery households: best response to
  // `belief`, gain available under `realised` prices.
  //
  // The best response to `belief` is usually the one the shard's last
  // EvaluateShard just computed (an equilibrium's exploitability is measured
  // at its final belief). So EvaluateShard keeps, per battery household-day,
  // the values its policy was swept from (S doubles, the "policy sources" of
  // BatteryBlockSolver::CopyPolicySources) with a copy of its tariff and
  // belief; when both equal this call's bit for bit, the belief solve is
  // replayed from them (one sweep and one evaluation instead of Newton's
  // method). The replay gives the same bits as the solve, so whether a shard
  // hits (same process, same inputs) or not (another worker, other inputs, a
  // shard above kMaxPolicyCacheBytes) never changes a result, only its time.
  ExploitabilityStats ShardExploitability(int shard, const Tariff& tariff,
                                          const PriceBelief& belief,
                                          const PriceBelief& realised) const;

  // Learning followers: the shard's battery households follow `policy`'s
  // tables (written from the prices they believe) instead of best-responding;
  // the same sums, in the same order, as EvaluateShard. Fails only when the
  // policy does (or writes a table ValidatePolicyTable refuses, named).
  absl::StatusOr<PopulationStats> EvaluateShard(int shard, const Tariff& tariff,
                                                const PriceBelief& belief,
                                                const PolicyTableWriter& policy) const;
  // What the shard's battery households could gain under `realised` prices by
  // deviating from `policy`'s tables written at `belief` (computed exactly,
  // BatteryBlockSolver::MeasurePolicyExploitability).
  absl::StatusOr<ExploitabilityStats> ShardPolicyExploitability(
      int shard, const Tariff& tariff, const PriceBelief& belief, const PriceBelief& realised,
      const PolicyTableWriter& policy) const;
  // The shard's battery household-days under (tariff, belief), household by
  // household in member order, days in order within a household.
  std::vector<FollowerDay> FollowerDays(int shard, const Tariff& tariff,
                                        const PriceBelief& belief) const;
  // Largest policy-source cache kept per shard (sources + key), bytes; a
  // larger shard is not cached. 64 MiB holds ~760 k battery household-days
  // on the default SoC grid.
  static constexpr size_t kMaxPolicyCacheBytes = size_t{64} << 20;
  // Calls of ShardExploitability that replayed cached policies (shards with
  // battery households only; for tests and observability, it never
  // influences a result).
  int64_t policy_cache_hits() const;

  const Scenario& scenario() const { return scenario_; }
  const Population& population() const { return population_; }
  const HourlyShapes& shapes() const { return shapes_; }
  const std::vector<DayConditions>& days() const { return days_; }

 private:
  struct ShardData;
  // The shard's price-independent data, built on first use (thread-safe).
  const ShardData& Data(int shard) const;
  // The bills of the shard's households without a decision, into st.
  void AddFixedBills(const ShardData& data, const Tariff& tariff, const PriceBelief& belief,
                     PopulationStats& st) const;
  // Battery member `member` (index into the shard's battery households) on day d.
  void FillFollowerDay(const ShardData& data, int member, int d, const Tariff& tariff,
                       const PriceBelief& belief, FollowerDay* out) const;
  // The policy sources of a shard's last EvaluateShard (see
  // ShardExploitability), immutable once published.
  struct PolicyCache;
  struct PolicyCacheSlot {
    absl::Mutex mu;
    std::shared_ptr<const PolicyCache> last ABSL_GUARDED_BY(mu);
  };

  Scenario scenario_;
  Population population_;
  HourlyShapes shapes_;
  std::vector<DayConditions> days_;
  std::unique_ptr<std::once_flag[]> once_;
  mutable std::vector<std::unique_ptr<ShardData>> data_;
  mutable std::unique_ptr<PolicyCacheSlot[]> policy_cache_;
  mutable std::atomic<int64_t> policy_cache_hits_{0};
};

// The one reduction of per-shard results (DESIGN §4), in shard-id order:
// parts[0], then Add of parts[1..n-1] (exploitability: Add of every part into
// a zero value). Every evaluator, local or remote, reduces with these, so the
// totals are bit-identical for any number of threads or workers and any
// assignment of shards. `parts` must not be empty.
PopulationStats ReduceShards(std::vector<PopulationStats> parts);
ExploitabilityStats ReduceShards(const std::vector<ExploitabilityStats>& parts);

// Where a distributed evaluator's time and traffic went, accumulated over
// every call since construction (observability only: wall-time-like figures
// that never influence a result). Subtract two readings for an interval.
// The seconds are per call the mean over the workers that took part, so
// compute + communication + barrier approximates the calls' wall time minus
// unattributed gaps (coordinator::WorkerPool documents each term precisely).
struct EvaluatorCounters {
  double compute_seconds = 0;        // workers computing shards
  double communication_seconds = 0;  // items and results in transit
  double barrier_seconds = 0;        // finished workers waiting for the slowest
  int64_t bytes_sent = 0;            // to workers, serialised payload bytes
  int64_t bytes_received = 0;        // from workers, serialised payload bytes
  int64_t jobs = 0;                  // calls that completed
};

// What a learning evaluator must carry across a process restart (a
// checkpoint) to continue its training bit for bit: plain values.
struct LearnerState {
  uint64_t policy_version = 0;
  std::vector<double> parameters;
  std::vector<double> adam_m, adam_v;  // Adam's moments (empty before a step)
  int64_t adam_steps = 0;
  int64_t phases = 0;  // PPO phases so far
  int64_t solves = 0;  // equilibrium solves begun
};

class PopulationEvaluator {
 public:
  virtual ~PopulationEvaluator() = default;
  // All zero for evaluators that do not distribute (LocalPopulationEvaluator).
  virtual EvaluatorCounters Counters() const { return {}; }
  // The kernel of an evaluator that computes in this process (its population,
  // shapes and days), else null.
  virtual const ShardKernel* in_process_kernel() const { return nullptr; }
  virtual absl::StatusOr<PopulationStats> Evaluate(const Tariff& tariff,
                                                   const PriceBelief& belief) = 0;
  virtual absl::StatusOr<ExploitabilityStats> Exploitability(const Tariff& tariff,
                                                             const PriceBelief& belief,
                                                             const PriceBelief& realised) = 0;

  // Learning followers (issue 11). An evaluator whose followers learn trains
  // them at the start of each equilibrium solve (SolveMeanField calls
  // BeginSolve first), and its Exploitability is its learned policy's; the
  // exact best response's at the same prices comes from
  // BestResponseExploitability, so reports can put them side by side.
  virtual bool learned_followers() const { return false; }
  // Returns how many of the following Evaluate calls train (each one PPO
  // phase at the belief it is given); 0 for exact followers.
  virtual absl::StatusOr<int> BeginSolve() { return 0; }
  virtual absl::StatusOr<ExploitabilityStats> BestResponseExploitability(
      const Tariff& tariff, const PriceBelief& belief, const PriceBelief& realised) {
    return Exploitability(tariff, belief, realised);
  }
  // The learning state for a checkpoint (none for exact followers), and its
  // restoration: INVALID_ARGUMENT naming the field of a state that does not
  // fit (nothing changes then); FAILED_PRECONDITION for an evaluator that
  // does not learn.
  virtual std::optional<LearnerState> SaveLearnerState() const { return std::nullopt; }
  virtual absl::Status RestoreLearnerState(const LearnerState& state) {
    return absl::FailedPreconditionError("these followers do not learn: no state to restore");
  }
};

class LocalPopulationEvaluator final : public PopulationEvaluator {
 public:
  // threads = 0 uses every core.
  LocalPopulationEvaluator(const Scenario& scenario, int threads);

  absl::StatusOr<PopulationStats> Evaluate(const Tariff& tariff,
                                           const PriceBelief& belief) override;
  absl::StatusOr<ExploitabilityStats> Exploitability(const Tariff& tariff,
                                                     const PriceBelief& belief,
                                                     const PriceBelief& realised) override;
  const ShardKernel& kernel() const { return kernel_; }
  const ShardKernel* in_process_kernel() const override { return &kernel_; }

 private:
  ShardKernel kernel_;
  int threads_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_POPULATION_EVALUATOR_H_
