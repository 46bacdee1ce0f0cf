// The leader's objective (DESIGN §2), for the whole day pool and per day.
//
//   J = - w_equity * spread(EEI)  - w_revenue * gap^2
//       - w_volatility * std(LMP) - w_cost * generation cost per MWh
//       [ - 100 w_revenue max(0, |gap| - tolerance)   with cost recovery as a
//         constraint: recovery_constraint_tolerance >= 0 ]
//
// spread: max_g EEI_g - min_g EEI_g (kMaxMin) or their standard deviation
// (kStdDev), EEI as a fraction of income; gap = (cost - revenue) / cost, the
// relative cost-recovery shortfall (over-recovery counts only when
// penalize_over_recovery); std(LMP) over hours and buses, $/MWh; generation cost
// in $/MWh of generation. Every term is reported separately.
#ifndef SMFG_ENVIRONMENT_OBJECTIVE_H_
#define SMFG_ENVIRONMENT_OBJECTIVE_H_

#include <vector>

#include "environment/equilibrium.h"
#include "environment/scenario.h"

namespace smfg::env {

struct ObjectiveWeights {
  double equity = 1.0;
  double revenue = 1.0;
  double volatility = 0.0;
  double cost = 0.0;
  bool spread_is_std_dev = false;
  bool penalize_over_recovery = false;
  // >= 0: cost recovery is a constraint, |recovery_gap| <= this; J then also
  // pays the exact penalty kRecoveryConstraintPenalty * revenue * (|gap| -
  // tolerance) beyond it. < 0: no constraint (the squared term only).
  double recovery_constraint_tolerance = -1;
};

// Slope of the exact penalty of a violated cost-recovery constraint, per unit
// of the revenue weight: steep enough that no other term pays for a violation
// (the other terms move by O(1) across the rate bounds).
inline constexpr double kRecoveryConstraintPenalty = 100.0;

struct ObjectiveTerms {
  std::vector<double> eei;  // per income group, fraction of income
  double eei_spread = 0.0;
  double recovery_gap = 0.0;  // (cost - revenue) / cost, before clipping
  double lmp_std = 0.0;       // $/MWh
  double generation_cost_per_mwh = 0.0;
  double objective = 0.0;  // J, higher is better
};

// Over all days of the equilibrium.
ObjectiveTerms PoolObjective(const Scenario& scenario, const Tariff& tariff,
                             const InnerResult& inner, const ObjectiveWeights& weights);
// The same terms for each day on its own (EEI annualised from that day), the
// leader's per-day reward.
std::vector<ObjectiveTerms> DailyObjectives(const Scenario& scenario, const Tariff& tariff,
                                            const InnerResult& inner,
                                            const ObjectiveWeights& weights);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_OBJECTIVE_H_
