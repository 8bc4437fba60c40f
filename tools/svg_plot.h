// The cost-quality plane as a standalone SVG file: hand-written SVG 1.1
// text, no scripts, no external fonts or styles, so any browser renders it.
// Cost runs along a log-scale x axis, quality along y.
#ifndef ROUTER_TOOLS_SVG_PLOT_H_
#define ROUTER_TOOLS_SVG_PLOT_H_

#include <optional>
#include <string>
#include <vector>

#include "router/evaluation.h"

namespace router::cli {

struct PlotSeries {
  std::string name;
  std::vector<OperatingPoint> points;  // drawn as dots (may be empty)
  std::vector<OperatingPoint> hull;    // drawn as a line
  bool dashed = false;                 // reference curves
};

struct PlotMarker {
  std::string label;
  OperatingPoint point;
};

struct CostQualityPlot {
  std::string title;
  std::vector<PlotSeries> series;
  std::vector<PlotMarker> models;   // single models: labelled points
  std::optional<PlotMarker> oracle;
};

// `text` with &, <, > and " escaped for SVG/XML text and attributes.
std::string EscapeXml(const std::string& text);

// The SVG document. Points with a cost <= 0 sit on the left edge.
std::string RenderSvg(const CostQualityPlot& plot);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_SVG_PLOT_H_
