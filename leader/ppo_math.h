// The leader's own scalar mathematics, in plain C++ (no LibTorch): how its
// Gaussian policy's samples map onto the tariff parameters' ranges, and its
// exploration schedule. PPO's shared mathematics (GAE, normalisation, the
// clipped surrogate, KL, learning-rate schedules) is in rl/ppo_math.h.
#ifndef SMFG_LEADER_PPO_MATH_H_
#define SMFG_LEADER_PPO_MATH_H_

#include <cstdint>

namespace smfg::leader {

// Maps an unbounded Gaussian sample u onto (lo, hi):
//   a = lo + (hi - lo) * (tanh(u) + 1) / 2
// so u = 0 is the midpoint. In double precision |u| beyond ~19 rounds to a bound.
double SquashToRange(double u, double lo, double hi);

// Maps u onto [lo, hi] linearly after clipping it to [-1, 1]:
//   a = lo + (hi - lo) * (clamp(u, -1, 1) + 1) / 2
// Unlike SquashToRange the policy's mean can sit on a bound (any u >= 1 is
// hi), so an optimum on a bound is reached exactly, not only as u -> inf.
// PPO's probabilities stay those of the unclipped Gaussian sample, as in the
// usual clipped-action implementations.
double ClipToRange(double u, double lo, double hi);

// The inverse of SquashToRange: u = atanh(2 (a - lo) / (hi - lo) - 1). The atanh
// argument is clamped to +-(1 - 1e-15) so a bound itself maps to a large finite u
// (about +-17.6) rather than infinity. Precondition: lo < hi.
double UnsquashFromRange(double a, double lo, double hi);

// The leader's exploration schedule over the first `updates` updates (N; N = 0
// means no schedule), at update count n (0-based):
//   ActionStdCap = initial * (final / initial)^(min(n, N) / N)
// (rl::ScheduleProgress). With N = 0 or final = 0 there is no cap (+infinity).
// The geometric cap halves sigma in equal numbers of updates, so exploration
// narrows as fast at the end as at the start in relative terms. Its learning
// rates follow rl::ScheduledLearningRate.
double ActionStdCap(double initial, double final, int updates, uint64_t n);

}  // namespace smfg::leader

#endif  // SMFG_LEADER_PPO_MATH_H_
