#include "common/svg_plot.h"

#include "gtest/gtest.h"

namespace smfg {
namespace {

TEST(NiceTicksTest, CoversRangeWithRoundSteps) {
  const std::vector<double> t = NiceTicks(0.3, 9.2, 6);
  ASSERT_GE(t.size(), 2u);
  EXPECT_LE(t.front(), 0.3);
  EXPECT_GE(t.back(), 9.2);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 2.0);
}

TEST(SvgPlotTest, LineChartHasOnePolylinePerSeriesAndEscapesText) {
  LineChart c{"LMP <bus>", "hour", "$/MWh", {0, 1, 2}, {{"a", {1, 2, 3}}, {"b", {3, 2, 1}}}};
  const std::string svg = RenderSvg(c);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t count = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++count;
  EXPECT_EQ(count, 2u);
  EXPECT_NE(svg.find("LMP &lt;bus&gt;"), std::string::npos);
}

TEST(SvgPlotTest, BarChartDrawsEveryBar) {
  BarChart c{"EEI", "%", {"low", "high"}, {{"flat", {5, 2}}, {"tou", {4, -1}}}};
  const std::string svg = RenderSvg(c);
  size_t count = 0;
  for (size_t p = svg.find("<rect x="); p != std::string::npos; p = svg.find("<rect x=", p + 1))
    ++count;
  EXPECT_EQ(count, 4u + 2u);  // 4 bars + 2 legend swatches
}

}  // namespace
}  // namespace smfg
