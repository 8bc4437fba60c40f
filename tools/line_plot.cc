#include "line_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fmt/format.h"
#include "svg_plot.h"

namespace router::cli {
namespace {

constexpr double kLeft = 80, kRight = 260, kTop = 50, kBottom = 60;
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22"};

// A "nice" tick step (1, 2 or 5 times a power of ten) for about 8 ticks.
double TickStep(double span) {
  const double raw = span / 8;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

}  // namespace

std::string RenderLineChart(const LineChart& chart, double width, double height) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  for (const LineSeries& s : chart.series) {
    for (auto [x, y] : s.xy) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  for (const ReferenceLine& r : chart.references) {
    if (std::isfinite(r.y)) y_lo = std::min(y_lo, r.y), y_hi = std::max(y_hi, r.y);
  }
  if (!(x_hi > x_lo)) x_lo = 0, x_hi = 1;
  if (!(y_hi > y_lo)) y_lo = std::isfinite(y_lo) ? y_lo - 0.5 : 0, y_hi = y_lo + 1;
  const double pad = (y_hi - y_lo) * 0.05;
  y_lo -= pad, y_hi += pad;
  const double x0 = kLeft, x1 = width - kRight, y0 = kTop, y1 = height - kBottom;
  auto X = [&](double x) { return x0 + (x - x_lo) / (x_hi - x_lo) * (x1 - x0); };
  auto Y = [&](double y) { return y0 + (y_hi - y) / (y_hi - y_lo) * (y1 - y0); };

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<rect x=\"{2}\" y=\"{3}\" width=\"{4}\" height=\"{5}\" fill=\"none\" stroke=\"#333\"/>\n",
      width, height, x0, y0, x1 - x0, y1 - y0);
  const double x_step = TickStep(x_hi - x_lo), y_step = TickStep(y_hi - y_lo);
  for (double x = std::ceil(x_lo / x_step) * x_step; x <= x_hi + 1e-12; x += x_step) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/>\n"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
                       X(x), y0, y1, y1 + 16, x);
  }
  for (double y = std::ceil(y_lo / y_step) * y_step; y <= y_hi + 1e-12; y += y_step) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#eee\"/>\n"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.3g}</text>\n",
                       x0, Y(y), x1, x0 - 6, Y(y) + 4, y);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2,
                     height - 18, EscapeXml(chart.x_label));
  svg += fmt::format("<text x=\"20\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 20 "
                     "{0})\">{1}</text>\n", (y0 + y1) / 2, EscapeXml(chart.y_label));
  svg += fmt::format("<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                     (x0 + x1) / 2, EscapeXml(chart.title));

  double legend_y = y0 + 10;
  const double legend_x = x1 + 20;
  size_t color_index = 0;
  for (const LineSeries& s : chart.series) {
    const std::string color =
        s.color.empty() ? kPalette[color_index++ % std::size(kPalette)] : s.color;
    std::string points;
    for (auto [x, y] : s.xy) {
      if (std::isfinite(x) && std::isfinite(y)) points += fmt::format("{:.1f},{:.1f} ", X(x), Y(y));
    }
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
                       "stroke-opacity=\"{}\"/>\n", points, color, s.width, s.opacity);
    if (s.name.empty()) continue;
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
                       "stroke-width=\"2\"/>\n<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                       legend_x, legend_y, legend_x + 24, color, legend_x + 30, legend_y + 4,
                       EscapeXml(s.name));
    legend_y += 18;
  }
  for (const ReferenceLine& r : chart.references) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#555\" "
                       "stroke-dasharray=\"6,4\"/>\n<text x=\"{3}\" y=\"{4:.1f}\" "
                       "fill=\"#555\">{5}</text>\n",
                       x0, Y(r.y), x1, x1 + 6, Y(r.y) + 4, EscapeXml(r.label));
  }
  return svg + "</svg>\n";
}

}  // namespace router::cli
