#include "environment/markov_chain.h"

#include <cmath>
#include <vector>

#include "common/linear_solve.h"
#include "common/rng.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

TEST(MarkovChainTest, IrreducibleChainHasItsStationaryDistribution) {
  // Two states: 0 -> 1 w.p. 0.3, 1 -> 0 w.p. 0.1: mu = (0.25, 0.75).
  const double p[4] = {0.7, 0.3, 0.1, 0.9};
  double mu[2];
  EXPECT_EQ(LongRunDistribution(2, p, 0, mu), 1);
  EXPECT_NEAR(mu[0], 0.25, 1e-15);
  EXPECT_NEAR(mu[1], 0.75, 1e-15);
}

TEST(MarkovChainTest, TransientStatesGetExactlyZero) {
  // 0 -> 1 surely, 1 <-> 2: state 0 is transient.
  const double p[9] = {0, 1, 0, 0, 0.5, 0.5, 0, 0.25, 0.75};
  double mu[3];
  EXPECT_EQ(LongRunDistribution(3, p, 0, mu), 1);
  EXPECT_EQ(mu[0], 0.0);
  EXPECT_NEAR(mu[1], 1.0 / 3, 1e-15);
  EXPECT_NEAR(mu[2], 2.0 / 3, 1e-15);
}

TEST(MarkovChainTest, PeriodicChainAveragesOverTheCycle) {
  const double p[4] = {0, 1, 1, 0};
  double mu[2];
  EXPECT_EQ(LongRunDistribution(2, p, 0, mu), 1);
  EXPECT_EQ(mu[0], 0.5);
  EXPECT_EQ(mu[1], 0.5);
}

TEST(MarkovChainTest, SeveralClosedClassesMixByAbsorptionFromTheStart) {
  // 0 -> 1 (0.2), 2 (0.3), stays (0.5); 1 and 2 absorbing: from 0 the chain
  // ends in 1 w.p. 0.4 and in 2 w.p. 0.6.
  const double p[9] = {0.5, 0.2, 0.3, 0, 1, 0, 0, 0, 1};
  double mu[3];
  EXPECT_EQ(LongRunDistribution(3, p, 0, mu), 2);
  EXPECT_EQ(mu[0], 0.0);
  EXPECT_NEAR(mu[1], 0.4, 1e-15);
  EXPECT_NEAR(mu[2], 0.6, 1e-15);
  // Started inside a closed class, the chain stays there.
  EXPECT_EQ(LongRunDistribution(3, p, 2, mu), 2);
  EXPECT_EQ(mu[2], 1.0);
  // The identity (a battery that never moves): every state is a class.
  const double id[4] = {1, 0, 0, 1};
  EXPECT_EQ(LongRunDistribution(2, id, 0, mu), 2);
  EXPECT_EQ(mu[0], 1.0);
  EXPECT_EQ(mu[1], 0.0);
}

// On random irreducible chains, including badly mixing ones (off-diagonal
// mass 1e-9, where a pivoted dense solve loses 7 digits): the balance
// equations sum_{i != j} mu_i P_ij = mu_j sum_{k != j} P_jk, which involve no
// subtraction, hold to 1e-13 relative; well-mixing chains also match a dense
// solve.
TEST(MarkovChainTest, BalanceHoldsOnRandomChains) {
  CounterRng rng(7, RngPurpose::kTest, 0);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 2 + trial % 12;
    const double leak = trial % 2 ? 1e-9 : 1.0;
    std::vector<double> p(n * n);
    for (int i = 0; i < n; ++i) {
      double sum = 0;
      for (int j = 0; j < n; ++j) sum += p[i * n + j] = (i == j ? 1.0 : leak) * rng.Uniform(0.1, 1);
      for (int j = 0; j < n; ++j) p[i * n + j] /= sum;
    }
    std::vector<double> mu(n);
    ASSERT_EQ(LongRunDistribution(n, p.data(), 0, mu.data()), 1);
    for (int j = 0; j < n; ++j) {
      double in = 0, out = 0;
      for (int i = 0; i < n; ++i) {
        if (i != j) in += mu[i] * p[i * n + j];
        if (i != j) out += mu[j] * p[j * n + i];
      }
      EXPECT_NEAR(in, out, 1e-13 * out) << "trial " << trial << " state " << j;
    }
    if (leak < 1) continue;
    std::vector<double> a(n * n), b(n, 0.0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) a[i * n + j] = i == n - 1 ? 1.0 : p[j * n + i] - (i == j);
    }
    b[n - 1] = 1;
    ASSERT_TRUE(SolveLinearSystem(n, a.data(), b.data()));
    for (int i = 0; i < n; ++i) EXPECT_NEAR(mu[i], b[i], 1e-14) << trial;
  }
}

}  // namespace
}  // namespace smfg::env
