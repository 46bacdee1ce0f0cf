#include "common/rng.h"

#include <cmath>

namespace smfg {

double CounterRng::Normal() {
  // 1 - Uniform() lies in (0, 1], so the logarithm is finite.
  const double u1 = 1.0 - Uniform();
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

int CounterRng::Categorical(const double* weights, int n) {
  double total = 0.0;
  for (int i = 0; i < n; ++i) total += weights[i];
  double target = Uniform() * total;
  for (int i = 0; i < n; ++i) {
    if (target < weights[i]) return i;
    target -= weights[i];
  }
  // Rounding can leave target marginally above the last weight.
  for (int i = n - 1; i >= 0; --i) {
    if (weights[i] > 0) return i;
  }
  return 0;
}

}  // namespace smfg
