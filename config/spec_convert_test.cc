#include "config/spec_convert.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/status_matchers.h"
#include "config/spec_loader.h"
#include "environment/network.h"
#include "environment/scenario.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// The message of `status`, as a std::string for gMock's string matchers.
std::string Msg(const absl::Status& status) { return std::string(status.message()); }

v1::ExperimentSpec ParseText(const std::string& text) {
  v1::ExperimentSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

// The smallest valid spec: everything else takes its default.
constexpr char kMinimal[] = R"pb(
  name: "minimal"
  scenario {
    network {
      buses { name: "a" }
      buses { name: "b" }
      lines { from_bus: 0 to_bus: 1 }
      generators { bus: 0 pmax_mw: 100 cost_linear: 30 }
    }
    exogenous_mean_mw: [ 1, 2 ]
    income_groups: [ "all" ]
    classes {
      income_group: "all"
      households_per_bus: [ 10 ]
      annual_income_usd { a: 50000 }
      daily_demand_kwh { a: 25 }
    }
  }
)pb";

TEST(SpecConvertTest, ThreeBusValuesLandInTheScenario) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const env::Scenario& s = loaded->scenario;
  EXPECT_EQ(s.name, "three_bus");
  const env::Network& n = s.network;
  EXPECT_EQ(n.base_mva, 100);
  EXPECT_EQ(n.value_of_lost_load_per_mwh, 10000);
  ASSERT_EQ(n.buses.size(), 3u);
  EXPECT_EQ(n.buses[2].name, "bus3");
  ASSERT_EQ(n.lines.size(), 3u);
  EXPECT_EQ(n.lines[0].limit_mw, 40);
  EXPECT_EQ(n.lines[1].limit_mw, 40);
  EXPECT_EQ(n.lines[2].limit_mw, 25);
  EXPECT_EQ(n.lines[2].from_bus, 0);
  EXPECT_EQ(n.lines[2].to_bus, 2);
  for (const env::Line& line : n.lines) EXPECT_EQ(line.reactance_pu, 0.1);
  ASSERT_EQ(n.generators.size(), 4u);
  EXPECT_EQ(n.generators[0].pmax_mw, 50);
  EXPECT_EQ(n.generators[0].cost_quadratic, 0.05);
  EXPECT_EQ(n.generators[0].cost_linear, 18);
  EXPECT_EQ(n.generators[1].bus, 1);
  EXPECT_EQ(n.generators[1].cost_quadratic, 0.2);
  EXPECT_EQ(n.generators[1].cost_linear, 20);
  EXPECT_EQ(n.generators[2].bus, 2);
  EXPECT_EQ(n.generators[2].pmax_mw, 30);
  EXPECT_EQ(n.generators[2].cost_quadratic, 1.0);
  EXPECT_EQ(n.generators[2].cost_linear, 25);
  const env::Generator& solar = n.generators[3];
  EXPECT_TRUE(solar.renewable);
  EXPECT_FALSE(n.generators[0].renewable);
  EXPECT_EQ(solar.cost_linear, 0);
  EXPECT_EQ(solar.pmax_mw, 20);
  ASSERT_EQ(solar.hourly_availability.size(), 24u);
  EXPECT_EQ(solar.hourly_availability[0], 0);
  EXPECT_EQ(solar.hourly_availability[13], 0.9);
  EXPECT_EQ(solar.hourly_availability[23], 0);

  EXPECT_THAT(s.exogenous_mean_mw, ElementsAre(10, 12, 22));
  EXPECT_THAT(s.income_groups, ElementsAre("very_low", "low", "middle", "high"));
  ASSERT_EQ(s.classes.size(), 4u);
  const env::HouseholdClass& very_low = s.classes[0];
  EXPECT_EQ(very_low.income_group, 0);
  EXPECT_THAT(very_low.households_per_bus, ElementsAre(3000, 3000, 3000));
  EXPECT_EQ(very_low.annual_income_usd.kind, env::Distribution::Kind::kLogNormal);
  EXPECT_EQ(very_low.annual_income_usd.a, 15000);
  EXPECT_EQ(very_low.annual_income_usd.b, 5000);
  EXPECT_EQ(very_low.annual_income_usd.min_value, 4000);
  EXPECT_EQ(very_low.daily_demand_kwh.kind, env::Distribution::Kind::kNormal);
  EXPECT_EQ(very_low.daily_demand_kwh.a, 20);
  EXPECT_EQ(very_low.daily_demand_kwh.min_value, 5);
  EXPECT_EQ(very_low.der_share[0], 1.0);
  const env::HouseholdClass& low = s.classes[1];
  EXPECT_EQ(low.income_group, 1);
  EXPECT_THAT(low.households_per_bus, ElementsAre(2000, 2000, 2000));
  EXPECT_EQ(low.der_share[static_cast<int>(env::DerType::kConsumer)], 0.85);
  EXPECT_EQ(low.der_share[static_cast<int>(env::DerType::kSolar)], 0.12);
  EXPECT_EQ(low.der_share[static_cast<int>(env::DerType::kSolarBattery)], 0.03);
  EXPECT_EQ(low.pv_kw.kind, env::Distribution::Kind::kNormal);
  EXPECT_EQ(low.pv_kw.a, 6.5);
  EXPECT_EQ(low.pv_kw.b, 1.5);
  EXPECT_EQ(low.pv_kw.min_value, 2);
  EXPECT_EQ(low.pv_kw.max_value, 12);
  EXPECT_EQ(low.battery_kwh.kind, env::Distribution::Kind::kUniform);
  EXPECT_EQ(low.battery_kwh.a, 9.3);
  EXPECT_EQ(low.battery_kwh.b, 13.5);
  EXPECT_EQ(low.battery_kw.kind, env::Distribution::Kind::kConstant);
  EXPECT_EQ(low.battery_kw.a, 5);
  EXPECT_EQ(low.charge_efficiency.a, 0.95);
  EXPECT_EQ(low.discharge_efficiency.a, 0.95);
  EXPECT_EQ(s.classes[3].der_share[static_cast<int>(env::DerType::kSolarBattery)], 0.20);
  EXPECT_EQ(s.classes[3].annual_income_usd.a, 150000);
  EXPECT_EQ(s.days, 100);
  EXPECT_EQ(s.seed, 20251u);
  EXPECT_EQ(s.shards, 16);
  EXPECT_EQ(s.households_represented, 1);
  EXPECT_TRUE(loaded->matpower_path.empty());
}

TEST(SpecConvertTest, SmallAndNoRenewableVariants) {
  absl::StatusOr<LoadedSpec> full = LoadExperimentFile("configs/three_bus.textproto");
  absl::StatusOr<LoadedSpec> small = LoadExperimentFile("configs/three_bus_small.textproto");
  absl::StatusOr<LoadedSpec> none = LoadExperimentFile("configs/three_bus_no_renewables.textproto");
  ASSERT_TRUE(full.ok() && small.ok() && none.ok());
  EXPECT_EQ(small->scenario.days, 10);
  for (size_t c = 0; c < 4; ++c) {
    for (size_t b = 0; b < 3; ++b) {
      EXPECT_EQ(small->scenario.classes[c].households_per_bus[b] * 50,
                full->scenario.classes[c].households_per_bus[b]);
    }
  }
  EXPECT_EQ(small->scenario.households_represented, 50);
  ASSERT_EQ(none->scenario.network.generators.size(), 3u);
  for (const env::Generator& g : none->scenario.network.generators) {
    EXPECT_FALSE(g.renewable);
  }
}

TEST(SpecConvertTest, AbsentFieldsTakeTheEnvDefaults) {
  absl::StatusOr<ConvertedScenario> converted = ConvertScenario(ParseText(kMinimal), "");
  ASSERT_TRUE(converted.ok()) << converted.status();
  const env::Scenario& s = converted->scenario;
  EXPECT_TRUE(env::ValidateScenario(s).ok()) << env::ValidateScenario(s);
  const env::Scenario defaults;
  EXPECT_EQ(s.name, "minimal");  // from ExperimentSpec.name
  EXPECT_EQ(s.network.base_mva, env::Network{}.base_mva);
  EXPECT_EQ(s.network.value_of_lost_load_per_mwh, env::Network{}.value_of_lost_load_per_mwh);
  EXPECT_EQ(s.network.lines[0].reactance_pu, env::Line{}.reactance_pu);
  EXPECT_EQ(s.network.lines[0].limit_mw, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(s.network.generators[0].hourly_availability.empty());
  // A single households_per_bus entry applies to every bus.
  EXPECT_THAT(s.classes[0].households_per_bus, ElementsAre(10, 10));
  EXPECT_EQ(s.classes[0].annual_income_usd.kind, env::Distribution::Kind::kConstant);
  EXPECT_EQ(s.classes[0].annual_income_usd.max_value, env::Distribution{}.max_value);
  EXPECT_EQ(s.classes[0].der_share[0], 1.0);
  EXPECT_EQ(s.classes[0].der_share[2], 0.0);
  EXPECT_EQ(s.households_represented, defaults.households_represented);
  EXPECT_EQ(s.days, defaults.days);
  EXPECT_EQ(s.first_day_of_year, defaults.first_day_of_year);
  EXPECT_EQ(s.seed, defaults.seed);
  EXPECT_EQ(s.shards, defaults.shards);
  EXPECT_EQ(s.utility_fixed_cost_per_day, defaults.utility_fixed_cost_per_day);
  EXPECT_THAT(s.profiles.demand_shape, ElementsAreArray(kDefaultResidentialShape));
  EXPECT_THAT(s.profiles.exogenous_shape, ElementsAreArray(kDefaultCommercialShape));
  EXPECT_EQ(s.profiles.sunrise_hour, defaults.profiles.sunrise_hour);
  EXPECT_EQ(s.profiles.sunset_hour, defaults.profiles.sunset_hour);
  EXPECT_EQ(s.profiles.pv_system_efficiency, defaults.profiles.pv_system_efficiency);
  EXPECT_EQ(s.profiles.min_clearness, defaults.profiles.min_clearness);
  EXPECT_EQ(s.profiles.household_demand_noise, defaults.profiles.household_demand_noise);
  EXPECT_EQ(s.follower.temperature_usd, defaults.follower.temperature_usd);
  EXPECT_EQ(s.follower.discount_per_hour, defaults.follower.discount_per_hour);
  EXPECT_EQ(s.follower.soc_levels, defaults.follower.soc_levels);
  EXPECT_EQ(s.follower.max_soc_steps_per_hour, defaults.follower.max_soc_steps_per_hour);
  EXPECT_EQ(s.follower.battery_wear_usd_per_kwh, defaults.follower.battery_wear_usd_per_kwh);
  EXPECT_EQ(s.inner.damping, defaults.inner.damping);
  EXPECT_EQ(s.inner.tolerance_per_mwh, defaults.inner.tolerance_per_mwh);
  EXPECT_EQ(s.inner.max_iterations, defaults.inner.max_iterations);
}

TEST(SpecConvertTest, DefaultShapesAreResidentialAndCommercial) {
  double residential = 0, commercial = 0;
  for (int h = 0; h < env::kHoursPerDay; ++h) {
    residential += kDefaultResidentialShape[h];
    commercial += kDefaultCommercialShape[h];
  }
  EXPECT_NEAR(residential / 24, 1.0, 1e-9);
  EXPECT_NEAR(commercial / 24, 1.0, 1e-9);
  // Residential: evening peak above the morning shoulder, trough before dawn.
  EXPECT_GT(kDefaultResidentialShape[19], kDefaultResidentialShape[7]);
  EXPECT_GT(kDefaultResidentialShape[7], kDefaultResidentialShape[3]);
  EXPECT_GT(kDefaultResidentialShape[7], kDefaultResidentialShape[11]);
  // Commercial: daytime plateau.
  EXPECT_GT(kDefaultCommercialShape[13], kDefaultCommercialShape[19]);
  EXPECT_GT(kDefaultCommercialShape[13], kDefaultCommercialShape[3]);
}

TEST(SpecConvertTest, PresentFieldsOverrideDefaults) {
  v1::ExperimentSpec spec = ParseText(kMinimal);
  v1::Scenario* s = spec.mutable_scenario();
  s->set_name("renamed");
  s->set_days(7);
  s->set_first_day_of_year(180);
  s->set_seed(42);
  s->set_shards(3);
  s->set_households_represented(20);
  s->set_utility_fixed_cost_per_day(1000);
  s->mutable_network()->set_base_mva(50);
  s->mutable_network()->mutable_lines(0)->set_limit_mw(12);
  s->mutable_network()->mutable_lines(0)->set_reactance_pu(0.2);
  s->mutable_profiles()->set_sunrise_hour(5);
  s->mutable_profiles()->set_min_clearness(0);
  for (int h = 0; h < 24; ++h) s->mutable_profiles()->add_demand_shape(h == 12 ? 2 : 1);
  s->mutable_follower()->set_temperature_usd(0.5);
  s->mutable_follower()->set_soc_levels(21);
  s->mutable_follower()->set_myopic(true);
  s->mutable_inner()->set_damping(1);
  s->mutable_inner()->set_max_iterations(9);
  s->mutable_inner()->set_stall_iterations(7);
  v1::Distribution* pv = s->mutable_classes(0)->mutable_pv_kw();
  pv->set_kind(v1::Distribution::UNIFORM);
  pv->set_a(1);
  pv->set_b(3);
  pv->set_max_value(2.5);
  absl::StatusOr<env::Scenario> out = ToScenario(spec, "");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->name, "renamed");
  EXPECT_EQ(out->days, 7);
  EXPECT_EQ(out->first_day_of_year, 180);
  EXPECT_EQ(out->seed, 42u);
  EXPECT_EQ(out->shards, 3);
  EXPECT_EQ(out->households_represented, 20);
  EXPECT_EQ(out->utility_fixed_cost_per_day, 1000);
  EXPECT_EQ(out->network.base_mva, 50);
  EXPECT_EQ(out->network.lines[0].limit_mw, 12);
  EXPECT_EQ(out->network.lines[0].reactance_pu, 0.2);
  EXPECT_EQ(out->profiles.sunrise_hour, 5);
  EXPECT_EQ(out->profiles.min_clearness, 0);
  EXPECT_EQ(out->profiles.demand_shape[12], 2);
  EXPECT_THAT(out->profiles.exogenous_shape, ElementsAreArray(kDefaultCommercialShape));
  EXPECT_EQ(out->follower.temperature_usd, 0.5);
  EXPECT_EQ(out->follower.soc_levels, 21);
  EXPECT_TRUE(out->follower.myopic);
  EXPECT_EQ(out->inner.damping, 1);
  EXPECT_EQ(out->inner.max_iterations, 9);
  EXPECT_EQ(out->inner.stall_iterations, 7);
  EXPECT_EQ(out->classes[0].pv_kw.kind, env::Distribution::Kind::kUniform);
  EXPECT_EQ(out->classes[0].pv_kw.max_value, 2.5);
}

TEST(SpecConvertTest, ConversionErrorsNameSpecPaths) {
  v1::ExperimentSpec spec = ParseText(kMinimal);
  spec.mutable_scenario()->mutable_classes(0)->set_income_group("nobody");
  EXPECT_EQ(ToScenario(spec, "").status().message(),
            "scenario.classes[0].income_group: unknown income group 'nobody'; "
            "scenario.income_groups is [all]");

  spec = ParseText(kMinimal);
  spec.mutable_scenario()->mutable_classes(0)->mutable_battery_kw()->set_kind(
      static_cast<v1::Distribution::Kind>(9));
  EXPECT_THAT(Msg(ToScenario(spec, "").status()),
              HasSubstr("scenario.classes[0].battery_kw.kind: unknown distribution kind 9"));

  spec = ParseText(kMinimal);
  spec.mutable_scenario()->clear_network();
  EXPECT_EQ(ToScenario(spec, "").status().message(),
            "scenario: one of network or matpower_file must be set");
}

TEST(SpecConvertTest, MatpowerFileIsResolvedAgainstTheSpecDirectory) {
  v1::ExperimentSpec spec = ParseText(kMinimal);
  spec.mutable_scenario()->set_matpower_file("../environment/testdata/case3_triangle.m");
  absl::StatusOr<ConvertedScenario> converted = ConvertScenario(spec, "configs");
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->matpower_path, "configs/../environment/testdata/case3_triangle.m");
  EXPECT_EQ(converted->scenario.network.buses.size(), 3u);

  // Without read_files the spec is refused before any path is opened.
  ConvertOptions no_files;
  no_files.read_files = false;
  spec.mutable_scenario()->set_matpower_file("/dev/zero");
  converted = ConvertScenario(spec, "configs", no_files);
  EXPECT_THAT(converted.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(converted.status().message()),
              HasSubstr("scenario.matpower_file: files are not read here"));

  spec.mutable_scenario()->set_matpower_file("");
  EXPECT_EQ(ConvertScenario(spec, "configs").status().message(),
            "scenario.matpower_file: must not be empty");
}

TEST(SpecConvertTest, PathHelpers) {
  EXPECT_EQ(DirName("configs/three_bus.textproto"), "configs");
  EXPECT_EQ(DirName("three_bus.textproto"), "");
  EXPECT_EQ(DirName("/x.json"), "/");
  EXPECT_EQ(JoinPath("", "a.m"), "a.m");
  EXPECT_EQ(JoinPath("d/", "a.m"), "d/a.m");
  EXPECT_EQ(JoinPath("d", "/a.m"), "/a.m");
  absl::string_view path, rest;
  EXPECT_TRUE(SplitFieldPath("a.b[2].c: bad: really", &path, &rest));
  EXPECT_EQ(path, "a.b[2].c");
  EXPECT_EQ(rest, "bad: really");
  EXPECT_FALSE(SplitFieldPath("not a path: x", &path, &rest));
  EXPECT_FALSE(SplitFieldPath("no colon", &path, &rest));
}

TEST(SpecConvertTest, FromScenarioRoundTrips) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const v1::ExperimentSpec once = FromScenario(loaded->scenario);
  absl::StatusOr<env::Scenario> again = ToScenario(once, "");
  ASSERT_TRUE(again.ok()) << again.status();
  const v1::ExperimentSpec twice = FromScenario(*again);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(once, twice)) << diff;
  EXPECT_TRUE(env::ValidateScenario(*again).ok());
  // Unlimited lines stay absent rather than printing inf.
  v1::ExperimentSpec minimal = FromScenario(*ToScenario(ParseText(kMinimal), ""));
  EXPECT_FALSE(minimal.scenario().network().lines(0).has_limit_mw());
}

TEST(SpecConvertTest, WithDefaultsFillsEveryLeaderField) {
  const v1::ExperimentSpec full = WithDefaults(ParseText(kMinimal));
  EXPECT_EQ(full.tariff().rate_structure(), v1::TariffStructure::UNIFORM);
  EXPECT_EQ(full.tariff().min_import_rate_per_kwh(), 0.05);
  EXPECT_EQ(full.tariff().max_import_rate_per_kwh(), 0.60);
  EXPECT_TRUE(full.tariff().has_max_fixed_charge_per_day());
  EXPECT_EQ(full.tariff().export_rule(), v1::EXPORT_RULE_NET_BILLING_LMP);
  EXPECT_EQ(full.objective().w_equity(), 1);
  EXPECT_EQ(full.objective().w_revenue(), 1);
  EXPECT_EQ(full.objective().spread_measure(), v1::LeaderObjective::MAX_MIN);
  const v1::LeaderLearner& l = full.learner();
  for (bool has : {l.has_policy_learning_rate(), l.has_value_learning_rate(), l.has_clip_epsilon(),
                   l.has_gae_lambda(), l.has_discount(), l.has_entropy_coefficient(),
                   l.has_value_coefficient(), l.has_epochs(), l.has_minibatch_size(),
                   l.has_target_kl(), l.has_max_grad_norm(), l.has_initial_action_std()}) {
    EXPECT_TRUE(has);
  }
  // Its default is the scenario's days, which EffectiveSpec writes.
  EXPECT_FALSE(l.has_rollout_days_per_update());
  EXPECT_THAT(l.hidden_sizes(), ElementsAre(64, 64));
  EXPECT_EQ(l.clip_epsilon(), 0.2);
  EXPECT_EQ(full.loop().max_iterations(), 200);
  EXPECT_TRUE(full.loop().has_objective_tolerance());
  EXPECT_TRUE(full.loop().has_mean_field_tolerance_per_mwh());
  EXPECT_EQ(full.loop().checkpoint_every(), 10);

  // Values that are present are kept, even when they equal zero.
  v1::ExperimentSpec spec = ParseText(kMinimal);
  spec.mutable_objective()->set_w_equity(0);
  spec.mutable_learner()->set_epochs(3);
  spec.mutable_loop()->set_checkpoint_every(0);
  const v1::ExperimentSpec kept = WithDefaults(spec);
  EXPECT_EQ(kept.objective().w_equity(), 0);
  EXPECT_EQ(kept.learner().epochs(), 3);
  EXPECT_EQ(kept.loop().checkpoint_every(), 0);
}

TEST(SpecConvertTest, EffectiveSpecTextLoadsToTheSameScenario) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string text = EffectiveSpecText(loaded->spec, loaded->scenario);
  EXPECT_THAT(text, HasSubstr("demand_shape"));
  EXPECT_THAT(text, HasSubstr("temperature_usd"));
  EXPECT_THAT(text, HasSubstr("clip_epsilon"));
  EXPECT_THAT(text, HasSubstr("rollout_days_per_update: 100"));
  absl::StatusOr<LoadedSpec> reloaded = ParseExperiment(text, "effective.textproto", Format::kText);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(
      MessageDifferencer::Equals(FromScenario(loaded->scenario), FromScenario(reloaded->scenario)));
  EXPECT_TRUE(MessageDifferencer::Equals(EffectiveSpec(loaded->spec, loaded->scenario).learner(),
                                         reloaded->spec.learner()));
  // The effective spec is its own effective spec.
  EXPECT_TRUE(MessageDifferencer::Equals(EffectiveSpec(reloaded->spec, reloaded->scenario),
                                         EffectiveSpec(loaded->spec, loaded->scenario)));
}

TEST(SpecConvertTest, TariffRoundTrip) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const env::Scenario& scenario = loaded->scenario;
  env::Tariff tariff;
  tariff.import_rate_per_kwh.assign(3, std::vector<double>(24, 0.2));
  tariff.import_rate_per_kwh[1][17] = 0.4;
  tariff.fixed_charge_per_day = {0.1, 0.2, 0.3, 0.4};
  tariff.export_rule = env::ExportRule::kNetMetering;
  const v1::TariffFile file = FromTariff(tariff, scenario);
  ASSERT_EQ(file.per_bus_size(), 3);
  EXPECT_EQ(file.per_bus(1).bus(), "bus2");
  absl::StatusOr<env::Tariff> back = ToTariff(file, scenario);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->import_rate_per_kwh, tariff.import_rate_per_kwh);
  EXPECT_EQ(back->fixed_charge_per_day, tariff.fixed_charge_per_day);
  EXPECT_EQ(back->export_rule, tariff.export_rule);

  // Equal rows are written as one uniform list.
  tariff.import_rate_per_kwh[1][17] = 0.2;
  const v1::TariffFile uniform = FromTariff(tariff, scenario);
  EXPECT_EQ(uniform.per_bus_size(), 0);
  EXPECT_EQ(uniform.import_rate_per_kwh_size(), 24);
}

TEST(SpecConvertTest, ErrorPathMapping) {
  v1::ExperimentSpec spec = ParseText(kMinimal);
  EXPECT_EQ(ScenarioErrorInSpec(absl::InvalidArgumentError("classes[1].der_share[2]: bad"), spec)
                .message(),
            "scenario.classes[1].der_share.solar_battery: bad");
  EXPECT_EQ(
      ScenarioErrorInSpec(absl::InvalidArgumentError("network.lines[0].x: bad"), spec).message(),
      "scenario.network.lines[0].x: bad");
  EXPECT_EQ(ScenarioErrorInSpec(absl::InvalidArgumentError("something odd"), spec).message(),
            "scenario: something odd");
  EXPECT_TRUE(ScenarioErrorInSpec(absl::OkStatus(), spec).ok());
  spec.mutable_scenario()->set_matpower_file("case5.m");
  EXPECT_EQ(
      ScenarioErrorInSpec(absl::InvalidArgumentError("network.lines[0].x: bad"), spec).message(),
      "scenario.matpower_file: case5.m: network.lines[0].x: bad");

  v1::TariffFile uniform;
  uniform.add_import_rate_per_kwh(1);
  v1::TariffFile per_bus;
  per_bus.add_per_bus();
  const auto mapped = [](const char* message, const v1::TariffFile& file) {
    return Msg(TariffErrorInFile(absl::InvalidArgumentError(message), file));
  };
  EXPECT_EQ(mapped("import_rate_per_kwh[2][5]: bad", uniform), "import_rate_per_kwh[5]: bad");
  EXPECT_EQ(mapped("import_rate_per_kwh[2]: bad", uniform), "import_rate_per_kwh: bad");
  EXPECT_EQ(mapped("import_rate_per_kwh[2][5]: bad", per_bus),
            "per_bus[2].import_rate_per_kwh[5]: bad");
  EXPECT_EQ(mapped("import_rate_per_kwh: bad", per_bus), "per_bus: bad");
  EXPECT_EQ(mapped("fixed_charge_per_day: bad", per_bus), "fixed_charge_per_day: bad");
}

// kMinimal with learning followers and every follower.ppo field away from its
// default.
v1::ExperimentSpec PpoSpec() {
  v1::ExperimentSpec spec = ParseText(kMinimal);
  v1::FollowerParams* f = spec.mutable_scenario()->mutable_follower();
  f->set_learner(v1::FOLLOWER_LEARNER_PPO);
  v1::FollowerPpoParams* ppo = f->mutable_ppo();
  ppo->add_hidden_sizes(32);
  ppo->add_hidden_sizes(16);
  ppo->add_hidden_sizes(8);
  ppo->set_learning_rate(1e-3);
  ppo->set_phases_per_solve(5);
  ppo->set_phases_per_warm_solve(2);
  ppo->set_epochs_per_phase(3);
  ppo->set_episodes_per_household_day(2);
  ppo->set_episode_days(3);
  ppo->set_clip(0.1);
  ppo->set_gae_lambda(0.9);
  ppo->set_value_coef(0.25);
  return spec;
}

TEST(SpecConvertTest, FollowerLearnerDefaultsToExact) {
  absl::StatusOr<env::Scenario> s = ToScenario(ParseText(kMinimal), "");
  ASSERT_THAT(s, IsOk());
  const env::FollowerParams defaults;
  EXPECT_EQ(s->follower.learner, env::FollowerParams::Learner::kExact);
  EXPECT_THAT(s->follower.ppo.hidden_sizes, ElementsAre(64, 64));
  EXPECT_EQ(s->follower.ppo.hidden_sizes, defaults.ppo.hidden_sizes);
  EXPECT_EQ(s->follower.ppo.learning_rate, defaults.ppo.learning_rate);
  EXPECT_EQ(s->follower.ppo.phases_per_solve, defaults.ppo.phases_per_solve);
  EXPECT_EQ(s->follower.ppo.epochs_per_phase, defaults.ppo.epochs_per_phase);
  EXPECT_EQ(s->follower.ppo.episodes_per_household_day, defaults.ppo.episodes_per_household_day);
  EXPECT_EQ(s->follower.ppo.episode_days, defaults.ppo.episode_days);
  EXPECT_EQ(s->follower.ppo.clip, defaults.ppo.clip);
  EXPECT_EQ(s->follower.ppo.gae_lambda, defaults.ppo.gae_lambda);
  EXPECT_EQ(s->follower.ppo.value_coef, defaults.ppo.value_coef);

  // FOLLOWER_LEARNER_EXACT spelled out is the same.
  v1::ExperimentSpec exact = ParseText(kMinimal);
  exact.mutable_scenario()->mutable_follower()->set_learner(v1::FOLLOWER_LEARNER_EXACT);
  s = ToScenario(exact, "");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->follower.learner, env::FollowerParams::Learner::kExact);

  // PPO without a ppo block takes every default, and the effective spec writes
  // them all out.
  v1::ExperimentSpec ppo = ParseText(kMinimal);
  ppo.mutable_scenario()->mutable_follower()->set_learner(v1::FOLLOWER_LEARNER_PPO);
  s = ToScenario(ppo, "");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->follower.learner, env::FollowerParams::Learner::kPpo);
  EXPECT_EQ(s->follower.ppo.hidden_sizes, defaults.ppo.hidden_sizes);
  EXPECT_EQ(s->follower.ppo.phases_per_solve, defaults.ppo.phases_per_solve);
  EXPECT_THAT(ValidateSpec(ppo, *s), IsOk());
  const v1::FollowerPpoParams written = EffectiveSpec(ppo, *s).scenario().follower().ppo();
  EXPECT_THAT(written.hidden_sizes(), ElementsAre(64, 64));
  for (bool has :
       {written.has_learning_rate(), written.has_phases_per_solve(), written.has_epochs_per_phase(),
        written.has_episodes_per_household_day(), written.has_episode_days(), written.has_clip(),
        written.has_gae_lambda(), written.has_value_coef()}) {
    EXPECT_TRUE(has);
  }
  EXPECT_EQ(written.learning_rate(), defaults.ppo.learning_rate);
  EXPECT_EQ(written.phases_per_solve(), defaults.ppo.phases_per_solve);
  EXPECT_EQ(written.epochs_per_phase(), defaults.ppo.epochs_per_phase);
  EXPECT_EQ(written.episodes_per_household_day(), defaults.ppo.episodes_per_household_day);
  EXPECT_EQ(written.episode_days(), defaults.ppo.episode_days);
  EXPECT_EQ(written.clip(), defaults.ppo.clip);
  EXPECT_EQ(written.gae_lambda(), defaults.ppo.gae_lambda);
  EXPECT_EQ(written.value_coef(), defaults.ppo.value_coef);
}

TEST(SpecConvertTest, PpoFollowerRoundTripsThroughTheEffectiveSpec) {
  const v1::ExperimentSpec spec = PpoSpec();
  absl::StatusOr<env::Scenario> s = CheckSpecMessage(spec, ConvertOptions{}, SpecRules{});
  ASSERT_THAT(s, IsOk());
  const env::FollowerParams& f = s->follower;
  const env::FollowerParams defaults;
  EXPECT_EQ(f.learner, env::FollowerParams::Learner::kPpo);
  EXPECT_THAT(f.ppo.hidden_sizes, ElementsAre(32, 16, 8));
  EXPECT_EQ(f.ppo.learning_rate, 1e-3);
  EXPECT_EQ(f.ppo.phases_per_solve, 5);
  EXPECT_EQ(f.ppo.phases_per_warm_solve, 2);
  EXPECT_EQ(f.ppo.epochs_per_phase, 3);
  EXPECT_EQ(f.ppo.episodes_per_household_day, 2);
  EXPECT_EQ(f.ppo.episode_days, 3);
  EXPECT_EQ(f.ppo.clip, 0.1);
  EXPECT_EQ(f.ppo.gae_lambda, 0.9);
  EXPECT_EQ(f.ppo.value_coef, 0.25);
  // Every value above differs from its default, so each one was read.
  EXPECT_NE(f.ppo.hidden_sizes, defaults.ppo.hidden_sizes);
  EXPECT_NE(f.ppo.learning_rate, defaults.ppo.learning_rate);
  EXPECT_NE(f.ppo.phases_per_solve, defaults.ppo.phases_per_solve);
  EXPECT_NE(f.ppo.phases_per_warm_solve, defaults.ppo.phases_per_warm_solve);
  EXPECT_NE(f.ppo.epochs_per_phase, defaults.ppo.epochs_per_phase);
  EXPECT_NE(f.ppo.episodes_per_household_day, defaults.ppo.episodes_per_household_day);
  EXPECT_NE(f.ppo.episode_days, defaults.ppo.episode_days);
  EXPECT_NE(f.ppo.clip, defaults.ppo.clip);
  EXPECT_NE(f.ppo.gae_lambda, defaults.ppo.gae_lambda);
  EXPECT_NE(f.ppo.value_coef, defaults.ppo.value_coef);

  // The effective spec carries the learner and the whole block, as given.
  const v1::ExperimentSpec effective = EffectiveSpec(spec, *s);
  const v1::FollowerParams& written = effective.scenario().follower();
  EXPECT_EQ(written.learner(), v1::FOLLOWER_LEARNER_PPO);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(written.ppo(), spec.scenario().follower().ppo())) << diff;

  // ... and converts back to the same followers, through text format too.
  const std::string text = EffectiveSpecText(spec, *s);
  absl::StatusOr<LoadedSpec> reloaded = ParseExperiment(text, "effective.textproto", Format::kText);
  ASSERT_THAT(reloaded, IsOk());
  const env::FollowerParams& back = reloaded->scenario.follower;
  EXPECT_EQ(back.learner, f.learner);
  EXPECT_EQ(back.ppo.hidden_sizes, f.ppo.hidden_sizes);
  EXPECT_EQ(back.ppo.learning_rate, f.ppo.learning_rate);
  EXPECT_EQ(back.ppo.phases_per_solve, f.ppo.phases_per_solve);
  EXPECT_EQ(back.ppo.phases_per_warm_solve, f.ppo.phases_per_warm_solve);
  EXPECT_EQ(back.ppo.epochs_per_phase, f.ppo.epochs_per_phase);
  EXPECT_EQ(back.ppo.episodes_per_household_day, f.ppo.episodes_per_household_day);
  EXPECT_EQ(back.ppo.episode_days, f.ppo.episode_days);
  EXPECT_EQ(back.ppo.clip, f.ppo.clip);
  EXPECT_EQ(back.ppo.gae_lambda, f.ppo.gae_lambda);
  EXPECT_EQ(back.ppo.value_coef, f.ppo.value_coef);
  // The effective spec is its own effective spec.
  EXPECT_TRUE(
      MessageDifferencer::Equals(EffectiveSpec(reloaded->spec, reloaded->scenario), effective));
}

TEST(SpecConvertTest, EffectiveSpecOfExactFollowersHasNoLearnerOrPpo) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_THAT(loaded, IsOk());
  for (const v1::ExperimentSpec& effective :
       {EffectiveSpec(loaded->spec, loaded->scenario),
        EffectiveSpec(ParseText(kMinimal), *ToScenario(ParseText(kMinimal), ""))}) {
    const v1::FollowerParams& f = effective.scenario().follower();
    EXPECT_EQ(f.learner(), v1::FOLLOWER_LEARNER_UNSPECIFIED);
    EXPECT_FALSE(f.has_ppo());
  }
  EXPECT_THAT(EffectiveSpecText(loaded->spec, loaded->scenario), ::testing::Not(HasSubstr("ppo")));

  // An explicit FOLLOWER_LEARNER_EXACT is written as the default (absent).
  v1::ExperimentSpec exact = ParseText(kMinimal);
  exact.mutable_scenario()->mutable_follower()->set_learner(v1::FOLLOWER_LEARNER_EXACT);
  const v1::ExperimentSpec effective = EffectiveSpec(exact, *ToScenario(exact, ""));
  EXPECT_EQ(effective.scenario().follower().learner(), v1::FOLLOWER_LEARNER_UNSPECIFIED);
  EXPECT_FALSE(effective.scenario().follower().has_ppo());
  EXPECT_TRUE(MessageDifferencer::Equals(
      effective, EffectiveSpec(ParseText(kMinimal), *ToScenario(ParseText(kMinimal), ""))));
}

// One rule of the follower learner's conversion and validation: a change to
// PpoSpec() and the error it must give (through the whole spec check, so the
// path is the spec's).
struct FollowerRuleCase {
  const char* name;
  void (*edit)(v1::FollowerParams* f);
  const char* message;
};

class FollowerLearnerRuleTest : public ::testing::TestWithParam<FollowerRuleCase> {};

TEST_P(FollowerLearnerRuleTest, IsInvalidArgumentNamingTheField) {
  v1::ExperimentSpec spec = PpoSpec();
  ASSERT_THAT(CheckSpecMessage(spec, ConvertOptions{}, SpecRules{}), IsOk());
  GetParam().edit(spec.mutable_scenario()->mutable_follower());
  EXPECT_THAT(CheckSpecMessage(spec, ConvertOptions{}, SpecRules{}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::Eq(GetParam().message)));
}

const FollowerRuleCase kFollowerRuleCases[] = {
    {"UnknownLearner",
     [](v1::FollowerParams* f) { f->set_learner(static_cast<v1::FollowerLearner>(7)); },
     "scenario.follower.learner: unknown follower learner 7 (expected FOLLOWER_LEARNER_EXACT or "
     "FOLLOWER_LEARNER_PPO)"},
    {"PpoSetWithoutLearner", [](v1::FollowerParams* f) { f->clear_learner(); },
     "scenario.follower.ppo: set but follower.learner is not FOLLOWER_LEARNER_PPO"},
    {"PpoSetWithExactLearner",
     [](v1::FollowerParams* f) { f->set_learner(v1::FOLLOWER_LEARNER_EXACT); },
     "scenario.follower.ppo: set but follower.learner is not FOLLOWER_LEARNER_PPO"},
    {"PpoWithMyopic", [](v1::FollowerParams* f) { f->set_myopic(true); },
     "scenario.follower.learner: must not be PPO when follower.myopic is true (myopic followers "
     "have no decision to learn)"},
    {"TooManyHiddenLayers",
     [](v1::FollowerParams* f) {
       for (int i = 0; i < 2; ++i) f->mutable_ppo()->add_hidden_sizes(4);
     },
     "scenario.follower.ppo.hidden_sizes: must have 1 to 4 layers, got 5"},
    {"HiddenWidthZero", [](v1::FollowerParams* f) { f->mutable_ppo()->set_hidden_sizes(1, 0); },
     "scenario.follower.ppo.hidden_sizes[1]: must be in [1, 1024], got 0"},
    {"HiddenWidthTooLarge",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_hidden_sizes(2, 1025); },
     "scenario.follower.ppo.hidden_sizes[2]: must be in [1, 1024], got 1025"},
    {"LearningRateZero", [](v1::FollowerParams* f) { f->mutable_ppo()->set_learning_rate(0); },
     "scenario.follower.ppo.learning_rate: must be in (0, 1], got 0"},
    {"LearningRateAboveOne",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_learning_rate(1.5); },
     "scenario.follower.ppo.learning_rate: must be in (0, 1], got 1.5"},
    {"LearningRateNan",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_learning_rate(std::nan("")); },
     "scenario.follower.ppo.learning_rate: must be finite, got nan"},
    {"PhasesPerSolveNegative",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_phases_per_solve(-1); },
     "scenario.follower.ppo.phases_per_solve: must be in [0, 10000], got -1"},
    {"PhasesPerSolveTooMany",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_phases_per_solve(10001); },
     "scenario.follower.ppo.phases_per_solve: must be in [0, 10000], got 10001"},
    {"PhasesPerWarmSolveNegative",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_phases_per_warm_solve(-2); },
     "scenario.follower.ppo.phases_per_warm_solve: must be in [0, 10000], got -2"},
    {"EpochsPerPhaseZero", [](v1::FollowerParams* f) { f->mutable_ppo()->set_epochs_per_phase(0); },
     "scenario.follower.ppo.epochs_per_phase: must be in [1, 100], got 0"},
    {"EpochsPerPhaseTooMany",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_epochs_per_phase(101); },
     "scenario.follower.ppo.epochs_per_phase: must be in [1, 100], got 101"},
    {"EpisodesPerHouseholdDayZero",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_episodes_per_household_day(0); },
     "scenario.follower.ppo.episodes_per_household_day: must be in [1, 64], got 0"},
    {"EpisodesPerHouseholdDayTooMany",
     [](v1::FollowerParams* f) { f->mutable_ppo()->set_episodes_per_household_day(65); },
     "scenario.follower.ppo.episodes_per_household_day: must be in [1, 64], got 65"},
    {"EpisodeDaysZero", [](v1::FollowerParams* f) { f->mutable_ppo()->set_episode_days(0); },
     "scenario.follower.ppo.episode_days: must be in [1, 30], got 0"},
    {"EpisodeDaysTooMany", [](v1::FollowerParams* f) { f->mutable_ppo()->set_episode_days(31); },
     "scenario.follower.ppo.episode_days: must be in [1, 30], got 31"},
    {"ClipZero", [](v1::FollowerParams* f) { f->mutable_ppo()->set_clip(0); },
     "scenario.follower.ppo.clip: must be in (0, 1), got 0"},
    {"ClipOne", [](v1::FollowerParams* f) { f->mutable_ppo()->set_clip(1); },
     "scenario.follower.ppo.clip: must be in (0, 1), got 1"},
    {"GaeLambdaNegative", [](v1::FollowerParams* f) { f->mutable_ppo()->set_gae_lambda(-0.1); },
     "scenario.follower.ppo.gae_lambda: must be in [0, 1], got -0.1"},
    {"GaeLambdaAboveOne", [](v1::FollowerParams* f) { f->mutable_ppo()->set_gae_lambda(1.1); },
     "scenario.follower.ppo.gae_lambda: must be in [0, 1], got 1.1"},
    {"ValueCoefNegative", [](v1::FollowerParams* f) { f->mutable_ppo()->set_value_coef(-1); },
     "scenario.follower.ppo.value_coef: must be >= 0, got -1"},
    {"ValueCoefInfinite",
     [](v1::FollowerParams* f) {
       f->mutable_ppo()->set_value_coef(std::numeric_limits<double>::infinity());
     },
     "scenario.follower.ppo.value_coef: must be finite, got inf"},
};

INSTANTIATE_TEST_SUITE_P(Rules, FollowerLearnerRuleTest, ::testing::ValuesIn(kFollowerRuleCases),
                         [](const ::testing::TestParamInfo<FollowerRuleCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(SpecConvertTest, FollowerPpoBoundsAreInclusiveWhereDocumented) {
  v1::ExperimentSpec spec = PpoSpec();
  v1::FollowerPpoParams* ppo = spec.mutable_scenario()->mutable_follower()->mutable_ppo();
  ppo->clear_hidden_sizes();
  for (int width : {1, 1024, 1, 1024}) ppo->add_hidden_sizes(width);
  ppo->set_learning_rate(1);
  ppo->set_phases_per_solve(0);
  ppo->set_epochs_per_phase(100);
  ppo->set_episodes_per_household_day(64);
  ppo->set_episode_days(30);
  ppo->set_gae_lambda(0);
  ppo->set_value_coef(0);
  EXPECT_THAT(CheckSpecMessage(spec, ConvertOptions{}, SpecRules{}), IsOk());
  ppo->set_phases_per_solve(10000);
  ppo->set_epochs_per_phase(1);
  ppo->set_episodes_per_household_day(1);
  ppo->set_episode_days(1);
  ppo->set_gae_lambda(1);
  EXPECT_THAT(CheckSpecMessage(spec, ConvertOptions{}, SpecRules{}), IsOk());
}

// env::ValidateScenario on the follower learner directly: ppo is checked only
// for PPO, and an empty hidden_sizes (the spec cannot express one: empty means
// the default) is refused.
TEST(ValidateScenarioTest, FollowerPpoIsCheckedOnlyForPpo) {
  env::Scenario s = *ToScenario(ParseText(kMinimal), "");
  s.follower.ppo.clip = 5;
  s.follower.ppo.hidden_sizes.clear();
  EXPECT_THAT(env::ValidateScenario(s), IsOk());
  s.follower.learner = env::FollowerParams::Learner::kPpo;
  EXPECT_THAT(env::ValidateScenario(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::Eq("follower.ppo.hidden_sizes: must have 1 to 4 layers, got 0")));
  s.follower.ppo.hidden_sizes = {64};
  EXPECT_THAT(env::ValidateScenario(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::Eq("follower.ppo.clip: must be in (0, 1), got 5")));
  s.follower.ppo.clip = 0.2;
  EXPECT_THAT(env::ValidateScenario(s), IsOk());
  s.follower.myopic = true;
  EXPECT_THAT(env::ValidateScenario(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("follower.learner: ")));
}

// env::ValidateScenario's own paths (before mapping to the spec).
TEST(ValidateScenarioTest, CrossFieldChecksNameEnvPaths) {
  const env::Scenario valid = *ToScenario(ParseText(kMinimal), "");
  ASSERT_TRUE(env::ValidateScenario(valid).ok());

  env::Scenario s = valid;
  s.classes.push_back(s.classes[0]);
  s.classes[1].households_per_bus = {1, 2, 3};
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "classes[1].households_per_bus: has 3 entries, network has 2 buses");

  s = valid;
  s.inner.stall_iterations = -1;
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "inner.stall_iterations: must be in [0, 100000], got -1");

  s = valid;
  s.classes[0].der_share[0] = 0.5;
  s.classes[0].der_share[2] = 0.5;  // batteries, but efficiencies default to 0
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("classes[0].battery_kwh.a: must be > 0, got 0"));
  s.classes[0].battery_kwh = env::Distribution::Constant(10);
  s.classes[0].battery_kw = env::Distribution::Constant(5);
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("classes[0].charge_efficiency.a: must be in (0, 1], got 0"));
  s.classes[0].charge_efficiency = env::Distribution::Constant(0.9);
  s.classes[0].discharge_efficiency = {env::Distribution::Kind::kNormal, 0.9, 0.1, 0.5, 1.2};
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("classes[0].discharge_efficiency: every draw must be in (0, 1]"));
  s.classes[0].discharge_efficiency.max_value = 1.0;
  EXPECT_TRUE(env::ValidateScenario(s).ok()) << env::ValidateScenario(s);

  s = valid;
  s.classes[0].annual_income_usd = {env::Distribution::Kind::kLogNormal, 0, 1, 0, 1e300};
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "classes[0].annual_income_usd.a: must be > 0, got 0");
  s.classes[0].annual_income_usd = {env::Distribution::Kind::kNormal, 1000, 100, 0, 1e300};
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("classes[0].annual_income_usd: every draw must be > 0"));

  s = valid;
  s.income_groups.push_back("empty");
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "income_groups[1]: no household belongs to group 'empty'");
  s.income_groups[1] = "all";
  EXPECT_THAT(Msg(env::ValidateScenario(s)), HasSubstr("duplicate name 'all'"));

  s = valid;
  s.classes[0].households_per_bus = {std::numeric_limits<int>::max(),
                                     std::numeric_limits<int>::max()};
  EXPECT_THAT(Msg(env::ValidateScenario(s)), HasSubstr("classes: must hold at most"));

  s = valid;
  s.profiles.demand_shape.assign(24, 0.0);
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("profiles.demand_shape: must have a positive, finite sum"));
  s.profiles.demand_shape.pop_back();
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "profiles.demand_shape: must have 24 hourly values, got 23");

  s = valid;
  s.profiles.sunset_hour = 5;
  EXPECT_EQ(env::ValidateScenario(s).message(), "profiles.sunset_hour: must be in (6, 24], got 5");

  s = valid;
  s.follower.max_soc_steps_per_hour = 11;
  EXPECT_EQ(env::ValidateScenario(s).message(),
            "follower.max_soc_steps_per_hour: must be in [1, 10], got 11");

  s = valid;
  s.network.lines[0].reactance_pu = 0.0;
  EXPECT_THAT(Msg(env::ValidateScenario(s)),
              HasSubstr("network.lines[0].reactance_pu: must be nonzero"));
  s = valid;
  s.network.lines.clear();
  EXPECT_THAT(Msg(env::ValidateScenario(s)), ::testing::StartsWith("network"));
}

TEST(ValidateTariffTest, ChecksShapeAndValues) {
  const env::Scenario scenario = *ToScenario(ParseText(kMinimal), "");
  env::Tariff t;
  t.import_rate_per_kwh.assign(2, std::vector<double>(24, 0.1));
  t.fixed_charge_per_day = {0.0};
  EXPECT_TRUE(env::ValidateTariff(t, scenario).ok());
  t.import_rate_per_kwh.resize(3, t.import_rate_per_kwh[0]);
  EXPECT_EQ(env::ValidateTariff(t, scenario).message(),
            "import_rate_per_kwh: has 3 rows, expected 1 (uniform) or 2 (one per bus)");
  t.import_rate_per_kwh.resize(1);  // uniform
  EXPECT_TRUE(env::ValidateTariff(t, scenario).ok());
  t.import_rate_per_kwh.resize(2, t.import_rate_per_kwh[0]);
  t.import_rate_per_kwh[1][3] = std::nan("");
  EXPECT_EQ(env::ValidateTariff(t, scenario).message(),
            "import_rate_per_kwh[1][3]: must be finite, got nan");
  t.import_rate_per_kwh[1][3] = 0.1;
  t.fixed_charge_per_day.clear();
  EXPECT_EQ(env::ValidateTariff(t, scenario).message(),
            "fixed_charge_per_day: has 0 entries, scenario has 1 income groups");
  t.fixed_charge_per_day = {-0.5};  // a credit is allowed
  EXPECT_TRUE(env::ValidateTariff(t, scenario).ok());
  t.export_rule = env::ExportRule::kFixed;
  t.fixed_export_credit_per_kwh = -1;
  EXPECT_EQ(env::ValidateTariff(t, scenario).message(),
            "fixed_export_credit_per_kwh: must be >= 0, got -1");
}

}  // namespace
}  // namespace smfg::config
