#include "reliability_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fmt/format.h"
#include "svg_plot.h"

namespace router::cli {
namespace {

// Panel geometry, in pixels: a square plot, the count strip under it, then
// the legend.
constexpr double kPanelWidth = 320, kPlotLeft = 50, kPlotSize = 240;
constexpr double kPlotTop = 60, kStripTop = kPlotTop + kPlotSize + 36, kStripHeight = 40;
constexpr double kLegendTop = kStripTop + kStripHeight + 20, kHeight = kLegendTop + 44;

std::string Panel(const ReliabilityPanel& panel, double left) {
  const double x0 = left + kPlotLeft, x1 = x0 + kPlotSize;
  const double y0 = kPlotTop, y1 = kPlotTop + kPlotSize;
  auto X = [&](double v) { return x0 + std::clamp(v, 0.0, 1.0) * kPlotSize; };
  auto Y = [&](double v) { return y1 - std::clamp(v, 0.0, 1.0) * kPlotSize; };
  std::string svg = fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
      (x0 + x1) / 2, y0 - 10, EscapeXml(panel.title), x0, y0, kPlotSize, kPlotSize);
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/>\n"
        "<line x1=\"{3}\" y1=\"{4:.1f}\" x2=\"{5}\" y2=\"{4:.1f}\" stroke=\"#eee\"/>\n"
        "<text x=\"{0:.1f}\" y=\"{6}\" text-anchor=\"middle\" font-size=\"10\">{7:g}</text>\n"
        "<text x=\"{8}\" y=\"{9:.1f}\" text-anchor=\"end\" font-size=\"10\">{7:g}</text>\n",
        X(v), y0, y1, x0, Y(v), x1, y1 + 12, v, x0 - 4, Y(v) + 3);
  }
  svg += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#777\" stroke-dasharray=\"5,4\"/>\n"
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">mean predicted "
      "quality</text>\n"
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 "
      "{} {})\">mean score</text>\n",
      X(0), Y(0), X(1), Y(1), (x0 + x1) / 2, y1 + 26, left + 14,
      (y0 + y1) / 2, left + 14, (y0 + y1) / 2);

  // The count strip: per bin, one bar per series side by side.
  int64_t max_count = 1;
  for (const ReliabilitySeries& s : panel.series) {
    for (const ReliabilityBin& b : s.bins) max_count = std::max(max_count, b.count);
  }
  const double strip_top = kStripTop, strip_bottom = kStripTop + kStripHeight;
  svg += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/>\n"
      "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\" font-size=\"10\">{5}</text>\n"
      "<text x=\"{3}\" y=\"{1}\" text-anchor=\"end\" font-size=\"10\">0</text>\n",
      x0, strip_bottom, x1, x0 - 4, strip_top + 8, max_count);
  const double series_count = std::max<double>(1, panel.series.size());
  for (size_t s = 0; s < panel.series.size(); ++s) {
    const ReliabilitySeries& series = panel.series[s];
    std::string points;
    for (const ReliabilityBin& b : series.bins) {
      const double bar_width = (b.upper - b.lower) * kPlotSize / series_count;
      const double height = (strip_bottom - strip_top) * b.count / max_count;
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
          "fill-opacity=\"0.6\"><title>{} {:.2f}-{:.2f}: {} pairs</title></rect>\n",
          X(b.lower) + s * bar_width, strip_bottom - height, bar_width * 0.9, height,
          series.color, EscapeXml(series.name), b.lower, b.upper, b.count);
      if (b.count == 0 || !std::isfinite(b.mean_predicted)) continue;
      points += fmt::format("{:.1f},{:.1f} ", X(b.mean_predicted), Y(b.mean_realised));
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                         X(b.mean_predicted), Y(b.mean_realised), series.color);
    }
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                       points, series.color);
    const double legend_y = kLegendTop + 16 * s;
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>\n"
        "<text x=\"{4}\" y=\"{5}\" font-size=\"11\">{6}</text>\n",
        x0, legend_y, x0 + 20, series.color, x0 + 26, legend_y + 4, EscapeXml(series.name));
  }
  return svg;
}

}  // namespace

std::string RenderReliabilityDiagram(const std::string& title,
                                     const std::vector<ReliabilityPanel>& panels) {
  const double width = kPanelWidth * std::max<size_t>(1, panels.size()) + 20;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, kHeight, width / 2, EscapeXml(title));
  for (size_t i = 0; i < panels.size(); ++i) svg += Panel(panels[i], 10 + kPanelWidth * i);
  return svg + "</svg>\n";
}

}  // namespace router::cli
