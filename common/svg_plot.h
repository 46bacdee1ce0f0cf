// Small, dependency-free SVG charts for reports: line charts (series over a
// shared x axis) and grouped bar charts. Output is a complete SVG document.
#ifndef SMFG_COMMON_SVG_PLOT_H_
#define SMFG_COMMON_SVG_PLOT_H_

#include <string>
#include <vector>

namespace smfg {

struct PlotSeries {
  std::string name;
  std::vector<double> y;  // one value per x position
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<double> x;
  std::vector<PlotSeries> series;
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;  // groups along the x axis
  std::vector<PlotSeries> series;       // one bar per series in each category
};

std::string RenderSvg(const LineChart& chart);
std::string RenderSvg(const BarChart& chart);

// "Nice" axis ticks covering [lo, hi] (about `target` of them), e.g. 0, 5, 10.
std::vector<double> NiceTicks(double lo, double hi, int target = 6);

}  // namespace smfg

#endif  // SMFG_COMMON_SVG_PLOT_H_
