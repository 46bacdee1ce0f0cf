#include "common/token.h"

#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

TEST(TokenTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(TokenTest, LoadsFromFileThenEnvironment) {
  const std::string path = testing::TempDir() + "/token_test_token";
  {
    std::ofstream out(path);
    out << "  abc123\n";
  }
  setenv("SMFG_TOKEN_TEST_VAR", "fromenv", 1);
  absl::StatusOr<std::string> t = LoadToken(path, "SMFG_TOKEN_TEST_VAR");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "abc123");
  t = LoadToken("", "SMFG_TOKEN_TEST_VAR");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "fromenv");
  unsetenv("SMFG_TOKEN_TEST_VAR");
  t = LoadToken("", "SMFG_TOKEN_TEST_VAR");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "");
  EXPECT_THAT(LoadToken(path + ".missing", "SMFG_TOKEN_TEST_VAR"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(".missing")));
  {
    std::ofstream out(path);
    out << "a b\n";
  }
  EXPECT_THAT(LoadToken(path, nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace smfg
