#include "training/reference.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "environment/equilibrium.h"
#include "environment/objective.h"
#include "nlopt.hpp"
#include "training/iteration_record.h"

namespace smfg::training {
namespace {

struct Evaluated {
  env::ObjectiveTerms terms;
  bool feasible = true;
};

// The search's state, shared with NLopt's C-style callbacks.
class Search {
 public:
  Search(const TrainerParams& params, const TariffFamily& family,
         env::PopulationEvaluator& evaluator, env::MarketClearing& market, std::ostream* progress,
         const std::function<bool()>& should_stop, int budget)
      : params_(params),
        family_(family),
        evaluator_(evaluator),
        market_(market),
        progress_(progress),
        should_stop_(should_stop),
        budget_(budget) {}

  std::vector<double> ToX(const std::vector<double>& z) const {
    std::vector<double> x(z.size());
    for (size_t i = 0; i < z.size(); ++i) {
      const double lo = family_.lower()[i], hi = family_.upper()[i];
      x[i] = std::clamp(lo + z[i] * (hi - lo), lo, hi);
    }
    return x;
  }

  // J at z (cached: COBYLA asks for the constraint at the same point).
  const Evaluated& At(const std::vector<double>& z) {
    auto it = cache_.find(z);
    if (it != cache_.end()) return it->second;
    if (!error_.ok()) throw nlopt::forced_stop();
    if (should_stop_ && should_stop_()) {
      error_ = absl::CancelledError("the reference search was stopped");
      throw nlopt::forced_stop();
    }
    const std::vector<double> x = ToX(z);
    const env::Tariff tariff = family_.StaticTariff(x, params_.base);
    absl::StatusOr<env::InnerResult> inner =
        env::SolveMeanField(evaluator_, market_, tariff, params_.scenario.inner,
                            belief_.lmp_per_mwh.empty() ? nullptr : &belief_);
    if (!inner.ok()) {
      error_ = Annotate(inner.status(), absl::StrCat("reference evaluation ", cache_.size() + 1));
      throw nlopt::forced_stop();
    }
    belief_ = inner->belief;
    CountEquilibriumEnd(*inner, &equilibria_);
    Evaluated e;
    e.terms = env::PoolObjective(params_.scenario, tariff, *inner, params_.weights);
    const double tolerance = params_.weights.recovery_constraint_tolerance;
    e.feasible = tolerance < 0 || std::fabs(e.terms.recovery_gap) <= tolerance;
    if (!std::isfinite(e.terms.objective)) e.terms.objective = -1e300;
    if (e.feasible && (!best_.has_value() || e.terms.objective > best_->second.terms.objective)) {
      best_ = std::make_pair(x, e);
    }
    if (progress_ != nullptr) {
      *progress_ << absl::StrFormat(
          "reference: evaluation %3d/%d  J %.6f  cost gap %+.2f %%%s  best %.6f%s\n",
          static_cast<int>(cache_.size()) + 1, budget_, e.terms.objective,
          100 * e.terms.recovery_gap, e.feasible ? "" : " (infeasible)",
          best_.has_value() ? best_->second.terms.objective : std::nan(""),
          inner->converged ? ""
          : inner->stalled ? "  (equilibrium stalled)"
                           : "  (equilibrium out of iterations)");
      progress_->flush();
    }
    return cache_.emplace(z, std::move(e)).first->second;
  }

  static double Objective(const std::vector<double>& z, std::vector<double>& grad, void* data) {
    return static_cast<Search*>(data)->At(z).terms.objective;
  }

  // <= 0 when feasible.
  static double Constraint(const std::vector<double>& z, std::vector<double>& grad, void* data) {
    Search* s = static_cast<Search*>(data);
    return std::fabs(s->At(z).terms.recovery_gap) -
           s->params_.weights.recovery_constraint_tolerance;
  }

  const absl::Status& error() const { return error_; }
  const v1::EquilibriumEnds& equilibria() const { return equilibria_; }
  int evaluations() const { return static_cast<int>(cache_.size()); }
  const std::optional<std::pair<std::vector<double>, Evaluated>>& best() const { return best_; }

 private:
  const TrainerParams& params_;
  const TariffFamily& family_;
  env::PopulationEvaluator& evaluator_;
  env::MarketClearing& market_;
  std::ostream* progress_;
  const std::function<bool()>& should_stop_;
  const int budget_;
  env::PriceBelief belief_;
  std::map<std::vector<double>, Evaluated> cache_;
  std::optional<std::pair<std::vector<double>, Evaluated>> best_;
  absl::Status error_;
  v1::EquilibriumEnds equilibria_;
};

std::string ResultName(nlopt::result r) {
  switch (r) {
    case nlopt::SUCCESS:
      return "success";
    case nlopt::STOPVAL_REACHED:
      return "stopval reached";
    case nlopt::FTOL_REACHED:
      return "ftol reached";
    case nlopt::XTOL_REACHED:
      return "xtol reached";
    case nlopt::MAXEVAL_REACHED:
      return "maxeval reached";
    case nlopt::MAXTIME_REACHED:
      return "maxtime reached";
    case nlopt::ROUNDOFF_LIMITED:
      return "roundoff limited";
    case nlopt::FORCED_STOP:
      return "forced stop";
    default:
      return absl::StrCat("nlopt result ", static_cast<int>(r));
  }
}

}  // namespace

absl::StatusOr<v1::ReferenceSummary> OptimizeReference(
    const TrainerParams& params, const TariffFamily& family, env::PopulationEvaluator& evaluator,
    env::MarketClearing& market, const std::vector<double>& start, std::ostream* progress,
    const std::function<bool()>& should_stop) {
  const int n = family.size();
  if (static_cast<int>(start.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference: start has ", start.size(), " parameters, the family ", n));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const bool constrained = params.weights.recovery_constraint_tolerance >= 0;
  const nlopt::algorithm algorithm = constrained || n < 2 ? nlopt::LN_COBYLA : nlopt::LN_BOBYQA;
  Search search(params, family, evaluator, market, progress, should_stop,
                params.reference.max_evaluations);
  std::vector<double> z(n);
  for (int i = 0; i < n; ++i) {
    const double lo = family.lower()[i], hi = family.upper()[i];
    z[i] = std::clamp((start[i] - lo) / (hi - lo), 0.0, 1.0);
  }
  v1::ReferenceSummary summary;
  summary.set_algorithm(algorithm == nlopt::LN_COBYLA ? "LN_COBYLA" : "LN_BOBYQA");
  std::string stop_reason;
  try {
    nlopt::opt opt(algorithm, n);
    opt.set_lower_bounds(std::vector<double>(n, 0.0));
    opt.set_upper_bounds(std::vector<double>(n, 1.0));
    opt.set_max_objective(&Search::Objective, &search);
    if (constrained) opt.add_inequality_constraint(&Search::Constraint, &search, 1e-9);
    opt.set_maxeval(params.reference.max_evaluations);
    opt.set_xtol_abs(params.reference.relative_tolerance);
    opt.set_initial_step(0.1);
    summary.set_start_objective(search.At(z).terms.objective);
    double value = 0;
    stop_reason = ResultName(opt.optimize(z, value));
  } catch (const nlopt::forced_stop&) {
    if (!search.error().ok()) return search.error();
    stop_reason = "forced stop";
  } catch (const std::exception& e) {
    // NLopt's own failures (roundoff, invalid arguments) end the search; the
    // best point measured so far stands.
    if (!search.error().ok()) return search.error();
    stop_reason = absl::StrCat("stopped: ", e.what());
  }
  if (!search.best().has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "reference: no evaluated tariff met the cost-recovery constraint (|gap| <= ",
        params.weights.recovery_constraint_tolerance, ") within ", search.evaluations(),
        " evaluations; widen tariff.cost_recovery_tolerance or the rate bounds"));
  }
  const auto& [x, best] = *search.best();
  summary.mutable_parameters()->Assign(x.begin(), x.end());
  *summary.mutable_terms() = TermsToProto(best.terms, params.scenario);
  summary.set_evaluations(search.evaluations());
  summary.set_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  summary.set_stop_reason(stop_reason);
  *summary.mutable_equilibria() = search.equilibria();
  return summary;
}

}  // namespace smfg::training
