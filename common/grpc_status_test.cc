#include "common/grpc_status.h"

#include "common/status_matchers.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

TEST(GrpcStatusTest, EveryCodeAndTheMessageRoundTrip) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status in(static_cast<absl::StatusCode>(code), code == 0 ? "" : "field.path: bad");
    const grpc::Status g = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), std::string(in.message()));
    EXPECT_EQ(FromGrpcStatus(g), in);
  }
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("exp-1")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token")),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

}  // namespace
}  // namespace smfg
