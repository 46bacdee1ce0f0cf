#include "follower_workers/wire_convert.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "environment/population_evaluator.h"
#include "environment/test_scenario.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::workers {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

// Bitwise equality, so -0.0 != 0.0 and NaN payloads would be compared exactly.
bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

env::Tariff OddTariff() {
  env::Tariff t;
  t.import_rate_per_kwh = {std::vector<double>(24, 0.1), std::vector<double>(24, -0.0)};
  t.import_rate_per_kwh[0][3] = 0.1 + 1e-17;
  t.import_rate_per_kwh[1][5] = std::numeric_limits<double>::denorm_min();
  t.fixed_charge_per_day = {0.5, 1.0 / 3.0};
  t.export_rule = env::ExportRule::kFixed;
  t.fixed_export_credit_per_kwh = 0.07;
  t.daily_import_rate_per_kwh = {std::vector<double>(24, 0.2), std::vector<double>(24, 0.3)};
  t.daily_fixed_charge_per_day = {{1.5, 2.5}, {3.5, 4.5}};
  return t;
}

TEST(WireConvertTest, TariffRoundTripsBitExactly) {
  const env::Tariff t = OddTariff();
  auto back = TariffFromProto(TariffToProto(t));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->import_rate_per_kwh.size(), 2u);
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(SameBits(back->import_rate_per_kwh[r], t.import_rate_per_kwh[r]));
  }
  EXPECT_TRUE(std::signbit(back->import_rate_per_kwh[1][0]));
  EXPECT_TRUE(SameBits(back->fixed_charge_per_day, t.fixed_charge_per_day));
  EXPECT_EQ(back->export_rule, t.export_rule);
  EXPECT_EQ(back->fixed_export_credit_per_kwh, t.fixed_export_credit_per_kwh);
  EXPECT_EQ(back->daily_import_rate_per_kwh, t.daily_import_rate_per_kwh);
  EXPECT_EQ(back->daily_fixed_charge_per_day, t.daily_fixed_charge_per_day);
}

TEST(WireConvertTest, TariffRejectsGarbage) {
  v1::WireTariff bad = TariffToProto(OddTariff());
  bad.mutable_daily_import_rate_per_kwh(1)->set_values(4, std::nan(""));
  auto r = TariffFromProto(bad);
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("daily_import_rate_per_kwh[1][4]"), absl::string_view::npos)
      << r.status();
  v1::WireTariff bad_rule = TariffToProto(OddTariff());
  bad_rule.set_export_rule(static_cast<v1::ExportRule>(42));
  EXPECT_THAT(TariffFromProto(bad_rule).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WireConvertTest, BeliefRoundTripAndValidation) {
  env::PriceBelief b = env::PriceBelief::Constant(2, 3, 0.0);
  for (size_t i = 0; i < b.lmp_per_mwh.size(); ++i) b.lmp_per_mwh[i] = 30.0 + i / 7.0;
  auto back = BeliefFromProto(BeliefToProto(b));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->days, 2);
  EXPECT_EQ(back->buses, 3);
  EXPECT_TRUE(SameBits(back->lmp_per_mwh, b.lmp_per_mwh));

  v1::WirePriceBelief short_one = BeliefToProto(b);
  short_one.mutable_lmp_per_mwh()->RemoveLast();
  auto r = BeliefFromProto(short_one);
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("lmp_per_mwh"), absl::string_view::npos);
  v1::WirePriceBelief negative = BeliefToProto(b);
  negative.set_days(-1);
  EXPECT_THAT(BeliefFromProto(negative).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::WirePriceBelief huge = BeliefToProto(b);
  huge.set_days(2000000000);
  EXPECT_THAT(BeliefFromProto(huge).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::WirePriceBelief inf = BeliefToProto(b);
  inf.set_lmp_per_mwh(5, std::numeric_limits<double>::infinity());
  EXPECT_THAT(BeliefFromProto(inf).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

class StatsWireTest : public ::testing::Test {
 protected:
  StatsWireTest() : scenario_(env::MakeTestScenario(2, 2)), kernel_(scenario_) {
    const env::Tariff t = env::FlatTestTariff(scenario_, 0.15);
    const env::PriceBelief b = env::PriceBelief::Constant(
        scenario_.days, static_cast<int>(scenario_.network.buses.size()), 40.0);
    stats_ = kernel_.EvaluateShard(1, t, b);
    exploit_ = kernel_.ShardExploitability(
        1, t, b,
        env::PriceBelief::Constant(scenario_.days, static_cast<int>(scenario_.network.buses.size()),
                                   60.0));
  }
  env::Scenario scenario_;
  env::ShardKernel kernel_;
  env::PopulationStats stats_;
  env::ExploitabilityStats exploit_;
};

TEST_F(StatsWireTest, PopulationStatsRoundTripBitExactly) {
  const StatsShape shape = StatsShape::Of(scenario_);
  auto back = StatsFromProto(StatsToProto(stats_), &shape);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->days, stats_.days);
  EXPECT_EQ(back->buses, stats_.buses);
  EXPECT_EQ(back->groups, stats_.groups);
  EXPECT_EQ(back->classes, stats_.classes);
  EXPECT_TRUE(SameBits(back->net_load_kw, stats_.net_load_kw));
  EXPECT_TRUE(SameBits(back->group_wear_usd, stats_.group_wear_usd));
  EXPECT_TRUE(SameBits(back->group_import_kwh, stats_.group_import_kwh));
  EXPECT_TRUE(SameBits(back->group_export_kwh, stats_.group_export_kwh));
  EXPECT_TRUE(SameBits(back->group_bill_by_day, stats_.group_bill_by_day));
  EXPECT_TRUE(SameBits(back->group_households, stats_.group_households));
  EXPECT_TRUE(SameBits(back->group_annual_income_usd, stats_.group_annual_income_usd));
  EXPECT_TRUE(SameBits(back->import_kwh_bus_hour, stats_.import_kwh_bus_hour));
  EXPECT_TRUE(SameBits(back->export_kwh_bus_hour, stats_.export_kwh_bus_hour));
  EXPECT_TRUE(SameBits(back->behaviour, stats_.behaviour));
  EXPECT_TRUE(SameBits(back->class_der_household_days, stats_.class_der_household_days));
  EXPECT_EQ(back->household_days, stats_.household_days);
  EXPECT_EQ(back->battery_household_days, stats_.battery_household_days);
  EXPECT_EQ(back->policy_iterations, stats_.policy_iterations);
  EXPECT_EQ(back->unconverged_household_days, stats_.unconverged_household_days);
  EXPECT_EQ(back->nonunique_distribution_household_days,
            stats_.nonunique_distribution_household_days);
}

TEST_F(StatsWireTest, PopulationStatsRejectGarbage) {
  const StatsShape shape = StatsShape::Of(scenario_);
  auto code_and_message = [&](const v1::WirePopulationStats& p) {
    auto r = StatsFromProto(p, &shape);
    return std::make_pair(r.status().code(), std::string(r.status().message()));
  };
  v1::WirePopulationStats p = StatsToProto(stats_);
  p.mutable_behaviour()->RemoveLast();
  auto [code, message] = code_and_message(p);
  EXPECT_EQ(code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(message.rfind("behaviour:", 0), 0u) << message;

  p = StatsToProto(stats_);
  p.set_days(p.days() + 1);
  EXPECT_EQ(code_and_message(p).first, absl::StatusCode::kInvalidArgument);
  // Without an expected shape the sizes still have to agree with the dims.
  EXPECT_THAT(StatsFromProto(p).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  p = StatsToProto(stats_);
  p.set_group_bill_by_day(0, std::nan(""));
  std::tie(code, message) = code_and_message(p);
  EXPECT_EQ(code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(message.rfind("group_bill_by_day[0]", 0), 0u) << message;

  p = StatsToProto(stats_);
  p.set_household_days(-3);
  EXPECT_EQ(code_and_message(p).first, absl::StatusCode::kInvalidArgument);

  p = StatsToProto(stats_);
  p.set_classes(-1);
  EXPECT_THAT(StatsFromProto(p).status(), StatusIs(absl::StatusCode::kInvalidArgument));

  EXPECT_THAT(StatsFromProto(v1::WirePopulationStats(), &shape).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(StatsWireTest, ExploitabilityRoundTripAndValidation) {
  auto back = ExploitabilityFromProto(ExploitabilityToProto(exploit_));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->household_days, exploit_.household_days);
  EXPECT_EQ(back->sum_regularised, exploit_.sum_regularised);
  EXPECT_EQ(back->max_regularised, exploit_.max_regularised);
  EXPECT_EQ(back->sum_plain, exploit_.sum_plain);
  EXPECT_EQ(back->max_plain, exploit_.max_plain);
  v1::WireExploitabilityStats bad = ExploitabilityToProto(exploit_);
  bad.set_max_plain(std::numeric_limits<double>::infinity());
  EXPECT_THAT(ExploitabilityFromProto(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = ExploitabilityToProto(exploit_);
  bad.set_household_days(-1);
  EXPECT_THAT(ExploitabilityFromProto(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WireConvertTest, PolicyAndGradientRoundTripBitExactlyAndRejectGarbage) {
  const followers::PolicyVersion policy{.version = 12,
                                        .values = std::make_shared<const std::vector<double>>(
                                            std::vector<double>{-0.0, 1e-300, -3.5, 7.0})};
  auto back = PolicyFromProto(PolicyToProto(policy), 4);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 12u);
  EXPECT_EQ(std::memcmp(back->values->data(), policy.values->data(), 4 * sizeof(double)), 0);
  EXPECT_THAT(
      PolicyFromProto(PolicyToProto(policy), 5).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("values: has 4 values, expected 5")));
  v1::FollowerPolicyParameters nan = PolicyToProto(policy);
  nan.set_values(2, std::nan(""));
  EXPECT_THAT(PolicyFromProto(nan, 4).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("values[2]")));

  followers::ShardGradient g;
  g.policy_version = 3;
  g.gradient = {0.25, -0.0, 1e-310};
  g.steps = 96;
  g.policy_loss_sum = -1.5;
  g.value_loss_sum = 2.25;
  g.approx_kl_sum = 0.125;
  g.clipped_steps = 4;
  g.mean_daily_reward_usd = -1.75;
  g.mean_entropy = 0.5;
  auto gb = GradientFromProto(GradientToProto(g), 3);
  ASSERT_TRUE(gb.ok()) << gb.status();
  EXPECT_EQ(std::memcmp(gb->gradient.data(), g.gradient.data(), 3 * sizeof(double)), 0);
  EXPECT_EQ(gb->policy_version, 3u);
  EXPECT_EQ(gb->steps, 96);
  EXPECT_EQ(gb->clipped_steps, 4);
  EXPECT_EQ(gb->policy_loss_sum, -1.5);
  EXPECT_EQ(gb->value_loss_sum, 2.25);
  EXPECT_EQ(gb->approx_kl_sum, 0.125);
  EXPECT_EQ(gb->mean_daily_reward_usd, -1.75);
  EXPECT_EQ(gb->mean_entropy, 0.5);
  v1::WireShardGradient bad = GradientToProto(g);
  bad.set_steps(-1);
  EXPECT_THAT(GradientFromProto(bad, 3).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steps")));
  bad = GradientToProto(g);
  bad.set_clipped_steps(97);
  EXPECT_THAT(GradientFromProto(bad, 3).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clipped_steps")));
  bad = GradientToProto(g);
  bad.set_approx_kl_sum(std::numeric_limits<double>::infinity());
  EXPECT_THAT(GradientFromProto(bad, 3).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("approx_kl_sum")));
  EXPECT_THAT(GradientFromProto(GradientToProto(g), 2).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gradient: has 3")));
}

TEST(WireConvertTest, CheckKernelInputsChecksOnlyWhatTheKernelReads) {
  const env::Scenario sc = env::MakeTestScenario(1, 2);
  const StatsShape shape = StatsShape::Of(sc);
  const env::Tariff flat = env::FlatTestTariff(sc, 0.1);
  const env::PriceBelief belief = env::PriceBelief::Constant(shape.days, shape.buses, 30.0);
  EXPECT_TRUE(CheckKernelInputs(flat, belief, shape).ok());

  env::Tariff per_bus = flat;
  per_bus.import_rate_per_kwh.assign(shape.buses, std::vector<double>(24, 0.2));
  EXPECT_TRUE(CheckKernelInputs(per_bus, belief, shape).ok());
  per_bus.import_rate_per_kwh.pop_back();
  EXPECT_THAT(CheckKernelInputs(per_bus, belief, shape),
              StatusIs(absl::StatusCode::kInvalidArgument));

  env::Tariff daily = flat;
  daily.import_rate_per_kwh.clear();  // replaced by the daily rates
  daily.daily_import_rate_per_kwh.assign(shape.days, std::vector<double>(24, 0.3));
  EXPECT_TRUE(CheckKernelInputs(daily, belief, shape).ok());
  daily.daily_import_rate_per_kwh[1].push_back(0.3);
  EXPECT_THAT(CheckKernelInputs(daily, belief, shape),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // Negative rates are env::ValidateTariff's concern, not the kernel's.
  env::Tariff negative = flat;
  negative.import_rate_per_kwh[0][0] = -0.05;
  EXPECT_TRUE(CheckKernelInputs(negative, belief, shape).ok());

  const env::PriceBelief wrong = env::PriceBelief::Constant(shape.days + 1, shape.buses, 30.0);
  EXPECT_THAT(CheckKernelInputs(flat, wrong, shape), StatusIs(absl::StatusCode::kInvalidArgument));
  // Net metering never reads the belief.
  env::Tariff metering = flat;
  metering.export_rule = env::ExportRule::kNetMetering;
  EXPECT_TRUE(CheckKernelInputs(metering, env::PriceBelief{}, shape).ok());
}

TEST(WireConvertTest, ScenarioFingerprintIsStableAndSensitive) {
  const v1::Scenario a = config::FromScenario(env::MakeTestScenario(2, 2)).scenario();
  const v1::Scenario b = config::FromScenario(env::MakeTestScenario(2, 2)).scenario();
  EXPECT_EQ(ScenarioFingerprint(a), ScenarioFingerprint(b));
  v1::Scenario c = a;
  c.set_seed(c.seed() + 1);
  EXPECT_NE(ScenarioFingerprint(a), ScenarioFingerprint(c));
}

}  // namespace
}  // namespace smfg::workers
