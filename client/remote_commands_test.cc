#include "client/remote_commands.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::client {
namespace {

using ::testing::HasSubstr;

TEST(RemoteCommandsTest, OptionsAreValidated) {
  SubmitOptions submit;
  submit.spec_path = "configs/three_bus_small.textproto";
  EXPECT_THAT(submit.Validate().message(), HasSubstr("--coordinator"));
  submit.remote.coordinator = "127.0.0.1:1";
  EXPECT_TRUE(submit.Validate().ok());
  submit.remote.rpc_timeout = absl::ZeroDuration();
  EXPECT_THAT(submit.Validate().message(), HasSubstr("--rpc_timeout"));

  ExperimentIdOptions id;
  id.remote.coordinator = "localhost:1";
  EXPECT_THAT(id.Validate().message(), HasSubstr("ID"));

  ListOptions list;
  list.remote.coordinator = "localhost:1";
  list.status = "RUNNING";
  EXPECT_TRUE(list.Validate().ok());
  list.status = "SLEEPING";
  EXPECT_THAT(list.Validate().message(), HasSubstr("--status"));

  ResultsOptions results;
  results.remote.coordinator = "localhost:1";
  results.id = "exp-000001";
  EXPECT_THAT(results.Validate().message(), HasSubstr("--out"));
}

TEST(RemoteCommandsTest, UnreachableCoordinatorIsUnavailableWithinTheDeadline) {
  ExperimentIdOptions o;
  // A Unix socket that does not exist: nothing can be listening there.
  o.remote.coordinator = "unix:" + testing::TempDir() + "/smfg-no-such-socket";
  o.remote.rpc_timeout = absl::Seconds(2);
  o.id = "exp-000001";
  std::ostringstream out;
  const absl::Status s = RunGet(o, out);
  EXPECT_TRUE(absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) << s;
}

TEST(RemoteCommandsTest, FormatExperiment) {
  v1::Experiment e;
  e.set_id("exp-000007");
  e.set_name("three_bus");
  e.set_status(v1::FAILED);
  e.set_outer_iteration(4);
  e.set_message("boom");
  EXPECT_EQ(FormatExperiment(e),
            "exp-000007  FAILED               iteration   4  three_bus  (boom)");
}

}  // namespace
}  // namespace smfg::client
