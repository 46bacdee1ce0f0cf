#include "environment/equilibrium.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

#include "common/status.h"
#include "environment/anderson.h"

namespace smfg::env {
namespace {
constexpr double kMinDamping = 1.0 / 1024;
}  // namespace

absl::StatusOr<MeanFieldResponse> RespondAndClear(PopulationEvaluator& evaluator,
                                                  MarketClearing& market, const Tariff& tariff,
                                                  const PriceBelief& belief) {
  MeanFieldResponse r;
  const auto t0 = std::chrono::steady_clock::now();
  SMFG_ASSIGN_OR_RETURN(r.stats, evaluator.Evaluate(tariff, belief));
  const auto t1 = std::chrono::steady_clock::now();
  SMFG_ASSIGN_OR_RETURN(r.clearing, market.Clear(r.stats));
  r.seconds_population = std::chrono::duration<double>(t1 - t0).count();
  r.seconds_clearing = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const std::vector<double>& c = r.clearing.lmp.lmp_per_mwh;
  for (size_t i = 0; i < c.size(); ++i) {
    r.residual = std::max(r.residual, std::fabs(c[i] - belief.lmp_per_mwh[i]));
  }
  return r;
}

absl::StatusOr<InnerResult> SolveMeanField(PopulationEvaluator& evaluator, MarketClearing& market,
                                           const Tariff& tariff, const InnerLoopParams& params,
                                           const PriceBelief* warm_start,
                                           const InnerProgress& progress) {
  InnerResult result;
  const bool cold = warm_start == nullptr;
  double alpha = params.damping;
  AndersonMixer mixer(params.anderson_memory);
  std::vector<double> next;
  double previous_residual = std::numeric_limits<double>::infinity();
  PriceBelief m = cold ? PriceBelief::Constant(market.days(), market.buses(), 0.0) : *warm_start;
  // Learning followers train during the first `learning` evaluations: plain
  // damped steps (the map changes under them, so neither Anderson's history
  // nor the residual's trend means anything yet); the fixed point below then
  // runs on the frozen policy.
  SMFG_ASSIGN_OR_RETURN(const int learning, evaluator.BeginSolve());
  for (int p = 0; p < learning; ++p) {
    SMFG_ASSIGN_OR_RETURN(MeanFieldResponse step, RespondAndClear(evaluator, market, tariff, m));
    result.seconds_population += step.seconds_population;
    result.seconds_clearing += step.seconds_clearing;
    result.learning_steps += 1;
    const std::vector<double>& c = step.clearing.lmp.lmp_per_mwh;
    if (progress) progress(-(p + 1), step.residual);
    for (size_t k = 0; k < c.size(); ++k) {
      m.lmp_per_mwh[k] =
          cold && p == 0 ? c[k] : (1.0 - params.damping) * m.lmp_per_mwh[k] + params.damping * c[k];
    }
  }
  const bool cold_loop = cold && learning == 0;
  for (int j = 0; j < params.max_iterations; ++j) {
    SMFG_ASSIGN_OR_RETURN(MeanFieldResponse step, RespondAndClear(evaluator, market, tariff, m));
    result.seconds_population += step.seconds_population;
    result.seconds_clearing += step.seconds_clearing;
    const std::vector<double>& c = step.clearing.lmp.lmp_per_mwh;
    const double residual = step.residual;
    result.residual_history.push_back(residual);
    if (progress) progress(j + 1, residual);
    const bool done = residual < params.tolerance_per_mwh;
    // Stalled: the last stall_iterations residuals all stay at or above half
    // the best residual before them.
    bool stalled = false;
    const int n = params.stall_iterations;
    if (!done && n > 0 && j >= n) {
      const auto& h = result.residual_history;
      const double best_before = *std::min_element(h.begin(), h.end() - n);
      const double best_since = *std::min_element(h.end() - n, h.end());
      stalled = !(best_since < 0.5 * best_before);
    }
    if (done || stalled || j + 1 == params.max_iterations) {
      result.stalled = stalled;
      result.belief = std::move(m);
      result.stats = std::move(step.stats);
      result.clearing = std::move(step.clearing);
      result.iterations = j + 1;
      result.residual = residual;
      result.converged = done;
      result.final_damping = alpha;
      return result;
    }
    if (residual >= previous_residual) {
      // Not contracting (overshoot or a cycle): halve the step and drop the
      // Anderson history, which describes the map where it misled us.
      alpha = std::max(alpha * 0.5, kMinDamping);
      ++result.damping_reductions;
      mixer.Reset();
    }
    previous_residual = residual;
    if (cold_loop && j == 0) {
      m.lmp_per_mwh = c;  // m_0 = 0 is nobody's belief: keep nothing of it
    } else {
      mixer.Next(m.lmp_per_mwh, c, alpha, &next);
      m.lmp_per_mwh.swap(next);
    }
  }
  return absl::InvalidArgumentError("inner.max_iterations: must be >= 1");
}

}  // namespace smfg::env
