// The local commands end to end: opf on a MATPOWER case and on a spec, and
// evaluate on the small scenario (determinism, seeds, output files, errors).
#include "client/commands.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace smfg::client {
namespace {

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
  EXPECT_EQ(RunOpf(o, out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpfCommandTest, BadInputsAreInvalidArgument) {
  OpfOptions o;
  std::ostringstream out;
  EXPECT_EQ(RunOpf(o, out).code(), absl::StatusCode::kInvalidArgument);
  o.case_path = "configs/three_bus.textproto";
  o.hour = 24;
  EXPECT_EQ(RunOpf(o, out).code(), absl::StatusCode::kInvalidArgument);
}

EvaluateOptions SmallRun() {
  EvaluateOptions o;
  o.spec_path = "configs/three_bus_small.textproto";
  o.days = 2;
  o.threads = 2;
  o.json = true;
  return o;
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
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("no_such_tariff"), std::string::npos);
}

}  // namespace
}  // namespace smfg::client
