// Reference values for leader/ppo_math.h, computed by hand.
#include "leader/ppo_math.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"

namespace smfg::leader {
namespace {

constexpr double kTol = 1e-12;

TEST(SquashTest, HandValuesAndRange) {
  EXPECT_EQ(SquashToRange(0.0, 2.0, 6.0), 4.0);
  // tanh(atanh(0.5)) = 0.5: 2 + 4 * 1.5 / 2 = 5.
  EXPECT_NEAR(SquashToRange(std::atanh(0.5), 2.0, 6.0), 5.0, kTol);
  for (double u = -40.0; u <= 40.0; u += 0.25) {
    const double a = SquashToRange(u, -1.0, 3.0);
    EXPECT_GE(a, -1.0) << u;
    EXPECT_LE(a, 3.0) << u;
  }
  EXPECT_LT(SquashToRange(-1.0, 0.0, 1.0), SquashToRange(1.0, 0.0, 1.0));
}

TEST(SquashTest, RoundTrip) {
  for (double u = -5.0; u <= 5.0; u += 0.125) {
    EXPECT_NEAR(UnsquashFromRange(SquashToRange(u, 0.05, 0.4), 0.05, 0.4), u, 1e-9) << u;
  }
  for (double a = 0.0; a <= 1.0; a += 1.0 / 64) {
    EXPECT_NEAR(SquashToRange(UnsquashFromRange(a, 0.0, 1.0), 0.0, 1.0), a, 1e-14) << a;
  }
  // The bounds map to large finite values, not infinities.
  EXPECT_TRUE(std::isfinite(UnsquashFromRange(0.0, 0.0, 1.0)));
  EXPECT_TRUE(std::isfinite(UnsquashFromRange(1.0, 0.0, 1.0)));
  EXPECT_LT(UnsquashFromRange(0.0, 0.0, 1.0), -15.0);
  EXPECT_GT(UnsquashFromRange(1.0, 0.0, 1.0), 15.0);
}

TEST(ClipTest, HandValuesBoundsAndMidpoint) {
  EXPECT_EQ(ClipToRange(0.0, 2.0, 6.0), 4.0);
  EXPECT_EQ(ClipToRange(0.5, 2.0, 6.0), 5.0);
  EXPECT_EQ(ClipToRange(-0.5, 2.0, 6.0), 3.0);
  // Any raw action at or beyond +-1 is exactly a bound.
  EXPECT_EQ(ClipToRange(1.0, 2.0, 6.0), 6.0);
  EXPECT_EQ(ClipToRange(7.3, 2.0, 6.0), 6.0);
  EXPECT_EQ(ClipToRange(-1.0, 2.0, 6.0), 2.0);
  EXPECT_EQ(ClipToRange(-1e300, 2.0, 6.0), 2.0);
}

TEST(ActionStdCapTest, GeometricScheduleHandValues) {
  // 0.4 to 0.05 over 30 updates: halves every 10.
  EXPECT_DOUBLE_EQ(ActionStdCap(0.4, 0.05, 30, 0), 0.4);
  EXPECT_NEAR(ActionStdCap(0.4, 0.05, 30, 10), 0.2, 1e-15);
  EXPECT_NEAR(ActionStdCap(0.4, 0.05, 30, 20), 0.1, 1e-15);
  EXPECT_NEAR(ActionStdCap(0.4, 0.05, 30, 30), 0.05, 1e-15);
  EXPECT_NEAR(ActionStdCap(0.4, 0.05, 30, 31), 0.05, 1e-15);
  EXPECT_TRUE(std::isinf(ActionStdCap(0.4, 0.0, 30, 5)));  // no cap
  EXPECT_TRUE(std::isinf(ActionStdCap(0.4, 0.05, 0, 5)));  // no schedule
}

}  // namespace
}  // namespace smfg::leader
