#include "environment/lanes.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "common/rng.h"
#include "gtest/gtest.h"

// 8-lane vectors are passed by value here (lanes.h explains why that is moot).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace smfg::env::lanes {
namespace {

// The kernel calls Exp on [-40, 0] and (clamped) down to -700, Log on
// (0, 2001]; both within 1e-15 relative of libm (about 4 ulps).
TEST(LanesTest, ExpAndLogMatchLibm) {
  CounterRng rng(3, RngPurpose::kTest, 0);
  double worst_exp = 0, worst_log = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = i % 2 ? rng.Uniform(-40, 0) : rng.Uniform(-700, 700);
    Vec<1>::D v = {x};
    const double e = Exp<1>(v)[0];
    worst_exp = std::max(worst_exp, std::fabs(e - std::exp(x)) / std::exp(x));
    const double z = i % 3 ? rng.Uniform(1, 2001) : std::exp(rng.Uniform(-700, 700));
    Vec<1>::D w = {z};
    const double l = Log<1>(w)[0];
    const double want = std::log(z);
    worst_log = std::max(worst_log, std::fabs(l - want) / std::max(std::fabs(want), 1e-300));
  }
  EXPECT_LT(worst_exp, 1e-15);
  EXPECT_LT(worst_log, 1e-15);
  Vec<1>::D one = {1.0};
  EXPECT_EQ(Log<1>(one)[0], 0.0);
  Vec<1>::D zero = {0.0};
  EXPECT_EQ(Exp<1>(zero)[0], 1.0);
}

// Lane-wise: an 8-lane call gives each lane the bits of a 1-lane call.
TEST(LanesTest, LanesAreIndependentOfWidth) {
  CounterRng rng(4, RngPurpose::kTest, 0);
  for (int i = 0; i < 1000; ++i) {
    Vec<8>::D x, z;
    for (int l = 0; l < 8; ++l) {
      x[l] = rng.Uniform(-50, 1);
      z[l] = rng.Uniform(0.5, 50);
    }
    const Vec<8>::D e = Exp<8>(x), g = Log<8>(z);
    for (int l = 0; l < 8; ++l) {
      Vec<1>::D x1 = {x[l]}, z1 = {z[l]};
      const double e1 = Exp<1>(x1)[0], g1 = Log<1>(z1)[0];
      EXPECT_EQ(std::memcmp(&e1, &e[l], sizeof(double)), 0);
      EXPECT_EQ(std::memcmp(&g1, &g[l], sizeof(double)), 0);
    }
  }
  Vec<4>::I m = {0, -1, 0, 0};
  EXPECT_TRUE(AnySet<4>(m));
  EXPECT_FALSE(AllSet<4>(m));
  m = Vec<4>::I{-1, -1, -1, -1};
  EXPECT_TRUE(AllSet<4>(m));
}

}  // namespace
}  // namespace smfg::env::lanes
