// GoogleTest matchers for absl::Status and absl::StatusOr<T> (Debian's Abseil
// 20220623 ships none):
//   EXPECT_THAT(store.Get("x"), IsOk());
//   EXPECT_THAT(Load(path), StatusIs(absl::StatusCode::kDataLoss));
//   EXPECT_THAT(Submit(spec), StatusIs(absl::StatusCode::kInvalidArgument,
//                                      HasSubstr("scenario.days")));
//   EXPECT_THAT(stub->Get(&context, request, &response),   // grpc::Status too
//               StatusIs(absl::StatusCode::kNotFound));
// A failure prints the whole status.
#ifndef SMFG_COMMON_STATUS_MATCHERS_H_
#define SMFG_COMMON_STATUS_MATCHERS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace smfg::testing_util {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}
// grpc::Status (anything with error_code() and error_message()), mapped as
// smfg::FromGrpcStatus does, without this header depending on gRPC.
template <typename GrpcStatus, typename = decltype(std::declval<const GrpcStatus&>().error_code())>
absl::Status GetStatus(const GrpcStatus& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace internal

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = internal::GetStatus(arg);
  if (!status.ok()) *result_listener << "which is " << status;
  return status.ok();
}

// An OK StatusOr whose value matches `value_matcher`.
MATCHER_P(
    IsOkAndHolds, value_matcher,
    std::string(negation ? "is not OK or holds a value that " : "is OK and holds a value that ") +
        ::testing::DescribeMatcher<
            typename std::remove_cv_t<std::remove_reference_t<arg_type>>::value_type>(value_matcher,
                                                                                      negation)) {
  if (!arg.ok()) {
    *result_listener << "which is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

MATCHER_P(StatusIs, code,
          std::string(negation ? "does not have" : "has") + " code " +
              absl::StatusCodeToString(code)) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "which is " << (status.ok() ? std::string("OK") : status.ToString());
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "does not have" : "has") + " code " +
               absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher, negation)) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "which is " << (status.ok() ? std::string("OK") : status.ToString());
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace smfg::testing_util

#endif  // SMFG_COMMON_STATUS_MATCHERS_H_
