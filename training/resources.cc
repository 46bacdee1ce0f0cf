#include "training/resources.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "training/tariff_family.h"

namespace smfg::training {
namespace {

constexpr int64_t kDoubleBytes = 8;
// Weights, gradients, two Adam moments, the snapshot of a transactional
// update (weights and moments) and a checkpoint's serialised copy.
constexpr int64_t kBytesPerLeaderParameter = 8 * kDoubleBytes;
// A simulated household's parameters, and its share of a shard kernel's
// working memory, in the coordinator's process (generous).
constexpr int64_t kBytesPerHousehold = 512;
// Copies of the days x 24 x buses price arrays the loop holds at once
// (rollout and evaluation beliefs, their clearing results, Anderson history).
constexpr int64_t kPriceArrayCopies = 16;

// Parameters of an MLP in -> hidden... -> out (weights and biases).
int64_t MlpParameters(int64_t in, const std::vector<int>& hidden, int64_t out) {
  int64_t params = 0;
  int64_t width = in;
  for (int h : hidden) {
    params += width * h + h;
    width = h;
  }
  return params + width * out + out;
}

std::string Bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return absl::StrFormat("%.1f GB", b / 1e9);
  if (b >= 1e6) return absl::StrFormat("%.1f MB", b / 1e6);
  return absl::StrFormat("%.1f kB", b / 1e3);
}

}  // namespace

std::string ResourceEstimate::Describe() const {
  std::string s = absl::StrFormat(
      "leader networks %d parameters: %s, loop arrays %s, per-shard "
      "statistics %s",
      leader_parameters, Bytes(leader_bytes), Bytes(loop_bytes), Bytes(shard_stats_bytes));
  if (population_bytes > 0) absl::StrAppend(&s, ", households ", Bytes(population_bytes));
  return s;
}

ResourceEstimate EstimateResources(const TrainerParams& params, bool population_in_process) {
  const env::Scenario& sc = params.scenario;
  ResourceEstimate e;
  const int64_t actions = TariffFamily(params.tariff).size();
  e.leader_parameters = MlpParameters(kDayFeatures, params.ppo.hidden_sizes, actions) + actions +
                        MlpParameters(kDayFeatures, params.ppo.hidden_sizes, 1);
  e.leader_bytes = e.leader_parameters * kBytesPerLeaderParameter;
  const int64_t days = sc.days, buses = static_cast<int64_t>(sc.network.buses.size());
  const int64_t lines = static_cast<int64_t>(sc.network.lines.size());
  const int64_t generators = static_cast<int64_t>(sc.network.generators.size());
  const int64_t groups = static_cast<int64_t>(sc.income_groups.size());
  const int64_t classes = static_cast<int64_t>(sc.classes.size());
  const int64_t hours = days * env::kHoursPerDay;
  e.loop_bytes =
      kDoubleBytes * (kPriceArrayCopies * hours * buses + 4 * hours * (lines + generators));
  // env::PopulationStats of one shard (population_stats.h), kept per shard
  // until they are reduced.
  const int64_t per_shard =
      kDoubleBytes * (hours * buses + days * groups + 8 * groups +
                      classes * env::kNumDerTypes * env::kHoursPerDay * env::kNumBehaviourFields +
                      2 * buses * env::kHoursPerDay + 8);
  e.shard_stats_bytes = per_shard * sc.shards;
  if (population_in_process) {
    int64_t households = 0;
    for (const env::HouseholdClass& c : sc.classes) {
      for (int n : c.households_per_bus) households += n;
    }
    e.population_bytes = households * kBytesPerHousehold;
  }
  return e;
}

absl::Status CheckResources(const TrainerParams& params, bool population_in_process,
                            int64_t budget_bytes) {
  const ResourceEstimate e = EstimateResources(params, population_in_process);
  if (e.total_bytes() <= budget_bytes) return absl::OkStatus();
  const int64_t largest =
      std::max({e.leader_bytes, e.loop_bytes, e.shard_stats_bytes, e.population_bytes});
  const char* field = largest == e.leader_bytes        ? "learner.hidden_sizes"
                      : largest == e.shard_stats_bytes ? "scenario.shards"
                      : largest == e.loop_bytes        ? "scenario.days"
                                                       : "scenario.classes";
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": the run would need about ", Bytes(e.total_bytes()), " of memory (",
                   e.Describe(), "), above the budget of ", Bytes(budget_bytes)));
}

}  // namespace smfg::training
