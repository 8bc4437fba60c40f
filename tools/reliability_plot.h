// Reliability diagrams as standalone SVG (same rules as svg_plot.h: SVG 1.1
// text, no scripts or external resources). One panel per router: per bin of
// predicted quality, the mean predicted quality (x) against the mean score
// it got (y), for each series (before and after calibration, say), with the
// diagonal a calibrated predictor would follow; under it, the bins' pair
// counts as bars, so a bin's point can be weighed by how much it holds.
#ifndef ROUTER_TOOLS_RELIABILITY_PLOT_H_
#define ROUTER_TOOLS_RELIABILITY_PLOT_H_

#include <string>
#include <vector>

#include "router/calibration.h"

namespace router::cli {

struct ReliabilitySeries {
  std::string name;  // legend text ("before: ECE 0.061")
  std::string color;
  std::vector<ReliabilityBin> bins;  // empty bins are skipped
};

struct ReliabilityPanel {
  std::string title;  // the router
  std::vector<ReliabilitySeries> series;
};

// The SVG document: `panels` side by side under `title`.
std::string RenderReliabilityDiagram(const std::string& title,
                                     const std::vector<ReliabilityPanel>& panels);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_RELIABILITY_PLOT_H_
