#include "environment/anderson.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace smfg::env {
namespace {

// G(x) = A x + b with a contraction A whose eigenvalues include -0.9 (slow,
// oscillating for the plain iteration). Fixed point x* = (I - A)^-1 b.
std::vector<double> G(const std::vector<double>& x) {
  return {-0.9 * x[0] + 0.1 * x[1] + 1.0, 0.2 * x[0] + 0.5 * x[1] - 2.0, 0.3 * x[2] + 0.7};
}

double Residual(const std::vector<double>& x) {
  const std::vector<double> g = G(x);
  double r = 0;
  for (size_t i = 0; i < x.size(); ++i) r = std::max(r, std::fabs(g[i] - x[i]));
  return r;
}

int IterationsToConverge(int memory, double beta) {
  AndersonMixer mixer(memory);
  std::vector<double> x = {0, 0, 0}, next;
  for (int k = 1; k <= 500; ++k) {
    if (Residual(x) < 1e-10) return k;
    mixer.Next(x, G(x), beta, &next);
    x = next;
  }
  return 500;
}

TEST(AndersonMixerTest, MemoryZeroIsTheDampedIteration) {
  AndersonMixer mixer(0);
  std::vector<double> next;
  mixer.Next({1.0, 2.0}, {3.0, 0.0}, 0.25, &next);
  EXPECT_DOUBLE_EQ(next[0], 1.0 + 0.25 * 2.0);
  EXPECT_DOUBLE_EQ(next[1], 2.0 - 0.25 * 2.0);
}

TEST(AndersonMixerTest, LinearMapConvergesInAboutDimensionSteps) {
  // Like GMRES, Anderson with memory >= n solves an n-dimensional affine
  // fixed point in about n + 1 steps; the damped iteration needs far more.
  const int anderson = IterationsToConverge(5, 1.0);
  const int damped = IterationsToConverge(0, 0.5);
  EXPECT_LE(anderson, 6);
  EXPECT_GT(damped, 40);
}

TEST(AndersonMixerTest, ResetForgetsHistory) {
  // After a reset the first step is the plain damped step, whatever came before.
  const std::vector<double> x = {0, 0, 0};
  AndersonMixer plain(0), reset(3);
  std::vector<double> expected, got;
  plain.Next(x, G(x), 1.0, &expected);
  reset.Next({9, 9, 9}, G({9, 9, 9}), 1.0, &got);
  reset.Reset();
  reset.Next(x, G(x), 1.0, &got);
  EXPECT_EQ(expected, got);
}

}  // namespace
}  // namespace smfg::env
