// Evaluating a tariff end to end, and the baseline tariffs (DESIGN §2):
//  - flat: one rate for every hour, set to recover the utility's cost;
//  - tou:  a 3-block time-of-use rate (off-peak / mid-peak / on-peak) with fixed
//          ratios, scaled to recover the utility's cost;
//  - myopic followers: the same tariffs with FollowerParams::myopic (storage idle).
//
// Cost recovery: for import rates s * shape_b(h), revenue is linear in s given
// behaviour: R(s) = rep (s A - X + F), A = sum_{b,h} shape_b(h) I_b(h) / days,
// with X the export credits and F the fixed charges per day. Each step solves
// the equilibrium at s_n and sets s_{n+1} so that R(s_{n+1}) = cost at that
// equilibrium; behaviour depends weakly on s, so a few steps converge.
#ifndef SMFG_ENVIRONMENT_BASELINES_H_
#define SMFG_ENVIRONMENT_BASELINES_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "environment/equilibrium.h"
#include "environment/objective.h"
#include "environment/report.h"
#include "environment/scenario.h"

namespace smfg::env {

using RateShape = std::array<double, kHoursPerDay>;

// Off-peak [22, 7), mid-peak [7, 16), on-peak [16, 22) with ratios 0.7 : 1 : 1.6
// (docs/MODEL.md §Baselines gives the source of the blocks).
struct TouBlocks {
  int mid_start = 7, peak_start = 16, peak_end = 22;
  double off_ratio = 0.7, mid_ratio = 1.0, peak_ratio = 1.6;
};
RateShape FlatShape();
RateShape TouShape(const TouBlocks& blocks);

// Uniform tariff with rates scale * shape and the rest taken from `base`.
Tariff ShapedTariff(const Tariff& base, const RateShape& shape, double scale);

struct Evaluation {
  Tariff tariff;
  InnerResult inner;
  EquilibriumReport report;
};

struct EvaluateOptions {
  bool measure_exploitability = true;
  InnerProgress progress;  // per inner iteration
};

// Solves the follower equilibrium under `tariff` and builds its report.
absl::StatusOr<Evaluation> EvaluateTariff(PopulationEvaluator& evaluator, MarketClearing& market,
                                          const Scenario& scenario, const Tariff& tariff,
                                          const std::string& label, const EvaluateOptions& options,
                                          const PriceBelief* warm_start = nullptr);

// Cost-recovering scale of `shape` (see above), then the evaluation at it.
// `max_steps` bounds the number of equilibrium solves; the achieved recovery
// ratio is in the report.
absl::StatusOr<Evaluation> EvaluateCostRecovering(PopulationEvaluator& evaluator,
                                                  MarketClearing& market, const Scenario& scenario,
                                                  const Tariff& base, const RateShape& shape,
                                                  const std::string& label,
                                                  const EvaluateOptions& options, int max_steps = 4,
                                                  const PriceBelief* warm_start = nullptr);

// The TOU baseline the learned tariff must match: every combination of
// off-peak and on-peak ratios (mid-peak fixed at 1), each scaled to recover cost,
// ranked by the leader objective. `best` is re-evaluated with `options`
// (e.g. exploitability); the grid itself is solved without.
struct TouCandidate {
  TouBlocks blocks;
  double scale = 0;
  ObjectiveTerms terms;
};
struct TouSearchResult {
  Evaluation best;
  TouBlocks best_blocks;
  std::vector<TouCandidate> candidates;
};
absl::StatusOr<TouSearchResult> SearchTouGrid(PopulationEvaluator& evaluator,
                                              MarketClearing& market, const Scenario& scenario,
                                              const Tariff& base, const ObjectiveWeights& weights,
                                              const std::vector<double>& off_ratios,
                                              const std::vector<double>& peak_ratios,
                                              const EvaluateOptions& options);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_BASELINES_H_
