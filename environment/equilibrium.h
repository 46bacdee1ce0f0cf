// The inner mean-field fixed point on prices (DESIGN §1):
//   C_j     = Clear(stats(pi_F(tariff, m_j)))          realised LMPs
//   r_j     = max |C_j - m_j|                           fixed-point residual, $/MWh
//   m_{j+1} = (1 - alpha) m_j + alpha C_j               damped update,
// accelerated by Anderson mixing of the last `anderson_memory` iterates
// (anderson.h; memory 0 gives exactly the damped update above),
// stopping at the first j with r_j < tolerance. alpha starts at `damping` and is
// halved (down to 1/1024) whenever r_j >= r_{j-1}, so an oscillating map still
// converges; the number of reductions is reported. The returned stats and clearing
// belong to m_j, so beliefs and outcomes are consistent to the tolerance.
// Without a warm start m_0 = 0 and the first update is undamped (alpha = 1):
// m_0 is nobody's belief, so there is nothing to keep from it.
#ifndef SMFG_ENVIRONMENT_EQUILIBRIUM_H_
#define SMFG_ENVIRONMENT_EQUILIBRIUM_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "environment/market.h"
#include "environment/population_evaluator.h"
#include "environment/population_stats.h"
#include "environment/scenario.h"

namespace smfg::env {

struct InnerResult {
  PriceBelief belief;       // m_j at the stop
  PopulationStats stats;    // population response to m_j
  ClearingResult clearing;  // market outcome of that response
  int iterations = 0;       // population evaluations used after learning
  // Evaluations during which learning followers trained (PopulationEvaluator::
  // BeginSolve), before the fixed point on their frozen policy; 0 for exact
  // followers.
  int learning_steps = 0;
  double residual = 0.0;  // r_j, $/MWh
  bool converged = false;
  // Stopped by InnerLoopParams::stall_iterations (not converged).
  bool stalled = false;
  int damping_reductions = 0;
  // Wall time spent in population evaluations and in market clearing, s.
  double seconds_population = 0.0;
  double seconds_clearing = 0.0;
  double final_damping = 0.0;
  std::vector<double> residual_history;
};

// One application of the map at belief m: the population's response to m, its
// clearing C and r = max |C - m| ($/MWh), with the wall time of each part.
// SolveMeanField iterates it; the trainer's single loop (loop mode SINGLE)
// takes one step at a time.
struct MeanFieldResponse {
  PopulationStats stats;
  ClearingResult clearing;
  double residual = 0.0;
  double seconds_population = 0.0;
  double seconds_clearing = 0.0;
};
absl::StatusOr<MeanFieldResponse> RespondAndClear(PopulationEvaluator& evaluator,
                                                  MarketClearing& market, const Tariff& tariff,
                                                  const PriceBelief& belief);

// Called after each inner iteration with (iteration, residual); a learning
// step p (1-based, before the fixed point) reports as iteration -p.
using InnerProgress = std::function<void(int, double)>;

// Fails only if a population evaluation or a market clearing fails. Not
// converging within max_iterations is not an error: converged=false is
// returned and the caller reports it.
absl::StatusOr<InnerResult> SolveMeanField(PopulationEvaluator& evaluator, MarketClearing& market,
                                           const Tariff& tariff, const InnerLoopParams& params,
                                           const PriceBelief* warm_start,
                                           const InnerProgress& progress = nullptr);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_EQUILIBRIUM_H_
