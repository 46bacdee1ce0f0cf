#include "leader/ppo_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rl/ppo_math.h"

namespace smfg::leader {

double SquashToRange(double u, double lo, double hi) {
  return lo + (hi - lo) * (std::tanh(u) + 1.0) * 0.5;
}

double ClipToRange(double u, double lo, double hi) {
  return lo + (hi - lo) * (std::clamp(u, -1.0, 1.0) + 1.0) * 0.5;
}

double UnsquashFromRange(double a, double lo, double hi) {
  constexpr double kLimit = 1.0 - 1e-15;
  const double y = std::clamp(2.0 * (a - lo) / (hi - lo) - 1.0, -kLimit, kLimit);
  return std::atanh(y);
}

double ActionStdCap(double initial, double final, int updates, uint64_t n) {
  if (final <= 0 || updates <= 0) return std::numeric_limits<double>::infinity();
  return initial * std::pow(final / initial, rl::ScheduleProgress(updates, n));
}

}  // namespace smfg::leader
