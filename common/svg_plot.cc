#include "common/svg_plot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"

namespace smfg {
namespace {

constexpr double kWidth = 780, kHeight = 420;
constexpr double kLeft = 70, kRight = 230, kTop = 40, kBottom = 55;
const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

const char* Color(size_t i) { return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))]; }

struct Frame {
  double x0, x1, y0, y1;
  double X(double x) const { return kLeft + (x - x0) / (x1 - x0) * (kWidth - kLeft - kRight); }
  double Y(double y) const {
    return kHeight - kBottom - (y - y0) / (y1 - y0) * (kHeight - kTop - kBottom);
  }
};

std::string Header(const std::string& title) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n",
      kWidth, kHeight, kWidth / 2, Escape(title));
}

std::string YAxis(const Frame& f, const std::vector<double>& ticks, const std::string& label) {
  std::string s;
  for (double t : ticks) {
    absl::StrAppendFormat(
        &s,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
        kLeft, f.Y(t), kWidth - kRight, f.Y(t), kLeft - 6, f.Y(t) + 4, t);
  }
  absl::StrAppendFormat(&s,
                        "<text transform=\"translate(16,%.0f) rotate(-90)\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        (kTop + kHeight - kBottom) / 2, Escape(label));
  return s;
}

std::string Legend(const std::vector<PlotSeries>& series) {
  std::string s;
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = kTop + 10 + 18 * i;
    absl::StrAppendFormat(&s,
                          "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                          "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                          kWidth - kRight + 12, y - 10, Color(i), kWidth - kRight + 30, y,
                          Escape(series[i].name));
  }
  return s;
}

void Range(const std::vector<PlotSeries>& series, bool include_zero, double* lo, double* hi) {
  *lo = include_zero ? 0 : 1e300;
  *hi = include_zero ? 0 : -1e300;
  for (const PlotSeries& p : series) {
    for (double v : p.y) {
      if (!std::isfinite(v)) continue;
      *lo = std::min(*lo, v);
      *hi = std::max(*hi, v);
    }
  }
  if (*lo > *hi) *lo = 0, *hi = 1;
  if (*hi - *lo < 1e-12) *lo -= 1, *hi += 1;
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  // Integer tick indices avoid accumulating round-off in t.
  const long first = static_cast<long>(std::floor(lo / step + 1e-9));
  const long last = static_cast<long>(std::ceil(hi / step - 1e-9));
  for (long i = first; i <= std::max(last, first + 1); ++i) ticks.push_back(i * step);
  return ticks;
}

std::string RenderSvg(const LineChart& c) {
  double lo, hi;
  Range(c.series, false, &lo, &hi);
  const std::vector<double> yt = NiceTicks(lo, hi);
  const double x0 = c.x.empty() ? 0 : c.x.front(), x1 = c.x.empty() ? 1 : c.x.back();
  const Frame f{x0, x1 > x0 ? x1 : x0 + 1, yt.front(), yt.back()};
  std::string s = Header(c.title) + YAxis(f, yt, c.y_label);
  for (double t : NiceTicks(f.x0, f.x1, 8)) {
    if (t < f.x0 || t > f.x1) continue;
    absl::StrAppendFormat(&s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                          f.X(t), kHeight - kBottom + 16, t);
  }
  absl::StrAppendFormat(&s, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                        (kLeft + kWidth - kRight) / 2, kHeight - 14, Escape(c.x_label));
  for (size_t i = 0; i < c.series.size(); ++i) {
    std::string points;
    const std::vector<double>& y = c.series[i].y;
    for (size_t k = 0; k < y.size() && k < c.x.size(); ++k) {
      if (std::isfinite(y[k])) absl::StrAppendFormat(&points, "%.1f,%.1f ", f.X(c.x[k]), f.Y(y[k]));
    }
    absl::StrAppendFormat(
        &s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n", Color(i),
        points);
  }
  return s + Legend(c.series) + "</svg>\n";
}

std::string RenderSvg(const BarChart& c) {
  double lo, hi;
  Range(c.series, true, &lo, &hi);
  const std::vector<double> yt = NiceTicks(lo, hi);
  const Frame f{0, static_cast<double>(std::max<size_t>(1, c.categories.size())), yt.front(),
                yt.back()};
  std::string s = Header(c.title) + YAxis(f, yt, c.y_label);
  const double n = std::max<size_t>(1, c.series.size());
  for (size_t k = 0; k < c.categories.size(); ++k) {
    absl::StrAppendFormat(&s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          f.X(k + 0.5), kHeight - kBottom + 16, Escape(c.categories[k]));
    for (size_t i = 0; i < c.series.size(); ++i) {
      if (k >= c.series[i].y.size()) continue;
      const double v = c.series[i].y[k];
      const double left = f.X(k + 0.1 + 0.8 * i / n), right = f.X(k + 0.1 + 0.8 * (i + 1) / n);
      const double top = f.Y(std::max(v, 0.0)), bottom = f.Y(std::min(v, 0.0));
      absl::StrAppendFormat(&s,
                            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                            "fill=\"%s\"><title>%s: %g</title></rect>\n",
                            left, top, right - left, bottom - top, Color(i),
                            Escape(c.series[i].name), v);
    }
  }
  return s + Legend(c.series) + "</svg>\n";
}

}  // namespace smfg
