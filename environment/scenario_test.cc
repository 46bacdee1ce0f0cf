#include "environment/scenario.h"

#include "environment/test_scenario.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

// On the default SoC grid (11 levels) a 5 kW battery can charge one step only
// up to 47.5 kWh (4.75 kWh / 0.95 = 5 kW); a larger one would sit empty.
TEST(ScenarioTest, BatteryThatCanNeverChargeIsRejected) {
  Scenario s = MakeTestScenario(4, 1);
  ASSERT_TRUE(ValidateScenario(s).ok());
  s.classes[2].battery_kwh = {Distribution::Kind::kUniform, 9.3, 60.0, 0, 1e9};
  const absl::Status status = ValidateScenario(s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message().substr(0, 29), "classes[2].battery_kwh: a bat") << status;
  EXPECT_NE(status.message().find("follower.soc_levels"), absl::string_view::npos) << status;
  // Exactly at the limit is allowed; a finer grid makes 60 kWh fine too.
  s.classes[2].battery_kwh = {Distribution::Kind::kUniform, 9.3, 47.5, 0, 1e9};
  EXPECT_TRUE(ValidateScenario(s).ok()) << ValidateScenario(s);
  s.classes[2].battery_kwh = {Distribution::Kind::kUniform, 9.3, 60.0, 0, 1e9};
  s.follower.soc_levels = 21;
  EXPECT_TRUE(ValidateScenario(s).ok()) << ValidateScenario(s);
  // S = 2 with 13.5 kWh at 5 kW: one step is the whole battery.
  s = MakeTestScenario(4, 1);
  s.follower.soc_levels = 2;
  s.follower.max_soc_steps_per_hour = 1;
  EXPECT_EQ(ValidateScenario(s).message().substr(0, 22), "classes[1].battery_kwh");
  // A class without batteries is not checked.
  for (HouseholdClass& c : s.classes) {
    c.der_share[2] = 0;
    c.der_share[0] = 1 - c.der_share[1];
  }
  EXPECT_TRUE(ValidateScenario(s).ok()) << ValidateScenario(s);
}

}  // namespace
}  // namespace smfg::env
