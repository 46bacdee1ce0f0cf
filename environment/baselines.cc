#include "environment/baselines.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

#include "common/status.h"

namespace smfg::env {

RateShape FlatShape() {
  RateShape s;
  s.fill(1.0);
  return s;
}

RateShape TouShape(const TouBlocks& b) {
  RateShape s;
  for (int h = 0; h < kHoursPerDay; ++h) {
    if (h >= b.peak_start && h < b.peak_end) {
      s[h] = b.peak_ratio;
    } else if (h >= b.mid_start && h < b.peak_start) {
      s[h] = b.mid_ratio;
    } else {
      s[h] = b.off_ratio;
    }
  }
  return s;
}

Tariff ShapedTariff(const Tariff& base, const RateShape& shape, double scale) {
  Tariff t = base;
  t.import_rate_per_kwh.assign(1, std::vector<double>(kHoursPerDay));
  for (int h = 0; h < kHoursPerDay; ++h) t.import_rate_per_kwh[0][h] = scale * shape[h];
  return t;
}

absl::StatusOr<Evaluation> EvaluateTariff(PopulationEvaluator& evaluator, MarketClearing& market,
                                          const Scenario& scenario, const Tariff& tariff,
                                          const std::string& label, const EvaluateOptions& options,
                                          const PriceBelief* warm_start) {
  const auto start = std::chrono::steady_clock::now();
  Evaluation e;
  e.tariff = tariff;
  SMFG_ASSIGN_OR_RETURN(e.inner, SolveMeanField(evaluator, market, tariff, scenario.inner,
                                                warm_start, options.progress));
  ExploitabilityStats exploit;
  if (options.measure_exploitability) {
    SMFG_ASSIGN_OR_RETURN(exploit,
                          evaluator.Exploitability(tariff, e.inner.belief, e.inner.clearing.lmp));
  }
  e.report = MakeReport(scenario, tariff, e.inner, exploit, label);
  if (options.measure_exploitability && evaluator.learned_followers()) {
    SMFG_ASSIGN_OR_RETURN(
        e.report.best_response_exploitability,
        evaluator.BestResponseExploitability(tariff, e.inner.belief, e.inner.clearing.lmp));
    e.report.has_best_response_exploitability = true;
  }
  e.report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

namespace {

// The scale that makes revenue equal cost, holding behaviour at `inner`.
double RecoveringScale(const Scenario& sc, const Tariff& tariff, const RateShape& shape,
                       const InnerResult& inner) {
  const PopulationStats& st = inner.stats;
  double shaped_imports = 0, billed_imports = 0;
  const std::vector<double>& rates = tariff.import_rate_per_kwh[0];
  for (int b = 0; b < st.buses; ++b) {
    for (int h = 0; h < kHoursPerDay; ++h) {
      const double imports = st.import_kwh_bus_hour[b * kHoursPerDay + h];
      shaped_imports += shape[h] * imports;
      billed_imports += rates[h] * imports;
    }
  }
  const HouseholdMoney money = SumHouseholdMoney(st, tariff, inner.clearing.lmp, 0, sc.days);
  const double days = sc.days;
  const double credits = (billed_imports - money.bills) / days;  // X, $/day
  const double cost =
      money.wholesale / days + sc.utility_fixed_cost_per_day / sc.households_represented;
  return (cost + credits - money.fixed_charges / days) * days / shaped_imports;
}

}  // namespace

absl::StatusOr<Evaluation> EvaluateCostRecovering(PopulationEvaluator& evaluator,
                                                  MarketClearing& market, const Scenario& scenario,
                                                  const Tariff& base, const RateShape& shape,
                                                  const std::string& label,
                                                  const EvaluateOptions& options, int max_steps,
                                                  const PriceBelief* warm_start) {
  // Start from the average wholesale price level of a typical system (~50 $/MWh
  // energy plus delivery); the first step corrects it.
  double mean_shape = 0;
  for (double v : shape) mean_shape += v / kHoursPerDay;
  double scale = 0.10 / mean_shape;
  EvaluateOptions quiet = options;
  quiet.measure_exploitability = false;
  PriceBelief warm = warm_start ? *warm_start : PriceBelief{};
  for (int step = 0; step < max_steps; ++step) {
    const Tariff tariff = ShapedTariff(base, shape, scale);
    SMFG_ASSIGN_OR_RETURN(Evaluation e,
                          EvaluateTariff(evaluator, market, scenario, tariff, label, quiet,
                                         warm.lmp_per_mwh.empty() ? nullptr : &warm));
    const double next = RecoveringScale(scenario, tariff, shape, e.inner);
    warm = e.inner.belief;
    if (std::fabs(next - scale) <= 1e-7 * std::fabs(scale)) break;
    scale = next;
  }
  return EvaluateTariff(evaluator, market, scenario, ShapedTariff(base, shape, scale), label,
                        options, &warm);
}

absl::StatusOr<TouSearchResult> SearchTouGrid(PopulationEvaluator& evaluator,
                                              MarketClearing& market, const Scenario& scenario,
                                              const Tariff& base, const ObjectiveWeights& weights,
                                              const std::vector<double>& off_ratios,
                                              const std::vector<double>& peak_ratios,
                                              const EvaluateOptions& options) {
  TouSearchResult result;
  EvaluateOptions quiet = options;
  quiet.measure_exploitability = false;
  PriceBelief warm;
  double best_objective = -std::numeric_limits<double>::infinity();
  for (double off : off_ratios) {
    for (double peak : peak_ratios) {
      TouBlocks blocks;
      blocks.off_ratio = off;
      blocks.peak_ratio = peak;
      SMFG_ASSIGN_OR_RETURN(
          Evaluation e,
          EvaluateCostRecovering(evaluator, market, scenario, base, TouShape(blocks), "tou", quiet,
                                 4, warm.lmp_per_mwh.empty() ? nullptr : &warm));
      warm = e.inner.belief;
      TouCandidate c{blocks, e.tariff.import_rate_per_kwh[0][blocks.mid_start] / blocks.mid_ratio,
                     PoolObjective(scenario, e.tariff, e.inner, weights)};
      if (c.terms.objective > best_objective) {
        best_objective = c.terms.objective;
        result.best_blocks = blocks;
        result.best = std::move(e);
      }
      result.candidates.push_back(std::move(c));
    }
  }
  if (result.candidates.empty()) return absl::InvalidArgumentError("TOU grid: no candidates");
  // Re-evaluate the winner with the caller's options (exploitability).
  SMFG_ASSIGN_OR_RETURN(result.best, EvaluateTariff(evaluator, market, scenario, result.best.tariff,
                                                    "tou", options, &result.best.inner.belief));
  return result;
}

}  // namespace smfg::env
