// The reference optimum of the leader's problem (issue 10): the best static
// tariff of the leader's family, found by a deterministic derivative-free
// optimizer (NLopt) maximising the same objective J against the same follower
// equilibrium map. It is the yardstick of the learned tariff: the optimality
// gap (J_ref - J) / |J_ref| is reported per outer iteration and at the end.
//
// Search space: the family's parameters x (training/tariff_family.h), each
// scaled to [0, 1] of its range; the tariff posts Map(x) on every day.
// Algorithm: LN_BOBYQA (bound-constrained quadratic models) without a
// cost-recovery constraint; LN_COBYLA with the constraint |gap| <= tolerance
// when cost recovery is a CONSTRAINT (or with a single parameter, which BOBYQA
// cannot take). Each objective evaluation solves the follower equilibrium,
// warm-started from the previous evaluation's prices; NLopt's algorithms are
// deterministic, so the same spec gives the same reference in every process.
// Stops after `max_evaluations` evaluations or when a step moves every scaled
// parameter by less than `relative_tolerance`.
//
// The best point is the best objective found among feasible evaluations (all
// are feasible without a constraint); NLopt's own answer is not trusted over
// what was measured.
#ifndef SMFG_TRAINING_REFERENCE_H_
#define SMFG_TRAINING_REFERENCE_H_

#include <functional>
#include <ostream>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "smfg/v1/training.pb.h"
#include "training/tariff_family.h"
#include "training/trainer.h"

namespace smfg::training {

// `start`: family parameters to start from (e.g. the cost-recovering flat
// rate). `progress` (may be null) gets a line per evaluation; `should_stop`
// (may be empty) is asked before each evaluation: true ends the search with
// CANCELLED. Errors of the evaluator or market end it with their status.
absl::StatusOr<v1::ReferenceSummary> OptimizeReference(
    const TrainerParams& params, const TariffFamily& family, env::PopulationEvaluator& evaluator,
    env::MarketClearing& market, const std::vector<double>& start, std::ostream* progress,
    const std::function<bool()>& should_stop);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_REFERENCE_H_
