#include "config/spec_loader.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "common/status_matchers.h"
#include "config/spec_convert.h"
#include "environment/scenario.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// The message of `status`, as a std::string for gMock's string matchers.
std::string Msg(const absl::Status& status) { return std::string(status.message()); }

// Tests run from the source root (smfg_test sets WORKING_DIRECTORY).
constexpr char kThreeBus[] = "configs/three_bus.textproto";

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, kMaxSpecFileBytes);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *content : "";
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(::testing::TempDir(), name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// 1-based line of the first occurrence of `needle`; fails the test if absent.
int LineOf(const std::string& content, const std::string& needle) {
  const size_t pos = content.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  if (pos == std::string::npos) return -1;
  return 1 + static_cast<int>(std::count(content.begin(), content.begin() + pos, '\n'));
}

// 1-based column of `needle` within its line.
int ColumnOf(const std::string& content, const std::string& needle) {
  const size_t pos = content.find(needle);
  const size_t line_start = content.rfind('\n', pos);
  return static_cast<int>(pos - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
}

// Replaces the first occurrence of `from` (which must exist).
std::string ReplaceOnce(std::string content, const std::string& from, const std::string& to) {
  const size_t pos = content.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) content.replace(pos, from.size(), to);
  return content;
}

std::string ToJson(const v1::ExperimentSpec& spec, bool proto_names) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = proto_names;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(spec, &json, options).ok());
  return json;
}

absl::Status LoadStatus(const std::string& name, const std::string& content) {
  return LoadExperimentFile(WriteTemp(name, content)).status();
}

TEST(SpecLoaderTest, EveryConfigLoadsAndValidates) {
  int specs = 0;
  for (const auto& entry : std::filesystem::directory_iterator("configs")) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || !absl::EndsWith(path, ".textproto")) continue;
    SCOPED_TRACE(path);
    absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_TRUE(env::ValidateScenario(loaded->scenario).ok());
    EXPECT_FALSE(loaded->spec.name().empty());
    ++specs;
  }
  EXPECT_GE(specs, 3);
}

TEST(SpecLoaderTest, EveryTariffFileLoadsAgainstTheDefaultScenario) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  int tariffs = 0;
  for (const auto& entry : std::filesystem::directory_iterator("configs/tariffs")) {
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    absl::StatusOr<env::Tariff> tariff = LoadTariffFile(path, loaded->scenario);
    ASSERT_TRUE(tariff.ok()) << tariff.status();
    EXPECT_TRUE(env::ValidateTariff(*tariff, loaded->scenario).ok());
    ++tariffs;
  }
  EXPECT_GE(tariffs, 1);
}

TEST(SpecLoaderTest, FlatTariffHasTheSameRateEverywhere) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<env::Tariff> tariff =
      LoadTariffFile("configs/tariffs/flat_0.15.textproto", loaded->scenario);
  ASSERT_TRUE(tariff.ok()) << tariff.status();
  // Uniform: env::Tariff's single-row form.
  ASSERT_EQ(tariff->import_rate_per_kwh.size(), 1u);
  EXPECT_EQ(tariff->import_rate_per_kwh[0], std::vector<double>(24, 0.15));
  EXPECT_EQ(tariff->fixed_charge_per_day, std::vector<double>(4, 0.0));
  EXPECT_EQ(tariff->export_rule, env::ExportRule::kNetBillingLmp);
}

TEST(SpecLoaderTest, JsonFormLoadsIdentically) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const v1::ExperimentSpec* text = &loaded->spec;
  for (const bool proto_names : {true, false}) {
    SCOPED_TRACE(proto_names ? "proto names" : "lowerCamel names");
    const std::string path =
        WriteTemp(proto_names ? "three_bus_proto_names.json" : "three_bus_camel.json",
                  ToJson(*text, proto_names));
    absl::StatusOr<LoadedSpec> json = LoadExperimentFile(path);
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*text, json->spec));
  }
}

TEST(SpecLoaderTest, FormatComesFromTheExtension) {
  EXPECT_EQ(*FormatFromPath("a/b.textproto"), Format::kText);
  EXPECT_EQ(*FormatFromPath("b.txtpb"), Format::kText);
  EXPECT_EQ(*FormatFromPath("b.pbtxt"), Format::kText);
  EXPECT_EQ(*FormatFromPath("x.y/b.JSON"), Format::kJson);
  const absl::Status status = FormatFromPath("configs/x.yaml").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), StartsWith("configs/x.yaml: unsupported file extension"));
  EXPECT_THAT(FormatFromPath("configs.d/noext").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecLoaderTest, MissingFileIsNotFound) {
  const absl::Status status = LoadExperimentFile("configs/does_not_exist.textproto").status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Msg(status), HasSubstr("configs/does_not_exist.textproto"));
}

TEST(SpecLoaderTest, UnknownFieldNamesFileLineColumnAndMessageType) {
  const std::string original = ReadOrDie(kThreeBus);
  const std::string content =
      ReplaceOnce(original, "  households_represented: 1", "  households_represented: 1\n  foo: 1");
  const absl::Status status = LoadStatus("unknown_field.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  const int line = LineOf(content, "  foo: 1");
  EXPECT_EQ(status.message(),
            absl::StrCat(::testing::TempDir(), "unknown_field.textproto:", line,
                         ":3: unknown field 'foo' in smfg.v1.Scenario (at scenario)"));
}

TEST(SpecLoaderTest, UnknownNestedFieldNamesItsPath) {
  const std::string content = ReplaceOnce(ReadOrDie(kThreeBus), "battery_kw { kind: CONSTANT",
                                          "battery_kw { mean: 5 kind: CONSTANT");
  const absl::Status status = LoadStatus("unknown_nested.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              HasSubstr(absl::StrCat(":", LineOf(content, "mean: 5"),
                                     ":18: unknown field 'mean' in smfg.v1.Distribution (at "
                                     "scenario.classes[1].battery_kw)")));
}

TEST(SpecLoaderTest, WrongTypeNamesTheField) {
  const std::string content = ReplaceOnce(ReadOrDie(kThreeBus), "days: 100", "days: \"abc\"");
  const absl::Status status = LoadStatus("wrong_type.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), HasSubstr(absl::StrCat(
                               "wrong_type.textproto:", LineOf(content, "days: \"abc\""), ":",
                               ColumnOf(content, "\"abc\""), ": scenario.days: expected integer")));
}

TEST(SpecLoaderTest, UnknownEnumValueListsTheValidOnes) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "kind: UNIFORM", "kind: TRIANGULAR");
  const absl::Status status = LoadStatus("bad_enum.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), HasSubstr("scenario.classes[1].battery_kwh.kind: "));
  EXPECT_THAT(Msg(status), HasSubstr("TRIANGULAR"));
  EXPECT_THAT(Msg(status), HasSubstr("LOGNORMAL"));
}

TEST(SpecLoaderTest, NegativeCapacityNamesLineAndFullPath) {
  const std::string content = ReplaceOnce(ReadOrDie(kThreeBus), "pmax_mw: 30", "pmax_mw: -5");
  const absl::Status status = LoadStatus("negative_capacity.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(status.message(),
            absl::StrCat(::testing::TempDir(),
                         "negative_capacity.textproto:", LineOf(content, "pmax_mw: -5"),
                         ": scenario.network.generators[2].pmax_mw: must be >= 0, got -5"));
}

TEST(SpecLoaderTest, SharesNotSummingToOne) {
  const std::string content = ReplaceOnce(
      ReadOrDie(kThreeBus), "der_share { consumer: 0.65 solar: 0.25 solar_battery: 0.10 }",
      "der_share { consumer: 0.65 solar: 0.25 solar_battery: 0.11 }");
  const absl::Status status = LoadStatus("shares.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              HasSubstr(absl::StrCat("shares.textproto:", LineOf(content, "solar_battery: 0.11"),
                                     ": scenario.classes[2].der_share: must sum to 1")));
}

TEST(SpecLoaderTest, ShareOutsideUnitIntervalNamesTheSpecField) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "consumer: 0.45 solar: 0.35 solar_battery: 0.20",
                  "consumer: 0.45 solar: 1.35 solar_battery: -0.80");
  const absl::Status status = LoadStatus("share_range.textproto", content);
  EXPECT_THAT(Msg(status),
              HasSubstr(": scenario.classes[3].der_share.solar: must be in [0, 1], got 1.35"));
}

TEST(SpecLoaderTest, ZeroHouseholdsInTotal) {
  std::string content = ReadOrDie(kThreeBus);
  for (const char* counts :
       {"[3000, 3000, 3000]", "[2000, 2000, 2000]", "[2000, 2000, 2000]", "[1000, 1000, 1000]"}) {
    content = ReplaceOnce(content, counts, "[0, 0, 0]");
  }
  const absl::Status status = LoadStatus("zero_households.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              HasSubstr(absl::StrCat("zero_households.textproto:", LineOf(content, "classes {"),
                                     ": scenario.classes: must hold at least one household")));
}

TEST(SpecLoaderTest, WrongNumberOfHourlyValues) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "0.18, 0.05, 0, 0, 0, 0 ", "0.18, 0.05, 0, 0, 0 ");
  const absl::Status status = LoadStatus("hours.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              HasSubstr(absl::StrCat(LineOf(content, "hourly_availability: ["),
                                     ": scenario.network.generators[3].hourly_availability: "
                                     "must be empty or have 24 values, got 23")));
}

TEST(SpecLoaderTest, HouseholdsPerBusCountMismatch) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "[2000, 2000, 2000]", "[2000, 2000]");
  const absl::Status status = LoadStatus("per_bus.textproto", content);
  EXPECT_THAT(Msg(status), HasSubstr(absl::StrCat(LineOf(content, "[2000, 2000]"),
                                                  ": scenario.classes[1].households_per_bus: has 2 "
                                                  "entries, network has 3 buses")));
}

TEST(SpecLoaderTest, TruncatedFileIsASyntaxErrorWithLineAndColumn) {
  const std::string original = ReadOrDie(kThreeBus);
  const std::string content = original.substr(0, original.find("cost_linear: 20\n"));
  const absl::Status status = LoadStatus("truncated.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), MatchesRegex(".*truncated\\.textproto:[0-9]+:[0-9]+: .+"));
  EXPECT_THAT(Msg(status), HasSubstr("scenario.network.generators[1]"));
}

TEST(SpecLoaderTest, DisconnectedNetworkSurfacesNetworkValidation) {
  std::string content = ReadOrDie(kThreeBus);
  content = ReplaceOnce(content,
                        "lines { name: \"2-3\" from_bus: 1 to_bus: 2 reactance_pu: 0.1 "
                        "limit_mw: 40 }",
                        "");
  content = ReplaceOnce(content,
                        "lines { name: \"1-3\" from_bus: 0 to_bus: 2 reactance_pu: 0.1 "
                        "limit_mw: 25 }",
                        "");
  // What is left: 1-2 only, so bus 3 (index 2) is an island.
  const absl::Status status = LoadStatus("disconnected.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), MatchesRegex(".*disconnected\\.textproto:[0-9]+: scenario\\.network.*"));
}

TEST(SpecLoaderTest, EmptyNameIsRefused) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "name: \"three_bus\"", "name: \"\"");
  const absl::Status status = LoadStatus("unnamed.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              MatchesRegex("[^ ]*unnamed\\.textproto:[0-9]+: name: must not be empty"));
}

// The caller's rules (training's leader side) get file and line like the
// scenario's own; the edit hook runs before conversion and checks.
TEST(SpecLoaderTest, ExtraRulesAndEditsGetFileAndLine) {
  LoadOptions options;
  options.edit = [](v1::ExperimentSpec* spec) { spec->mutable_scenario()->set_days(7); };
  int calls = 0;
  options.extra_rules = [&calls](const v1::ExperimentSpec& spec, const env::Scenario& scenario) {
    ++calls;
    EXPECT_EQ(scenario.days, 7);
    EXPECT_EQ(spec.scenario().days(), 7);
    return absl::InvalidArgumentError("loop.max_iterations: refused by the caller");
  };
  const absl::Status status = LoadExperimentFile(kThreeBus, options).status();
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              MatchesRegex(".*three_bus\\.textproto:[0-9]+: loop\\.max_iterations: refused by the "
                           "caller"));
  options.extra_rules = nullptr;
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->scenario.days, 7);
}

// A spec that arrives as a message: the same checks, field paths without file
// or line, and no file is read.
TEST(SpecLoaderTest, CheckSpecMessageNamesPathsAndReadsNoFile) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  v1::ExperimentSpec spec = loaded->spec;
  absl::StatusOr<env::Scenario> scenario =
      CheckSpecMessage(spec, ConvertOptions{.read_files = false}, nullptr);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  EXPECT_EQ(scenario->days, loaded->scenario.days);
  spec.mutable_scenario()->set_days(0);
  EXPECT_THAT(Msg(CheckSpecMessage(spec, ConvertOptions{.read_files = false}, nullptr).status()),
              StartsWith("scenario.days: must be in [1, 36500], got 0"));
  spec = loaded->spec;
  spec.mutable_scenario()->set_matpower_file("/dev/zero");
  const absl::Status file =
      CheckSpecMessage(spec, ConvertOptions{.read_files = false}, nullptr).status();
  EXPECT_THAT(file, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(file), StartsWith("scenario.matpower_file: files are not read here"));
}

TEST(SpecLoaderTest, ScenarioRulesNameSpecPaths) {
  const std::string original = ReadOrDie(kThreeBus);
  struct Case {
    std::string from, to, expected;
  } cases[] = {
      {"days: 100", "days: 0", "scenario.days: must be in [1, 36500], got 0"},
      {"households_represented: 1", "households_represented: 1e12",
       "scenario.households_represented: must be <= 1e+09, got 1e+12"},
      {"shards: 16", "shards: 0", "scenario.shards: must be in [1, 65536], got 0"},
      {"# Each simulated household is one real household.", "follower { temperature_usd: 0 }",
       "scenario.follower.temperature_usd: must be > 0, got 0"},
      {"# Each simulated household is one real household.", "inner { damping: 0 }",
       "scenario.inner.damping: must be in (0, 1], got 0"},
      {"# Each simulated household is one real household.", "follower { discount_per_hour: 1 }",
       "scenario.follower.discount_per_hour: must be in (0, 1), got 1"},
      {"lines { name: \"1-2\" from_bus: 0 to_bus: 1", "lines { name: \"1-2\" from_bus: 0 to_bus: 7",
       "scenario.network.lines[0].to_bus: must be a bus index in [0, 3), got 7"},
      {"battery_kwh { kind: UNIFORM a: 9.3 b: 13.5 }",
       "battery_kwh { kind: UNIFORM a: 13.5 b: 9.3 }",
       "scenario.classes[1].battery_kwh.b: must be >= a (13.5)"},
      {"min_value: 2 max_value: 12", "min_value: 20 max_value: 12",
       "scenario.classes[1].pv_kw.min_value: must be <= max_value (12), got 20"},
      {"charge_efficiency { kind: CONSTANT a: 0.95 }",
       "charge_efficiency { kind: CONSTANT a: 1.5 }",
       "scenario.classes[1].charge_efficiency.a: must be in (0, 1], got 1.5"},
      {"exogenous_mean_mw: [10, 12, 22]", "exogenous_mean_mw: [10, 12]",
       "scenario.exogenous_mean_mw: has 2 entries, network has 3 buses"},
      {"pmax_mw: 50", "pmax_mw: inf", "scenario.network.generators[0].pmax_mw: must be finite"},
      {"pmax_mw: 50", "pmax_mw: -nan", "scenario.network.generators[0].pmax_mw: must be finite"},
      {"income_group: \"low\"", "income_group: \"lo\"",
       "scenario.classes[1].income_group: unknown income group 'lo'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.to);
    const std::string content = ReplaceOnce(original, c.from, c.to);
    const absl::Status status = LoadStatus("scenario_rules.textproto", content);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(Msg(status), HasSubstr(c.expected));
    // Every value error carries a line.
    EXPECT_THAT(Msg(status), MatchesRegex(".*scenario_rules\\.textproto:[0-9]+: .*"));
  }
}

TEST(SpecLoaderTest, InvalidUtf8IsRejected) {
  const std::string content =
      ReplaceOnce(ReadOrDie(kThreeBus), "name: \"three_bus\"", "name: \"three\\377bus\"");
  const absl::Status status = LoadStatus("utf8.textproto", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), HasSubstr(": name: is not valid UTF-8"));
}

class JsonErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    json_ = ToJson(loaded->spec, /*proto_names=*/true);
  }
  std::string json_;
};

TEST_F(JsonErrorsTest, UnknownFieldNamesFileLineAndType) {
  const std::string content = ReplaceOnce(json_, "\"days\": 100", "\"days\": 100,\n  \"foo\": 1");
  const absl::Status status = LoadStatus("unknown.json", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(status.message(),
            absl::StrCat(::testing::TempDir(), "unknown.json:", LineOf(content, "\"foo\""),
                         ": unknown field 'foo' in smfg.v1.Scenario (at scenario)"));
}

TEST_F(JsonErrorsTest, WrongTypeNamesPathAndLine) {
  const std::string content = ReplaceOnce(json_, "\"days\": 100", "\"days\": \"abc\"");
  const absl::Status status = LoadStatus("wrong_type.json", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), HasSubstr(absl::StrCat("wrong_type.json:", LineOf(content, "\"abc\""),
                                                  ": scenario.days: invalid value \"abc\"")));
}

TEST_F(JsonErrorsTest, ValueErrorsCarryTheLine) {
  const std::string content = ReplaceOnce(json_, "\"pmax_mw\": 30", "\"pmax_mw\": -5");
  const absl::Status status = LoadStatus("negative.json", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(status.message(),
            absl::StrCat(::testing::TempDir(), "negative.json:", LineOf(content, "\"pmax_mw\": -5"),
                         ": scenario.network.generators[2].pmax_mw: must be >= 0, got -5"));
}

TEST_F(JsonErrorsTest, SyntaxErrorCarriesLineAndColumn) {
  const std::string content = ReplaceOnce(json_, "\"days\": 100", "\"days\" 100");
  const absl::Status status = LoadStatus("syntax.json", content);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status),
              HasSubstr(absl::StrCat("syntax.json:", LineOf(content, "\"days\" 100"), ":")));
}

TEST_F(JsonErrorsTest, TruncatedJson) {
  const absl::Status status = LoadStatus("truncated.json", json_.substr(0, json_.size() / 2));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Msg(status), HasSubstr("truncated.json"));
}

class TariffFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile(kThreeBus);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    scenario_ = loaded->scenario;
  }
  absl::Status Load(const std::string& text) {
    return ParseTariffText(text, "t.textproto", Format::kText, scenario_).status();
  }
  static std::string Rates(int n, double rate) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) absl::StrAppend(&s, i ? ", " : "", rate);
    return s + "]";
  }
  env::Scenario scenario_;
};

TEST_F(TariffFileTest, PerBusRates) {
  const std::string text =
      absl::StrCat("per_bus { bus: \"bus1\" import_rate_per_kwh: ", Rates(24, 0.1), " }\n",
                   "per_bus { import_rate_per_kwh: ", Rates(24, 0.2), " }\n",
                   "per_bus { import_rate_per_kwh: ", Rates(24, 0.3), " }\n",
                   "fixed_charge_per_day: [0.1, 0.2, 0.3, 0.4]\n",
                   "export_rule: EXPORT_RULE_FIXED fixed_export_credit_per_kwh: 0.04\n");
  absl::StatusOr<env::Tariff> tariff =
      ParseTariffText(text, "t.textproto", Format::kText, scenario_);
  ASSERT_TRUE(tariff.ok()) << tariff.status();
  EXPECT_EQ(tariff->import_rate_per_kwh[2], std::vector<double>(24, 0.3));
  EXPECT_EQ(tariff->fixed_charge_per_day, (std::vector<double>{0.1, 0.2, 0.3, 0.4}));
  EXPECT_EQ(tariff->export_rule, env::ExportRule::kFixed);
  EXPECT_EQ(tariff->fixed_export_credit_per_kwh, 0.04);
}

TEST_F(TariffFileTest, Errors) {
  EXPECT_EQ(Load(absl::StrCat("import_rate_per_kwh: ", Rates(23, 0.1))).message(),
            "t.textproto:1: import_rate_per_kwh: has 23 entries, expected 24");
  EXPECT_EQ(Load(absl::StrCat("per_bus { import_rate_per_kwh: ", Rates(24, 0.1), " }\n",
                              "per_bus { import_rate_per_kwh: ", Rates(24, 0.1), " }"))
                .message(),
            "t.textproto:1: per_bus: has 2 entries, network has 3 buses");
  std::string negative = Rates(24, 0.1);
  negative = ReplaceOnce(negative, "0.1]", "-0.1]");
  EXPECT_EQ(Load(absl::StrCat("per_bus { import_rate_per_kwh: ", Rates(24, 0.1), " }\n",
                              "per_bus { import_rate_per_kwh: ", negative, " }\n",
                              "per_bus { import_rate_per_kwh: ", Rates(24, 0.1), " }"))
                .message(),
            "t.textproto:2: per_bus[1].import_rate_per_kwh[23]: must be >= 0, got -0.1");
  EXPECT_THAT(Msg(Load(absl::StrCat("per_bus { bus: \"bus9\" import_rate_per_kwh: ", Rates(24, 0.1),
                                    " }"))),
              HasSubstr("t.textproto:1: per_bus[0].bus: is 'bus9' but bus 0"));
  EXPECT_THAT(Msg(Load("fixed_charge_per_day: [1]")),
              HasSubstr("import_rate_per_kwh: one of import_rate_per_kwh"));
  EXPECT_EQ(
      Load(absl::StrCat("import_rate_per_kwh: ", Rates(24, 0.1), "\nfixed_charge_per_day: [1, 2]"))
          .message(),
      "t.textproto:2: fixed_charge_per_day: has 2 entries, scenario has 4 income "
      "groups");
  EXPECT_EQ(Load(absl::StrCat("import_rate_per_kwh: ", Rates(24, 0.1),
                              "\nfixed_export_credit_per_kwh: 0.03"))
                .message(),
            "t.textproto:2: fixed_export_credit_per_kwh: must be 0 unless export_rule is "
            "fixed, got 0.03");
  EXPECT_THAT(Msg(Load("rates: 1")),
              HasSubstr("t.textproto:1:1: unknown field 'rates' in smfg.v1.TariffFile"));
}

}  // namespace
}  // namespace smfg::config
