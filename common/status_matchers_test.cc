#include "common/status_matchers.h"

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatusMatchersTest, MatchStatusAndStatusOr) {
  const absl::Status bad = absl::InvalidArgumentError("scenario.days: must be >= 1");
  const absl::StatusOr<int> bad_or = bad;
  const absl::StatusOr<int> good = 3;
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(good, IsOk());
  EXPECT_THAT(bad, Not(IsOk()));
  EXPECT_THAT(bad_or, Not(IsOk()));
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad_or, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scenario.days")));
  EXPECT_THAT(bad, Not(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(bad, Not(StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tariff"))));
  EXPECT_THAT(good, Not(StatusIs(absl::StatusCode::kInvalidArgument)));
  EXPECT_THAT(good, StatusIs(absl::StatusCode::kOk));
}

TEST(StatusMatchersTest, ExplainsAFailureWithTheStatus) {
  const absl::Status bad = absl::DataLossError("checkpoint: truncated");
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(::testing::ExplainMatchResult(IsOk(), bad, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("DATA_LOSS: checkpoint: truncated"));
  EXPECT_EQ(::testing::DescribeMatcher<absl::Status>(
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("x"))),
            "has code NOT_FOUND and a message that has substring \"x\"");
}

}  // namespace
}  // namespace smfg
