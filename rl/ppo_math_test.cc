// Reference values for rl/ppo_math.h, computed by hand (arithmetic in the comments).
#include "rl/ppo_math.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::rl {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

constexpr double kTol = 1e-12;

// rewards r = [1, 2, 3, 4], values V = [0.5, 1.0, 1.5, 2.0], done after step 1,
// last_value = 2.5, gamma = 0.9, lambda = 0.8 (gamma * lambda = 0.72).
const std::vector<double> kRewards = {1, 2, 3, 4};
const std::vector<double> kValues = {0.5, 1.0, 1.5, 2.0};
const std::vector<uint8_t> kDones = {0, 1, 0, 0};

TEST(ComputeGaeTest, HandComputedWithDoneInTheMiddle) {
  // Backwards:
  //   t=3: delta = 4 + 0.9*2.5 - 2.0 = 4.25;             A = 4.25
  //   t=2: delta = 3 + 0.9*2.0 - 1.5 = 3.3;              A = 3.3 + 0.72*4.25 = 6.36
  //   t=1: done, delta = 2 - 1.0 = 1.0;                  A = 1.0 (nothing flows back)
  //   t=0: delta = 1 + 0.9*1.0 - 0.5 = 1.4;              A = 1.4 + 0.72*1.0 = 2.12
  // returns = A + V = [2.62, 2.0, 7.86, 6.25].
  const GaeResult r = ComputeGae(kRewards, kValues, kDones, 2.5, 0.9, 0.8);
  EXPECT_THAT(r.advantages, ElementsAre(DoubleNear(2.12, kTol), DoubleNear(1.0, kTol),
                                        DoubleNear(6.36, kTol), DoubleNear(4.25, kTol)));
  EXPECT_THAT(r.returns, ElementsAre(DoubleNear(2.62, kTol), DoubleNear(2.0, kTol),
                                     DoubleNear(7.86, kTol), DoubleNear(6.25, kTol)));
}

TEST(ComputeGaeTest, LambdaZeroGivesOneStepTdErrors) {
  // A_t = delta_t, from the t-by-t deltas above: [1.4, 1.0, 3.3, 4.25].
  const GaeResult r = ComputeGae(kRewards, kValues, kDones, 2.5, 0.9, 0.0);
  EXPECT_THAT(r.advantages, ElementsAre(DoubleNear(1.4, kTol), DoubleNear(1.0, kTol),
                                        DoubleNear(3.3, kTol), DoubleNear(4.25, kTol)));
}

TEST(ComputeGaeTest, LambdaOneGammaOneGivesMonteCarloReturnMinusValue) {
  // Episode ends at t=2, so last_value = 100 is ignored. Returns-to-go
  // G = [1+2+3, 2+3, 3] = [6, 5, 3]; A = G - V = [6-0.5, 5-0.25, 3-2] = [5.5, 4.75, 1].
  const GaeResult terminal = ComputeGae({1, 2, 3}, {0.5, 0.25, 2}, {0, 0, 1}, 100.0, 1.0, 1.0);
  EXPECT_THAT(terminal.advantages,
              ElementsAre(DoubleNear(5.5, kTol), DoubleNear(4.75, kTol), DoubleNear(1, kTol)));
  EXPECT_THAT(terminal.returns,
              ElementsAre(DoubleNear(6, kTol), DoubleNear(5, kTol), DoubleNear(3, kTol)));

  // Not terminal: the tail is bootstrapped with last_value = 10, so
  // G = [16, 15, 13] and A = [15.5, 14.75, 11].
  const GaeResult bootstrapped = ComputeGae({1, 2, 3}, {0.5, 0.25, 2}, {0, 0, 0}, 10.0, 1.0, 1.0);
  EXPECT_THAT(bootstrapped.advantages,
              ElementsAre(DoubleNear(15.5, kTol), DoubleNear(14.75, kTol), DoubleNear(11, kTol)));
}

TEST(ComputeGaeTest, EmptyRollout) {
  const GaeResult r = ComputeGae({}, {}, {}, 1.0, 0.99, 0.95);
  EXPECT_TRUE(r.advantages.empty());
  EXPECT_TRUE(r.returns.empty());
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

double PopulationStd(const std::vector<double>& v) {
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / v.size());
}

TEST(NormalizeAdvantagesTest, HandComputed) {
  // mean 2, population std sqrt(((1-2)^2 + (3-2)^2) / 2) = 1.
  std::vector<double> a = {1, 3};
  NormalizeAdvantages(&a);
  EXPECT_THAT(a, ElementsAre(DoubleNear(-1, kTol), DoubleNear(1, kTol)));
}

TEST(NormalizeAdvantagesTest, MeanZeroStdOne) {
  for (const std::vector<double>& input :
       {std::vector<double>{1, 2, 3, 4, 10}, std::vector<double>{-3e-3, 7e-3, 1e-3},
        std::vector<double>{1e6 + 1, 1e6 + 2, 1e6 + 4, 1e6 - 7}}) {
    std::vector<double> a = input;
    NormalizeAdvantages(&a);
    EXPECT_NEAR(Mean(a), 0.0, kTol);
    EXPECT_NEAR(PopulationStd(a), 1.0, kTol);
  }
}

TEST(NormalizeAdvantagesTest, ConstantAndSingletonStayFinite) {
  std::vector<double> constant = {3, 3, 3};
  NormalizeAdvantages(&constant);
  EXPECT_THAT(constant, ElementsAre(0.0, 0.0, 0.0));
  std::vector<double> single = {-7.5};
  NormalizeAdvantages(&single);
  EXPECT_THAT(single, ElementsAre(0.0));
  std::vector<double> empty;
  NormalizeAdvantages(&empty);
  EXPECT_TRUE(empty.empty());
}

TEST(ClippedSurrogateTest, HandComputed) {
  // eps = 0.2, clip range [0.8, 1.2].
  EXPECT_DOUBLE_EQ(ClippedSurrogate(1.5, 2.0, 0.2), 2.4);    // min(3, 1.2*2)
  EXPECT_DOUBLE_EQ(ClippedSurrogate(0.5, 2.0, 0.2), 1.0);    // min(1, 0.8*2)
  EXPECT_DOUBLE_EQ(ClippedSurrogate(0.5, -2.0, 0.2), -1.6);  // min(-1, 0.8*-2)
  EXPECT_DOUBLE_EQ(ClippedSurrogate(1.5, -2.0, 0.2), -3.0);  // min(-3, 1.2*-2)
  EXPECT_DOUBLE_EQ(ClippedSurrogate(1.1, 2.0, 0.2), 2.2);    // inside the range
  EXPECT_FALSE(ClipActive(1.5, -2.0, 0.2));                  // clipped term not selected
  EXPECT_FALSE(ClipActive(0.5, 2.0, 0.2));
  EXPECT_FALSE(ClipActive(5.0, 0.0, 0.2));  // zero advantage: both terms 0
}

TEST(ClippedSurrogateTest, ClippingFiresExactlyAtOnePlusMinusEpsilon) {
  for (double eps : {0.1, 0.2, 0.3}) {
    const double hi = 1.0 + eps;
    const double lo = 1.0 - eps;
    // Positive advantage: the upper bound.
    EXPECT_FALSE(ClipActive(hi - 1e-12, 1.0, eps)) << eps;
    EXPECT_FALSE(ClipActive(hi, 1.0, eps)) << eps;
    EXPECT_TRUE(ClipActive(hi + 1e-12, 1.0, eps)) << eps;
    EXPECT_EQ(ClippedSurrogate(hi - 1e-12, 1.0, eps), hi - 1e-12);
    EXPECT_EQ(ClippedSurrogate(hi + 1e-12, 1.0, eps), hi);
    EXPECT_FALSE(ClipActive(lo - 1e-12, 1.0, eps)) << eps;  // wrong side for A > 0
    // Negative advantage: the mirror at the lower bound.
    EXPECT_FALSE(ClipActive(lo + 1e-12, -1.0, eps)) << eps;
    EXPECT_FALSE(ClipActive(lo, -1.0, eps)) << eps;
    EXPECT_TRUE(ClipActive(lo - 1e-12, -1.0, eps)) << eps;
    EXPECT_EQ(ClippedSurrogate(lo + 1e-12, -1.0, eps), -(lo + 1e-12));
    EXPECT_EQ(ClippedSurrogate(lo - 1e-12, -1.0, eps), -lo);
    EXPECT_FALSE(ClipActive(hi + 1e-12, -1.0, eps)) << eps;
  }
}

TEST(ApproxKlTest, HandComputedK3Estimator) {
  // log r = [ln 2, ln 0.5]: terms (2 - 1 - ln 2) + (0.5 - 1 + ln 2) = 0.5, mean 0.25.
  EXPECT_NEAR(ApproxKl({0.0, 0.0}, {std::log(2.0), std::log(0.5)}), 0.25, kTol);
  // Same for any common offset of the log-probabilities.
  EXPECT_NEAR(ApproxKl({-3.0, 1.0}, {-3.0 + std::log(2.0), 1.0 + std::log(0.5)}), 0.25, kTol);
  EXPECT_EQ(ApproxKl({-1.0, 2.0}, {-1.0, 2.0}), 0.0);
  EXPECT_EQ(ApproxKl({}, {}), 0.0);
  // Tiny differences: (r - 1) - log r ~ d^2 / 2, accurate thanks to expm1.
  EXPECT_NEAR(ApproxKl({0.0}, {1e-6}), 0.5e-12, 1e-18);
  // Never negative, unlike mean(old - new).
  EXPECT_GT(ApproxKl({0.0, 0.0}, {0.3, -0.1}), 0.0);
  EXPECT_GT(ApproxKl({0.0, 0.0}, {-0.3, 0.1}), 0.0);
}

TEST(KlEarlyStopTest, StopsStrictlyAboveThresholdAndZeroDisables) {
  EXPECT_FALSE(KlEarlyStop(0.02, 0.02));
  EXPECT_FALSE(KlEarlyStop(0.02 - 1e-15, 0.02));
  EXPECT_TRUE(KlEarlyStop(0.02 + 1e-15, 0.02));
  EXPECT_FALSE(KlEarlyStop(1e9, 0.0));
  EXPECT_FALSE(KlEarlyStop(std::nan(""), 0.02));  // left to the non-finite-loss check
}

TEST(ScheduleTest, LinearStepSizeDecayHandValues) {
  // 3e-3 decaying to 10 % over 100 updates: 3e-3 (1 - 0.9 n / 100).
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(3e-3, 0.1, 100, 0), 3e-3);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(3e-3, 0.1, 100, 50), 3e-3 * 0.55);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(3e-3, 0.1, 100, 100), 3e-3 * 0.1);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(3e-3, 0.1, 100, 1000), 3e-3 * 0.1);  // held after N
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(3e-3, 0.1, 0, 50), 3e-3);            // no schedule
}

TEST(AdamTest, HandValuesOfTwoSteps) {
  const AdamParams adam{.rate = 0.1, .beta1 = 0.9, .beta2 = 0.999, .epsilon = 1e-8};
  AdamState state;
  std::vector<double> params = {1.0, -2.0};
  // Step 1: bias correction makes m_hat = g and v_hat = g^2, so each parameter
  // moves by rate * g / (|g| + epsilon).
  AdamStep(adam, {0.5, -4.0}, &state, &params);
  EXPECT_EQ(state.steps, 1);
  EXPECT_DOUBLE_EQ(params[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8));
  EXPECT_DOUBLE_EQ(params[1], -2.0 + 0.1 * 4.0 / (4.0 + 1e-8));
  EXPECT_DOUBLE_EQ(state.m[1], -0.4);
  EXPECT_DOUBLE_EQ(state.v[1], 0.016);
  // Step 2, gradient {0.5, 0}: m = {0.095, -0.36}, v = {0.00049975, 0.015984},
  // corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999.
  const double p0 = params[0], p1 = params[1];
  AdamStep(adam, {0.5, 0.0}, &state, &params);
  EXPECT_NEAR(params[0], p0 - 0.1 * (0.095 / 0.19) / (std::sqrt(0.00049975 / 0.001999) + 1e-8),
              1e-15);
  EXPECT_NEAR(params[1], p1 + 0.1 * (0.36 / 0.19) / (std::sqrt(0.015984 / 0.001999) + 1e-8), 1e-15);
  // The second moment remembers the first step's large gradient, so the second
  // parameter keeps moving (by less) with a zero gradient: 0.0670...
  EXPECT_NEAR(params[1] - p1, 0.067005, 1e-6);
}

}  // namespace
}  // namespace smfg::rl
