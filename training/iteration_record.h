// Renderings of the per-iteration record (proto/smfg/v1/training.proto,
// v1::IterationRecord): the JSON line of metrics.jsonl and the rows of
// metrics.csv. Both are derived from the message by reflection, so a field
// added to IterationRecord appears in every rendering with no list to keep.
#ifndef SMFG_TRAINING_ITERATION_RECORD_H_
#define SMFG_TRAINING_ITERATION_RECORD_H_

#include <string>
#include <vector>

#include "environment/equilibrium.h"
#include "environment/objective.h"
#include "environment/scenario.h"
#include "smfg/v1/training.pb.h"

namespace smfg::training {

// env::ObjectiveTerms as the record's message, groups named from `scenario`.
v1::ObjectiveTerms TermsToProto(const env::ObjectiveTerms& terms, const env::Scenario& scenario);

// The proto3 JSON mapping of `record` on one line (field names as in
// training.proto, every field present, int64 as strings, non-finite doubles as
// "Infinity"/"NaN"), parseable by any protobuf JSON parser.
// Adds one equilibrium's end (converged, stalled or out of iterations) to
// `ends`.
void CountEquilibriumEnd(const env::InnerResult& inner, v1::EquilibriumEnds* ends);
// stalled + out_of_iterations.
int NotConverged(const v1::EquilibriumEnds& ends);
// "2 of 11 follower equilibria did not converge (2 stalled, 0 out of
// iterations)", or "" when all converged: the one wording of smfg train's
// progress lines and the coordinator's log.
std::string DescribeNotConverged(const v1::EquilibriumEnds& ends);

std::string IterationJson(const v1::IterationRecord& record);

// metrics.jsonl: IterationJson per record, one a line.
std::string MetricsJsonl(const std::vector<v1::IterationRecord>& history);

// metrics.csv: one column per leaf field, named by its path from the record
// ("iteration", "evaluated.objective", "seconds.rollout"); an element of a
// repeated message is named by its first field when that is a string
// ("evaluated.eei.very_low", "lmp_by_bus.bus1.mean"), else by its index.
// Columns come from the first record in field order; doubles are written with
// RoundTripDouble (common/json.h), booleans as 0/1. A header line, then one
// row per record.
std::string MetricsCsv(const std::vector<v1::IterationRecord>& history);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_ITERATION_RECORD_H_
