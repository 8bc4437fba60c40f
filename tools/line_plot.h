// Line charts as standalone SVG (same rules as svg_plot.h: SVG 1.1 text, no
// scripts or external resources): linear axes, polylines, and labelled
// horizontal reference lines. The replay command draws its learning curves
// with it.
#ifndef ROUTER_TOOLS_LINE_PLOT_H_
#define ROUTER_TOOLS_LINE_PLOT_H_

#include <string>
#include <utility>
#include <vector>

namespace router::cli {

struct LineSeries {
  std::string name;                           // legend text; empty: not in the legend
  std::vector<std::pair<double, double>> xy;  // drawn in order
  std::string color;                          // "" = the palette's next color
  double width = 2.0;
  double opacity = 1.0;
};

struct ReferenceLine {
  std::string label;
  double y = 0.0;
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<LineSeries> series;
  std::vector<ReferenceLine> references;  // dashed, labelled at the right
};

// The SVG document, `width` x `height` pixels.
std::string RenderLineChart(const LineChart& chart, double width = 960, double height = 480);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_LINE_PLOT_H_
