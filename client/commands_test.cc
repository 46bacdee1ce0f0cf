// The local commands end to end: opf on a MATPOWER case and on a spec, and
// evaluate on the small scenario (determinism, seeds, output files, errors).
#include "client/commands.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_replace.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "smfg/v1/spec.pb.h"
#include "smfg/v1/training.pb.h"

namespace smfg::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Drops the wall-clock fields, the only ones allowed to differ between runs.
std::string WithoutTimes(std::string json) {
  for (const char* key : {"\"wall_seconds\":"}) {
    size_t p;
    while ((p = json.find(key)) != std::string::npos) {
      size_t e = p + std::strlen(key);
      while (e < json.size() && json[e] != ',' && json[e] != '}') ++e;
      json.erase(p, e - p);
    }
  }
  return json;
}

TEST(OpfCommandTest, MatpowerCaseGivesHandComputedLmps) {
  OpfOptions o;
  o.case_path = "environment/testdata/case3_triangle.m";
  o.json = true;
  std::ostringstream out;
  ASSERT_TRUE(RunOpf(o, out).ok());
  const std::string s = out.str();
  EXPECT_NE(s.find("\"lmp_per_mwh\":10,"), std::string::npos) << s;
  EXPECT_NE(s.find("\"lmp_per_mwh\":20,"), std::string::npos) << s;
  EXPECT_NE(s.find("\"lmp_per_mwh\":30,"), std::string::npos) << s;
  EXPECT_NE(s.find("\"congested\":true"), std::string::npos) << s;
}

TEST(OpfCommandTest, SpecNetworkAndExplicitLoad) {
  OpfOptions o;
  o.case_path = "configs/three_bus.textproto";
  o.load_mw = {10, 20, 30};
  std::ostringstream out;
  const absl::Status s = RunOpf(o, out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(out.str().find("LMP"), std::string::npos);
  o.load_mw = {1, 2};
  EXPECT_THAT(RunOpf(o, out), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(OpfCommandTest, BadInputsAreInvalidArgument) {
  OpfOptions o;
  std::ostringstream out;
  EXPECT_THAT(RunOpf(o, out), StatusIs(absl::StatusCode::kInvalidArgument));
  o.case_path = "configs/three_bus.textproto";
  o.hour = 24;
  EXPECT_THAT(RunOpf(o, out), StatusIs(absl::StatusCode::kInvalidArgument));
}

EvaluateOptions SmallRun() {
  EvaluateOptions o;
  o.spec_path = "configs/three_bus_small.textproto";
  o.days = 2;
  o.threads = 2;
  o.json = true;
  return o;
}

// The effective spec is complete and stable: printing the printed spec gives
// the same text, and it trains exactly as the file it came from.
TEST(SpecCommandTest, PrintsTheEffectiveSpecAsAFixedPoint) {
  const std::string dir = ::testing::TempDir() + "/smfg_spec_command";
  std::filesystem::create_directories(dir);
  SpecOptions o;
  o.spec_path = "configs/three_bus_small.textproto";
  o.days = 3;
  std::ostringstream first;
  ASSERT_THAT(RunSpec(o, first), IsOk());
  EXPECT_THAT(first.str(), HasSubstr("days: 3"));
  // The file's 4 rollouts of 10 days per update become 4 of 3 days.
  EXPECT_THAT(first.str(), HasSubstr("rollout_days_per_update: 12"));
  EXPECT_THAT(first.str(), HasSubstr("network {"));
  const std::string path = dir + "/effective.textproto";
  std::ofstream(path) << first.str();
  std::ostringstream second;
  o.spec_path = path;
  o.days = 0;
  ASSERT_THAT(RunSpec(o, second), IsOk());
  EXPECT_EQ(second.str(), first.str());

  std::ofstream(dir + "/bad.textproto") << "name: \"x\"\nscenario { days: -1 }\n";
  o.spec_path = dir + "/bad.textproto";
  std::ostringstream ignored;
  EXPECT_THAT(RunSpec(o, ignored),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.textproto:")));
}

TEST(EvaluateCommandTest, SameSpecSameReportBitForBit) {
  std::ostringstream a, b, progress;
  ASSERT_TRUE(RunEvaluate(SmallRun(), a, progress).ok());
  EvaluateOptions one_thread = SmallRun();
  one_thread.threads = 1;
  ASSERT_TRUE(RunEvaluate(one_thread, b, progress).ok());
  EXPECT_EQ(WithoutTimes(a.str()), WithoutTimes(b.str()));
  EXPECT_NE(progress.str().find("inner iteration"), std::string::npos);
}

TEST(EvaluateCommandTest, WritesReportsAndPlots) {
  const std::string dir = ::testing::TempDir() + "/smfg_eval";
  std::filesystem::remove_all(dir);
  EvaluateOptions o = SmallRun();
  o.tariffs = "flat,tou,configs/tariffs/flat_0.15.textproto";
  o.out_dir = dir;
  o.exploitability = false;
  std::ostringstream out, progress;
  const absl::Status s = RunEvaluate(o, out, progress);
  ASSERT_TRUE(s.ok()) << s;
  for (const char* f : {"summary.json", "summary.csv", "flat/report.json", "tou/groups.csv",
                        "flat_0_15/report.json", "plots/tariff.svg", "plots/eei_by_group.svg",
                        "plots/lmp_by_hour.svg", "plots/battery_power.svg"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  }
  EXPECT_NE(ReadFile(dir + "/summary.csv").find("tou,"), std::string::npos);
  EXPECT_NE(out.str().find("\"files\":["), std::string::npos);
}

// The default scenario's full population (24,000 households) on two of its
// days: the inner fixed point converges below 1e-6 $/MWh and no household can
// gain under the regularised objective.
TEST(EvaluateCommandTest, DefaultScenarioReachesTheMeanFieldEquilibrium) {
  EvaluateOptions o;
  o.spec_path = "configs/three_bus.textproto";
  o.days = 2;
  o.json = true;
  std::ostringstream out, progress;
  const absl::Status s = RunEvaluate(o, out, progress);
  ASSERT_TRUE(s.ok()) << s;
  const std::string json = out.str();
  const auto number_after = [&](const std::string& key) {
    const size_t p = json.find("\"" + key + "\":");
    EXPECT_NE(p, std::string::npos) << key;
    return std::strtod(json.c_str() + p + key.size() + 3, nullptr);
  };
  EXPECT_LT(number_after("residual_per_mwh"), 1e-6);
  EXPECT_NE(json.find("\"converged\":true"), std::string::npos);
  EXPECT_LT(number_after("regularised_max"), 1e-9);
  EXPECT_GT(number_after("plain_max"), 0.0);
  EXPECT_GT(number_after("household_days"), 2000);  // battery household-days measured
}

TEST(EvaluateCommandTest, DifferentSeedGivesDifferentReport) {
  const std::string dir = ::testing::TempDir() + "/smfg_seed";
  std::filesystem::create_directories(dir);
  std::string spec = ReadFile("configs/three_bus_small.textproto");
  const size_t p = spec.find("seed: 20251");
  ASSERT_NE(p, std::string::npos);
  spec.replace(p, 11, "seed: 20252");
  {
    std::ofstream f(dir + "/other_seed.textproto");
    f << spec;
  }
  EvaluateOptions a = SmallRun(), b = SmallRun();
  a.exploitability = b.exploitability = false;
  b.spec_path = dir + "/other_seed.textproto";
  std::ostringstream out_a, out_b, progress;
  ASSERT_TRUE(RunEvaluate(a, out_a, progress).ok());
  ASSERT_TRUE(RunEvaluate(b, out_b, progress).ok());
  EXPECT_NE(WithoutTimes(out_a.str()), WithoutTimes(out_b.str()));
}

TEST(EvaluateCommandTest, UnknownTariffFileIsAnError) {
  EvaluateOptions o = SmallRun();
  o.tariffs = "no_such_tariff.textproto";
  std::ostringstream out, progress;
  const absl::Status s = RunEvaluate(o, out, progress);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_such_tariff")));
}

TrainOptions SmallTraining(const std::string& dir, int iterations) {
  TrainOptions o;
  o.spec_path = "configs/three_bus_small.textproto";
  o.out_dir = dir;
  o.days = 3;
  o.iterations = iterations;
  o.threads = 2;
  return o;
}

// Metrics without the wall-clock columns (the last three before the EEIs).
std::string MetricsWithoutTimes(const std::string& dir) {
  std::istringstream in(ReadFile(dir + "/metrics.csv"));
  std::string line, out;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    // The header names the columns; wall time is in the seconds.* ones.
    if (header.empty()) header = cells;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (header[i].rfind("seconds.", 0) != 0) out += cells[i] + ",";
    }
    out += "\n";
  }
  return out;
}

TEST(TrainCommandTest, TrainsComparesAndResumesBitIdentically) {
  const std::string straight = ::testing::TempDir() + "/smfg_train_straight";
  const std::string resumed = ::testing::TempDir() + "/smfg_train_resumed";
  std::filesystem::remove_all(straight);
  std::filesystem::remove_all(resumed);
  std::ostringstream out, progress;
  ASSERT_TRUE(RunTrain(SmallTraining(straight, 3), out, progress).ok());
  EXPECT_NE(progress.str().find("outer   3/3"), std::string::npos) << progress.str();
  for (const char* f : {"metrics.csv", "metrics.jsonl", "learned_tariff.json", "learned_tariff.csv",
                        "comparison.json", "learned/report.json", "flat/report.json",
                        "tou/report.json", "plots/convergence.svg", "plots/eei_by_group.svg",
                        "plots/battery_soc.svg", "checkpoints/checkpoint.pb"}) {
    EXPECT_TRUE(std::filesystem::exists(straight + "/" + f)) << f;
  }
  // Interrupted after 2 iterations, then resumed to 3.
  ASSERT_TRUE(RunTrain(SmallTraining(resumed, 2), out, progress).ok());
  TrainOptions again = SmallTraining(resumed, 3);
  EXPECT_THAT(RunTrain(again, out, progress), StatusIs(absl::StatusCode::kFailedPrecondition));
  again.resume = true;
  const absl::Status s = RunTrain(again, out, progress);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(MetricsWithoutTimes(straight), MetricsWithoutTimes(resumed));
  EXPECT_EQ(ReadFile(straight + "/learned_tariff.json"),
            ReadFile(resumed + "/learned_tariff.json"));
  EXPECT_EQ(ReadFile(straight + "/comparison.json"), ReadFile(resumed + "/comparison.json"));
}

// The README's experiment's guarantees (learned vs reference, flat and TOU) are
// training/default_experiment_test.cc's, checked on the typed comparison.

TEST(TrainCommandTest, ResumeWithoutCheckpointIsAnError) {
  const std::string dir = ::testing::TempDir() + "/smfg_train_none";
  std::filesystem::remove_all(dir);
  TrainOptions o = SmallTraining(dir, 1);
  o.resume = true;
  std::ostringstream out, progress;
  EXPECT_THAT(RunTrain(o, out, progress), StatusIs(absl::StatusCode::kNotFound));
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

// `smfg optimize` runs the reference search alone, even for a spec that
// disables it for training, and prints it typed (JSON of smfg.v1.OptimizeResult).
TEST(OptimizeCommandTest, PrintsTheReferenceOptimumAndItsTariff) {
  const std::string dir = ::testing::TempDir() + "/smfg_optimize";
  std::filesystem::create_directories(dir);
  std::string spec = ReadFile("configs/three_bus_small.textproto");
  spec += "\nreference { disabled: true max_evaluations: 12 }\n";
  const size_t p = spec.find("reference {\n  max_evaluations: 300\n}");
  ASSERT_NE(p, std::string::npos);
  spec.erase(p, std::string("reference {\n  max_evaluations: 300\n}").size());
  WriteFile(dir + "/spec.textproto", spec);
  OptimizeOptions o;
  o.spec_path = dir + "/spec.textproto";
  o.days = 2;
  o.json = true;
  std::ostringstream out, progress;
  ASSERT_THAT(RunOptimize(o, out, progress), IsOk());
  v1::OptimizeResult result;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.str(), &result).ok()) << out.str();
  EXPECT_EQ(result.reference().evaluations(), 12);
  EXPECT_GE(result.reference().terms().objective(), result.reference().start_objective());
  ASSERT_EQ(result.rates_size(), 1);
  EXPECT_EQ(result.rates(0).import_rate_per_kwh_size(), 24);
  EXPECT_EQ(result.fixed_charge_per_day_size(), 4);
  EXPECT_THAT(progress.str(), HasSubstr("reference: evaluation  12/12"));

  o.json = false;
  std::ostringstream text, progress2;
  ASSERT_THAT(RunOptimize(o, text, progress2), IsOk());
  EXPECT_THAT(text.str(), HasSubstr("reference optimum of 'three_bus_small'"));
  EXPECT_THAT(text.str(), HasSubstr("fixed charges $/day: very_low"));
  o.spec_path.clear();
  EXPECT_THAT(RunOptimize(o, text, progress2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SPEC")));
}

// `smfg spec` turns a spec that names a MATPOWER file into a self-contained
// one (what the Python client asks for), and its output is its own effective
// spec, in text format and in JSON.
TEST(SpecCommandTest, PrintsTheEffectiveSpecWithTheNetworkInline) {
  const std::string dir = ::testing::TempDir() + "/smfg_spec_command";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  v1::ExperimentSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      ReadFile("configs/three_bus_small.textproto"), &spec));
  spec.mutable_scenario()->set_matpower_file(
      std::filesystem::absolute("environment/testdata/case3_triangle.m").string());
  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(spec, &text));
  WriteFile(dir + "/matpower.textproto", text);

  std::ostringstream effective;
  ASSERT_THAT(RunSpec({.spec_path = dir + "/matpower.textproto"}, effective), IsOk());
  EXPECT_THAT(effective.str(), HasSubstr("proto-message: smfg.v1.ExperimentSpec"));
  v1::ExperimentSpec parsed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(effective.str(), &parsed));
  EXPECT_EQ(parsed.scenario().network_source_case(), v1::Scenario::kNetwork);
  EXPECT_EQ(parsed.scenario().network().buses_size(), 3);
  EXPECT_TRUE(parsed.learner().has_rollout_days_per_update());  // defaults written out

  WriteFile(dir + "/effective.textproto", effective.str());
  std::ostringstream again;
  ASSERT_THAT(RunSpec({.spec_path = dir + "/effective.textproto"}, again), IsOk());
  EXPECT_EQ(again.str(), effective.str());

  std::ostringstream json;
  ASSERT_THAT(RunSpec({.spec_path = dir + "/matpower.textproto", .json = true}, json), IsOk());
  EXPECT_THAT(json.str(), Not(HasSubstr("matpower_file")));
  v1::ExperimentSpec from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.str(), &from_json).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_json, parsed));
}

TEST(SpecCommandTest, InvalidSpecNamesTheField) {
  const std::string dir = ::testing::TempDir() + "/smfg_spec_command_bad";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/bad.textproto",
            absl::StrReplaceAll(ReadFile("configs/three_bus_small.textproto"),
                                {{"days: 10", "days: 0"}}));
  std::ostringstream out;
  EXPECT_THAT(RunSpec({.spec_path = dir + "/bad.textproto"}, out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scenario.days")));
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace smfg::client
