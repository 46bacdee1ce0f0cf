// Conversion between the environment's plain-C++ values and the wire messages
// of the worker protocol (proto/smfg/v1/worker.proto).
//
// Encoding is total and bit-exact: every double is copied as it is, so
// X FromProto(ToProto(x)) == x bit for bit (including -0.0 and the order of
// every vector). Decoding treats its input as untrusted (a worker or a
// coordinator may send anything): it checks sizes against the declared
// dimensions (and against `expected` dimensions when given), finiteness and
// enum ranges, and returns INVALID_ARGUMENT whose message starts with the
// offending field, e.g. "net_load_kw: has 5 values, expected 216". It never
// crashes on malformed input.
#ifndef SMFG_FOLLOWER_WORKERS_WIRE_CONVERT_H_
#define SMFG_FOLLOWER_WORKERS_WIRE_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"
#include "followers/policy_types.h"
#include "smfg/v1/spec.pb.h"
#include "smfg/v1/worker.pb.h"

namespace smfg::workers {

// The dimensions of a PopulationStats (see env::PopulationStats::Zero).
struct StatsShape {
  int days = 0, buses = 0, groups = 0, classes = 0;
  // The shape of the stats a ShardKernel of `scenario` produces.
  static StatsShape Of(const env::Scenario& scenario);
  bool operator==(const StatsShape& o) const {
    return days == o.days && buses == o.buses && groups == o.groups && classes == o.classes;
  }
};

v1::WireTariff TariffToProto(const env::Tariff& tariff);
// Checks finiteness and the export rule; shapes against a scenario are left to
// env::ValidateTariff (the tariff alone does not know the bus count).
absl::StatusOr<env::Tariff> TariffFromProto(const v1::WireTariff& proto);

v1::WirePriceBelief BeliefToProto(const env::PriceBelief& belief);
// Checks days, buses >= 0, days * 24 * buses values, all finite.
absl::StatusOr<env::PriceBelief> BeliefFromProto(const v1::WirePriceBelief& proto);

v1::WirePopulationStats StatsToProto(const env::PopulationStats& stats);
// Checks dims >= 0 (and == *expected when non-null), every vector's size
// against the dims, finite values and non-negative counters.
absl::StatusOr<env::PopulationStats> StatsFromProto(const v1::WirePopulationStats& proto,
                                                    const StatsShape* expected = nullptr);

v1::WireExploitabilityStats ExploitabilityToProto(const env::ExploitabilityStats& stats);
// Checks a non-negative household count and finite sums and maxima.
absl::StatusOr<env::ExploitabilityStats> ExploitabilityFromProto(
    const v1::WireExploitabilityStats& proto);

// Learning followers (issue 11). `expected_size` is the policy's parameter
// count (-1: not checked).
v1::FollowerPolicyParameters PolicyToProto(const followers::PolicyVersion& policy);
// Checks the size and that every value is finite.
absl::StatusOr<followers::PolicyVersion> PolicyFromProto(const v1::FollowerPolicyParameters& proto,
                                                         long long expected_size);
v1::WireShardGradient GradientToProto(const followers::ShardGradient& gradient);
// Checks the size, finite values and sums, non-negative counts.
absl::StatusOr<followers::ShardGradient> GradientFromProto(const v1::WireShardGradient& proto,
                                                           long long expected_size);

// Whether a ShardKernel of a scenario with `shape` and `buses` can read
// `tariff` and `belief` without going out of bounds: the import rates it uses
// (daily rows, one per scenario day, or 1 or `shape.buses` rows) have 24
// entries, and under net billing at the LMP the belief covers shape.days x
// shape.buses. Only what the kernel reads is checked, so whatever a local
// evaluation accepts is accepted here too (value policy is
// env::ValidateTariff's job). INVALID_ARGUMENT naming the field otherwise.
absl::Status CheckKernelInputs(const env::Tariff& tariff, const env::PriceBelief& belief,
                               const StatsShape& shape);

// config::Fingerprint(scenario): keys workers' scenario caches.
uint64_t ScenarioFingerprint(const v1::Scenario& scenario);

}  // namespace smfg::workers

#endif  // SMFG_FOLLOWER_WORKERS_WIRE_CONVERT_H_
