#include "environment/matpower.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/rng.h"
#include "environment/dcopf.h"
#include "environment/network.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Found in the source tree, whatever the working directory.
std::string TestData(absl::string_view name) {
  return absl::StrCat(SMFG_SOURCE_DIR "/environment/testdata/", name);
}

// A compact valid case (the triangle of case3_triangle.m) whose lines the
// error tests edit.
constexpr absl::string_view kSmallCase = R"(function mpc = small
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
  1 3 0   0 0 0 1 1 0 230 1 1.1 0.9;
  2 2 0   0 0 0 1 1 0 230 1 1.1 0.9;
  3 1 300 0 0 0 1 1 0 230 1 1.1 0.9;
];
mpc.gen = [
  1 0 0 0 0 1 100 1 1000 0;
  2 0 0 0 0 1 100 1 1000 0;
];
mpc.branch = [
  1 2 0 0.1 0 0   0 0 0 0 1;
  1 3 0 0.1 0 150 0 0 0 0 1;
  2 3 0 0.1 0 0   0 0 0 0 1;
];
mpc.gencost = [
  2 0 0 2 10 0;
  2 0 0 2 20 0;
];
)";

// Number of the last line (a final newline does not start another line).
int LineCount(absl::string_view text) {
  int lines = 1;
  for (char c : text) lines += c == '\n';
  return !text.empty() && text.back() == '\n' ? lines - 1 : lines;
}

std::string Replace(absl::string_view text, absl::string_view from, absl::string_view to) {
  EXPECT_TRUE(absl::StrContains(text, from)) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

// Every syntax or content error names the source, the line and the matrix.
void ExpectError(const absl::StatusOr<MatpowerCase>& c, int line,
                 const std::vector<std::string>& fragments) {
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), StartsWith(absl::StrCat("t.m:", line, ": ")))
      << c.status();
  for (const std::string& f : fragments) {
    EXPECT_THAT(c.status().message(), HasSubstr(f));
  }
}

void ExpectHandTriangleOpf(const MatpowerCase& c) {
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(c.network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  absl::StatusOr<DispatchResult> r = (*opf)->Solve(c.bus_load_mw, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->lmp_per_mwh[0], 10.0, 1e-6);
  EXPECT_NEAR(r->lmp_per_mwh[1], 20.0, 1e-6);
  EXPECT_NEAR(r->lmp_per_mwh[2], 30.0, 1e-6);
  EXPECT_NEAR(r->generation_mw[0], 150.0, 1e-6);
  EXPECT_NEAR(r->generation_mw[1], 150.0, 1e-6);
  EXPECT_NEAR(r->line_shadow_price[1], 30.0, 1e-6);
  EXPECT_NEAR(r->generation_cost_per_hour, 4500.0, 1e-6);
}

TEST(MatpowerTest, LoadsTriangleCaseFile) {
  absl::StatusOr<MatpowerCase> c = LoadMatpowerFile(TestData("case3_triangle.m"));
  ASSERT_TRUE(c.ok()) << c.status();
  const Network& net = c->network;
  EXPECT_EQ(net.base_mva, 100.0);
  ASSERT_EQ(net.buses.size(), 3u);
  EXPECT_EQ(net.buses[0].name, "1");
  EXPECT_EQ(net.buses[2].name, "3");
  EXPECT_EQ(c->bus_numbers, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(c->bus_load_mw, (std::vector<double>{0.0, 0.0, 300.0}));
  ASSERT_EQ(net.generators.size(), 2u);
  EXPECT_EQ(net.generators[0].name, "gen1");
  EXPECT_EQ(net.generators[1].name, "gen2");
  EXPECT_EQ(net.generators[1].bus, 1);
  EXPECT_EQ(net.generators[0].pmax_mw, 1000.0);
  EXPECT_EQ(net.generators[0].pmin_mw, 0.0);
  EXPECT_EQ(net.generators[0].cost_linear, 10.0);
  EXPECT_EQ(net.generators[1].cost_linear, 20.0);
  EXPECT_EQ(net.generators[0].cost_quadratic, 0.0);
  EXPECT_EQ(net.generators[0].cost_fixed, 0.0);
  EXPECT_FALSE(net.generators[0].renewable);
  EXPECT_TRUE(net.generators[0].hourly_availability.empty());
  ASSERT_EQ(net.lines.size(), 3u);
  EXPECT_EQ(net.lines[1].from_bus, 0);
  EXPECT_EQ(net.lines[1].to_bus, 2);
  EXPECT_DOUBLE_EQ(net.lines[1].reactance_pu, 0.1);
  EXPECT_EQ(net.lines[1].limit_mw, 150.0);
  EXPECT_EQ(net.lines[0].limit_mw, kInf);  // RATE_A = 0
  ExpectHandTriangleOpf(*c);
}

TEST(MatpowerTest, SmallInlineCaseGivesHandLmps) {
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(kSmallCase, "small.m");
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectHandTriangleOpf(*c);
}

TEST(MatpowerTest, Pjm5BusCaseMatchesPublishedDcOpf) {
  absl::StatusOr<MatpowerCase> c = LoadMatpowerFile(TestData("case5.m"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->network.buses.size(), 5u);
  ASSERT_EQ(c->network.generators.size(), 5u);
  ASSERT_EQ(c->network.lines.size(), 6u);
  EXPECT_EQ(c->bus_load_mw, (std::vector<double>{0, 300, 300, 400, 0}));
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(c->network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  absl::StatusOr<DispatchResult> r = (*opf)->Solve(c->bus_load_mw, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  // Li and Bo (2010), rounded to cents and hundredths of a MW.
  const std::vector<double> lmp = {16.98, 26.38, 30.00, 39.94, 10.00};
  const std::vector<double> dispatch = {40.0, 170.0, 323.49, 0.0, 466.51};
  for (int b = 0; b < 5; ++b) EXPECT_NEAR(r->lmp_per_mwh[b], lmp[b], 0.006) << b;
  for (int g = 0; g < 5; ++g) EXPECT_NEAR(r->generation_mw[g], dispatch[g], 0.006) << g;
  EXPECT_NEAR(r->generation_cost_per_hour, 17479.90, 0.06);
  // Only branch 4-5 (E-D, 240 MW) binds, flowing 5 -> 4; 1-2 stays below 400.
  EXPECT_NEAR(r->flow_mw[5], -240.0, 1e-6);
  EXPECT_GT(r->line_shadow_price[5], 0.0);
  EXPECT_LT(r->flow_mw[0], 400.0 - 1.0);
  EXPECT_EQ(r->line_shadow_price[0], 0.0);
}

TEST(MatpowerTest, ShuntConductanceCountsAsLoad) {
  // 20 MW of GS at bus 3 (MW at 1 p.u.): MATPOWER's DC OPF balances PD + GS,
  // so bus 3 takes 320 MW. Line 1-3 binds at 150 MW: 2/3 p1 + 1/3 p2 = 150 with
  // p1 + p2 = 320 gives p1 = 130, p2 = 190, cost 1300 + 3800 = 5100 $/h and
  // the hand LMPs 10, 20, 30.
  const std::string text = Replace(kSmallCase, "  3 1 300 0 0 0 1 1 0 230 1 1.1 0.9;",
                                   "  3 1 300 0 20 0 1 1 0 230 1 1.1 0.9;");
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "gs.m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bus_demand_mw, (std::vector<double>{0.0, 0.0, 300.0}));
  EXPECT_EQ(c->bus_shunt_mw, (std::vector<double>{0.0, 0.0, 20.0}));
  EXPECT_EQ(c->bus_load_mw, (std::vector<double>{0.0, 0.0, 320.0}));
  absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(c->network);
  ASSERT_TRUE(opf.ok()) << opf.status();
  absl::StatusOr<DispatchResult> r = (*opf)->Solve(c->bus_load_mw, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->generation_mw[0], 130.0, 1e-6);
  EXPECT_NEAR(r->generation_mw[1], 190.0, 1e-6);
  EXPECT_NEAR(r->generation_cost_per_hour, 5100.0, 1e-6);
  EXPECT_NEAR(r->lmp_per_mwh[2], 30.0, 1e-6);
  // A non-finite GS is an error naming the column.
  ExpectError(ParseMatpowerCase(Replace(kSmallCase, "  3 1 300 0 0 0", "  3 1 300 0 NaN 0"), "t.m"),
              7, {"mpc.bus row 3", "GS must be finite, got nan"});
}

TEST(MatpowerTest, NegativeReactanceAndPhaseShiftFollowMakeBdc) {
  // Branch 2 (1-3) gets x = -0.4 with RATIO 0.5: b = 1 / (x * tap), so the DC
  // reactance is -0.2. Branch 3 (2-3) gets a 0.5729578-degree phase shift.
  std::string text =
      Replace(kSmallCase, "  1 3 0 0.1 0 150 0 0 0 0 1;", "  1 3 0 -0.4 0 150 0 0 0.5 0 1;");
  text = Replace(text, "  2 3 0 0.1 0 0   0 0 0 0 1;", "  2 3 0 0.1 0 0   0 0 0 0.5729578 1;");
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "neg.m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->network.lines[1].reactance_pu, -0.2);
  EXPECT_EQ(c->network.lines[1].phase_shift_rad, 0.0);
  EXPECT_NEAR(c->network.lines[2].phase_shift_rad, 0.01, 1e-9);
  // x * RATIO = 0 has no flow equation.
  ExpectError(
      ParseMatpowerCase(Replace(kSmallCase, "  1 3 0 0.1 0 150", "  1 3 0 0 0 150"), "t.m"), 15,
      {"mpc.branch row 2", "BR_X * RATIO must be nonzero and finite for a DC model, got 0 * 1"});
  ExpectError(ParseMatpowerCase(Replace(kSmallCase, "  2 3 0 0.1 0 0   0 0 0 0 1;",
                                        "  2 3 0 0.1 0 0   0 0 0 Inf 1;"),
                                "t.m"),
              16, {"mpc.branch row 3", "SHIFT must be finite, got inf"});
}

TEST(MatpowerTest, MapsBusNumbersAndDropsOutOfServiceElements) {
  const std::string text = R"(function mpc = numbered
mpc.version = '2';
mpc.baseMVA = 50;
mpc.bus = [
  10 3 5  0 0 0 1 1 0 230 1 1.1 0.9;
  30 1 -2 0 0 0 1 1 0 230 1 1.1 0.9;
  20 1 40 0 0 0 1 1 0 230 1 1.1 0.9;
];
mpc.gen = [
  30 0 0 0 0 1 100 1 80 5;
  20 0 0 0 0 1 100 0 80 0;
  10 0 0 0 0 1 100 1 60 0;
];
mpc.branch = [
  10 30 0 0.05 0 0  0 0 2 0 1;
  30 20 0 0.2  0 70 0 0 0 0 1;
  10 20 0 0.3  0 0  0 0 0 0 0;
];
mpc.gencost = [
  2 0 0 3 0.5 11 7;
  2 0 0 1 4   0  0;
  2 0 0 1 9   0  0;
  2 0 0 2 1   2  0;
];
)";
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "numbered.m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->network.base_mva, 50.0);
  EXPECT_EQ(c->bus_numbers, (std::vector<int>{10, 30, 20}));
  EXPECT_EQ(c->network.buses[1].name, "30");
  EXPECT_EQ(c->bus_load_mw, (std::vector<double>{5, -2, 40}));
  // Row 2 is out of service; names keep the file's row numbers.
  ASSERT_EQ(c->network.generators.size(), 2u);
  const Generator& g1 = c->network.generators[0];
  EXPECT_EQ(g1.name, "gen1");
  EXPECT_EQ(g1.bus, 1);
  EXPECT_EQ(g1.pmin_mw, 5.0);
  EXPECT_EQ(g1.cost_quadratic, 0.5);
  EXPECT_EQ(g1.cost_linear, 11.0);
  EXPECT_EQ(g1.cost_fixed, 7.0);
  const Generator& g3 = c->network.generators[1];
  EXPECT_EQ(g3.name, "gen3");
  EXPECT_EQ(g3.bus, 0);
  // NCOST = 1: only a constant.
  EXPECT_EQ(g3.cost_quadratic, 0.0);
  EXPECT_EQ(g3.cost_linear, 0.0);
  EXPECT_EQ(g3.cost_fixed, 9.0);
  ASSERT_EQ(c->network.lines.size(), 2u);
  EXPECT_EQ(c->network.lines[0].name, "branch1");
  // makeBdc: b = 1 / (x * tap).
  EXPECT_DOUBLE_EQ(c->network.lines[0].reactance_pu, 0.1);
  EXPECT_EQ(c->network.lines[1].from_bus, 1);
  EXPECT_EQ(c->network.lines[1].to_bus, 2);
  EXPECT_EQ(c->network.lines[1].limit_mw, 70.0);
}

TEST(MatpowerTest, AcceptsMatlabSyntaxVariants) {
  // CRLF line ends, comments inside matrices, several rows on one line, rows
  // without ';', commas, '...' continuations, Inf and other float spellings,
  // extra fields, cell arrays (with a '}' inside a string) and a numeric
  // version are all valid MATLAB for the same triangle.
  std::string text =
      "function mpc = variants % trailing comment\r\n"
      "mpc.version = 2;\r\n"
      "mpc.baseMVA=1e2 ;\r\n"
      "mpc.bus = [ 1, 3, 0, 0, 0, 0, 1, 1, 0, 230, 1, 1.1, 0.9 ; % first row\r\n"
      "  2 2 .0 0 0 0 1 1 0 230 1 1.1 0.9; 3 1 3.e2 0 0 0 1 1 0 230 1 1.1 0.9\r\n"
      "];\r\n"
      "mpc.gen = [\r\n"
      "  1 0 0 Inf -Inf 1 100 1 1000 0\r\n"
      "  2 0 0 inf -inf 1 100 1 +1E3 -0\r\n"
      "];\r\n"
      "mpc.branch = [1 2 0 0.1 0 0 0 0 0 0 1; 1 3 0 ...  split here\r\n"
      "   0.1 0 150 0 0 0 0 1; 2 3 0 1e-1 0 0 0 0 0 0 1;];\r\n"
      "mpc.areas = [1 1];\r\n"
      "mpc.bus_name = {\r\n  'Bus 1 }';\r\n  'it''s 2';\r\n  \"three\";\r\n};\r\n"
      "mpc.gencost = [\r\n\r\n  2 0 0 2 10 0;\r\n  2 0 0 2 20 0;\r\n];\r\n"
      "mpc.note = 'ignored';\r\n"
      "return;\r\n";
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "variants.m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bus_load_mw, (std::vector<double>{0.0, 0.0, 300.0}));
  EXPECT_EQ(c->network.generators[1].pmax_mw, 1000.0);
  ExpectHandTriangleOpf(*c);
}

TEST(MatpowerErrorTest, MissingRequiredMatrix) {
  const std::string text =
      Replace(kSmallCase, "mpc.gencost = [\n  2 0 0 2 10 0;\n  2 0 0 2 20 0;\n];\n", "");
  ExpectError(ParseMatpowerCase(text, "t.m"), LineCount(text),
              {"missing required matrix mpc.gencost"});
}

TEST(MatpowerErrorTest, WrongColumnCount) {
  const std::string text = Replace(kSmallCase, "  2 2 0   0 0 0 1 1 0 230 1 1.1 0.9;",
                                   "  2 2 0   0 0 0 1 1 0 230 1 1.1;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 6, {"mpc.bus row 2", "at least 13 columns, got 12"});
}

TEST(MatpowerErrorTest, RaggedMatrix) {
  const std::string text =
      Replace(kSmallCase, "  2 0 0 0 0 1 100 1 1000 0;", "  2 0 0 0 0 1 100 1 1000 0 7;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 11,
              {"mpc.gen row 2", "has 11 columns but row 1 has 10"});
}

TEST(MatpowerErrorTest, UnknownBusReferenced) {
  const std::string text =
      Replace(kSmallCase, "  2 3 0 0.1 0 0   0 0 0 0 1;", "  2 7 0 0.1 0 0   0 0 0 0 1;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 16,
              {"mpc.branch row 3", "T_BUS 7 is not a bus number in mpc.bus"});
  const std::string gen_text =
      Replace(kSmallCase, "  2 0 0 0 0 1 100 1 1000 0;", "  4 0 0 0 0 1 100 1 1000 0;");
  ExpectError(ParseMatpowerCase(gen_text, "t.m"), 11,
              {"mpc.gen row 2", "GEN_BUS 4 is not a bus number"});
}

TEST(MatpowerErrorTest, VersionOtherThan2) {
  ExpectError(ParseMatpowerCase(Replace(kSmallCase, "'2'", "'1'"), "t.m"), 2,
              {"mpc.version is '1'", "only MATPOWER case format version '2'"});
  const std::string text = Replace(kSmallCase, "mpc.version = '2';\n", "");
  ExpectError(ParseMatpowerCase(text, "t.m"), LineCount(text), {"missing mpc.version"});
}

TEST(MatpowerErrorTest, PiecewiseLinearCostIsUnsupported) {
  const std::string text = Replace(kSmallCase, "  2 0 0 2 20 0;", "  1 0 0 2 20 0;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 20,
              {"mpc.gencost row 2", "MODEL 1 (piecewise-linear cost) is unsupported"});
}

TEST(MatpowerErrorTest, CubicCostIsUnsupported) {
  std::string text = Replace(kSmallCase, "  2 0 0 2 10 0;", "  2 0 0 4 1 0 10 0;");
  text = Replace(text, "  2 0 0 2 20 0;", "  2 0 0 2 20 0 0 0;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 19, {"mpc.gencost row 1", "NCOST 4"});
}

TEST(MatpowerErrorTest, NegativePmax) {
  const std::string text =
      Replace(kSmallCase, "  1 0 0 0 0 1 100 1 1000 0;", "  1 0 0 0 0 1 100 1 -5 0;");
  ExpectError(ParseMatpowerCase(text, "t.m"), 10, {"mpc.gen row 1", "PMAX must be >= 0, got -5"});
}

TEST(MatpowerErrorTest, TruncatedFile) {
  const std::string text(kSmallCase.substr(0, kSmallCase.find("1 3 0 0.1")));
  ExpectError(ParseMatpowerCase(text, "t.m"), 15, {"mpc.branch", "unterminated matrix", "line 13"});
}

TEST(MatpowerErrorTest, NonNumericToken) {
  const std::string text = Replace(kSmallCase, "  1 3 0 0.1 0 150 0", "  1 3 0 0.1 0 15O 0");
  ExpectError(ParseMatpowerCase(text, "t.m"), 15, {"mpc.branch row 2", "non-numeric token '15O'"});
  const std::string nul = Replace(kSmallCase, "  3 1 300", std::string("  3 1 3\0x", 9));
  ExpectError(ParseMatpowerCase(nul, "t.m"), 7, {"mpc.bus row 3", "non-numeric token"});
}

TEST(MatpowerErrorTest, UnsupportedStatements) {
  ExpectError(ParseMatpowerCase(absl::StrCat(kSmallCase, "mpc.gen(:, 9) = 5;\n"), "t.m"), 22,
              {"mpc.gen", "whole-field assignments"});
  ExpectError(ParseMatpowerCase(absl::StrCat(kSmallCase, "x = 1;\n"), "t.m"), 22, {"'x'"});
  ExpectError(ParseMatpowerCase(absl::StrCat(kSmallCase, "mpc.bus = [];\n"), "t.m"), 22,
              {"mpc.bus is assigned twice"});
}

TEST(MatpowerErrorTest, ValidationErrorsNameTheSource) {
  // Taking both lines to bus 3 out of service islands it.
  std::string text =
      Replace(kSmallCase, "  1 3 0 0.1 0 150 0 0 0 0 1;", "  1 3 0 0.1 0 150 0 0 0 0 0;");
  text = Replace(text, "  2 3 0 0.1 0 0   0 0 0 0 1;", "  2 3 0 0.1 0 0   0 0 0 0 0;");
  absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "t.m");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "t.m: network: buses {2} are not connected to bus 0");
}

TEST(MatpowerErrorTest, MissingFileIsNotFound) {
  absl::StatusOr<MatpowerCase> c = LoadMatpowerFile(TestData("no_such_case.m"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("no_such_case.m"));
}

// ---------------------------------------------------------------------------
// Seeded random mutations of valid cases: the parser must never crash (run
// under ASan/UBSan too) and must either succeed with a network that validates
// (and that the OPF accepts) or fail with a located INVALID_ARGUMENT.
std::string Mutate(std::string text, CounterRng& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng.NextU64() % n); };
  static const char* const kGarbage[] = {"[",           "]",
                                         ";",           "{",
                                         "}",           "'",
                                         "\"",          "...",
                                         "%",           "Inf",
                                         "-inf",        "NaN",
                                         "1e999",       "1e-999",
                                         "mpc.bus = [", "mpc.version = '2';",
                                         "=",           ".",
                                         "\n",          "abc",
                                         "0x10",        "1..2",
                                         "+-3",         "2147483648",
                                         "-1",          "1e9",
                                         "1.5",         "mpc.",
                                         "function",    "mpc.gencost = [1 0 0 2 1 2];"};
  const int edits = 1 + static_cast<int>(rng.NextU64() % 3);
  for (int e = 0; e < edits; ++e) {
    switch (rng.NextU64() % 7) {
      case 0:  // truncate
        text.resize(pick(text.size() + 1));
        break;
      case 1:  // delete a run
        if (!text.empty()) {
          const size_t at = pick(text.size());
          text.erase(at, 1 + pick(8));
        }
        break;
      case 2:  // duplicate a run
        if (!text.empty()) {
          const size_t at = pick(text.size());
          text.insert(at, text.substr(at, 1 + pick(40)));
        }
        break;
      case 3:  // replace a character with a random byte (NUL included)
        if (!text.empty()) {
          text[pick(text.size())] = static_cast<char>(rng.NextU64() & 0xff);
        }
        break;
      case 4: {  // swap two lines
        std::vector<std::string> lines = absl::StrSplit(text, '\n');
        if (lines.size() >= 2) {
          std::swap(lines[pick(lines.size())], lines[pick(lines.size())]);
        }
        text = absl::StrJoin(lines, "\n");
        break;
      }
      case 5:  // insert a garbage token
        text.insert(pick(text.size() + 1), kGarbage[pick(sizeof(kGarbage) / sizeof(kGarbage[0]))]);
        break;
      case 6:  // replace a digit, which keeps the syntax but changes values
        for (int tries = 0; tries < 20 && !text.empty(); ++tries) {
          const size_t at = pick(text.size());
          if (text[at] >= '0' && text[at] <= '9') {
            text[at] = static_cast<char>('0' + pick(10));
            break;
          }
        }
        break;
    }
  }
  return text;
}

TEST(MatpowerFuzzTest, RandomMutationsNeverCrash) {
  std::vector<std::string> bases = {std::string(kSmallCase)};
  for (const char* file : {"case3_triangle.m", "case5.m"}) {
    std::ifstream in(TestData(file), std::ios::binary);
    ASSERT_TRUE(in) << file;
    bases.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  CounterRng rng(2024, RngPurpose::kTest, 42);
  int ok = 0, errors = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string text = Mutate(bases[i % bases.size()], rng);
    absl::StatusOr<MatpowerCase> c = ParseMatpowerCase(text, "fuzz.m");
    if (c.ok()) {
      ++ok;
      ASSERT_TRUE(ValidateNetwork(c->network).ok()) << i;
      ASSERT_EQ(c->bus_load_mw.size(), c->network.buses.size());
      ASSERT_EQ(c->bus_numbers.size(), c->network.buses.size());
      absl::StatusOr<std::unique_ptr<DcOpf>> opf = DcOpf::Create(c->network);
      if (!opf.ok()) {
        // Mutated digits can give numbers beyond the solver's range, or
        // negative reactances that cancel positive ones.
        ASSERT_EQ(opf.status().code(), absl::StatusCode::kInvalidArgument) << opf.status();
        ASSERT_THAT(opf.status().message(),
                    AnyOf(HasSubstr("for the solver"), HasSubstr("matrix is singular")));
        continue;
      }
      absl::StatusOr<DispatchResult> r = (*opf)->Solve(c->bus_load_mw, 0);
      // Infeasible (no spill) or a load beyond the solver's range.
      if (!r.ok() && r.status().code() != absl::StatusCode::kInternal) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
        EXPECT_THAT(r.status().message(), HasSubstr("for the solver"));
      }
    } else {
      ++errors;
      ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << i << ": " << c.status();
      ASSERT_THAT(std::string(c.status().message()), StartsWith("fuzz.m:")) << i;
    }
  }
  // Both outcomes must actually be exercised.
  EXPECT_GT(ok, 100);
  EXPECT_GT(errors, 500);
  RecordProperty("parsed_ok", ok);
}

}  // namespace
}  // namespace smfg::env
