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
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "environment/population.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"

namespace smfg::env {

// Retail import rates and export credits a household at `bus` faces on `day`
// ($/kWh, 24 values each). Net billing credits the believed LMP / 1000.
void HouseholdPrices(const Tariff& tariff, const PriceBelief& belief, int bus, int day,
                     double* import_rate, double* export_credit);

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

class PopulationEvaluator {
 public:
  virtual ~PopulationEvaluator() = default;
  // All zero for evaluators that do not distribute (LocalPopulationEvaluator).
  virtual EvaluatorCounters Counters() const { return {}; }
  virtual absl::StatusOr<PopulationStats> Evaluate(const Tariff& tariff,
                                                   const PriceBelief& belief) = 0;
  virtual absl::StatusOr<ExploitabilityStats> Exploitability(const Tariff& tariff,
                                                             const PriceBelief& belief,
                                                             const PriceBelief& realised) = 0;
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

 private:
  ShardKernel kernel_;
  int threads_;
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_POPULATION_EVALUATOR_H_
