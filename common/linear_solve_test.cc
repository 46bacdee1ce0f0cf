#include "common/linear_solve.h"

#include "gtest/gtest.h"

namespace smfg {
namespace {

TEST(SolveLinearSystemTest, HandComputed) {
  // 2x + y = 5, x + 3y = 10  ->  x = 1, y = 3.
  double a[4] = {2, 1, 1, 3};
  double b[2] = {5, 10};
  ASSERT_TRUE(SolveLinearSystem(2, a, b));
  EXPECT_NEAR(b[0], 1.0, 1e-14);
  EXPECT_NEAR(b[1], 3.0, 1e-14);
  double singular[4] = {1, 2, 2, 4};
  double rhs[2] = {1, 2};
  EXPECT_FALSE(SolveLinearSystem(2, singular, rhs));
}

TEST(SolveLinearSystemTest, NeedsPivoting) {
  // A zero on the diagonal: x2 = 1, x1 + x2 = 3  ->  x1 = 2, x2 = 1.
  double a[4] = {0, 1, 1, 1};
  double b[2] = {1, 3};
  ASSERT_TRUE(SolveLinearSystem(2, a, b));
  EXPECT_DOUBLE_EQ(b[0], 2.0);
  EXPECT_DOUBLE_EQ(b[1], 1.0);
}

}  // namespace
}  // namespace smfg
