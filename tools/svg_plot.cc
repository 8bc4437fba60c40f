#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "fmt/format.h"

namespace router::cli {
namespace {

constexpr double kWidth = 960, kHeight = 600;
constexpr double kLeft = 80, kRight = 250, kTop = 50, kBottom = 60;  // margins
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22"};

// Maps data to pixels: log10 of cost on x, quality on y.
struct Axes {
  double log_lo, log_hi, q_lo, q_hi, min_cost;
  double X(double cost) const {
    const double c = std::log10(std::max(cost, min_cost));
    return kLeft + (c - log_lo) / (log_hi - log_lo) * (kWidth - kLeft - kRight);
  }
  double Y(double quality) const {
    return kTop + (q_hi - quality) / (q_hi - q_lo) * (kHeight - kTop - kBottom);
  }
};

Axes FitAxes(const CostQualityPlot& plot) {
  double c_lo = std::numeric_limits<double>::infinity(), c_hi = 0.0;
  double q_lo = std::numeric_limits<double>::infinity(), q_hi = -q_lo;
  auto add = [&](const OperatingPoint& p) {
    if (!std::isfinite(p.cost_usd) || !std::isfinite(p.quality)) return;
    if (p.cost_usd > 0.0) c_lo = std::min(c_lo, p.cost_usd), c_hi = std::max(c_hi, p.cost_usd);
    q_lo = std::min(q_lo, p.quality), q_hi = std::max(q_hi, p.quality);
  };
  for (const PlotSeries& s : plot.series) {
    for (const OperatingPoint& p : s.points) add(p);
    for (const OperatingPoint& p : s.hull) add(p);
  }
  for (const PlotMarker& m : plot.models) add(m.point);
  if (plot.oracle) add(plot.oracle->point);
  if (!(c_hi > 0.0)) c_lo = 1e-6, c_hi = 1e-3;
  if (!(q_hi >= q_lo)) q_lo = 0.0, q_hi = 1.0;
  Axes axes;
  // A little room on each side; at least a decade of cost, 0.1 of quality.
  axes.log_lo = std::log10(c_lo) - 0.08;
  axes.log_hi = std::log10(c_hi) + 0.08;
  if (axes.log_hi - axes.log_lo < 1.0) {
    const double mid = (axes.log_lo + axes.log_hi) / 2;
    axes.log_lo = mid - 0.5, axes.log_hi = mid + 0.5;
  }
  axes.q_lo = std::max(0.0, std::floor((q_lo - 0.03) * 20) / 20);
  axes.q_hi = std::min(1.0, std::ceil((q_hi + 0.03) * 20) / 20);
  if (axes.q_hi - axes.q_lo < 0.1) axes.q_hi = axes.q_lo + 0.1;
  axes.min_cost = std::pow(10.0, axes.log_lo);
  return axes;
}

std::string Polyline(const Axes& axes, const std::vector<OperatingPoint>& points,
                     const std::string& color, bool dashed) {
  std::string coords;
  for (const OperatingPoint& p : points) {
    if (!std::isfinite(p.cost_usd) || !std::isfinite(p.quality)) continue;
    coords += fmt::format("{:.1f},{:.1f} ", axes.X(p.cost_usd), axes.Y(p.quality));
  }
  return fmt::format(
      "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", coords,
      color, dashed ? " stroke-dasharray=\"6,4\"" : "");
}

void DrawAxes(const Axes& axes, const std::string& title, std::string* svg) {
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = kTop, y1 = kHeight - kBottom;
  *svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                      "stroke=\"#333\"/>\n", x0, y0, x1 - x0, y1 - y0);
  // Cost ticks at 1, 2 and 5 times each power of ten.
  for (int e = static_cast<int>(std::floor(axes.log_lo)); e <= std::ceil(axes.log_hi); ++e) {
    for (int m : {1, 2, 5}) {
      const double cost = m * std::pow(10.0, e), lc = std::log10(cost);
      if (lc < axes.log_lo || lc > axes.log_hi) continue;
      const double x = axes.X(cost);
      *svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" "
                          "stroke=\"{3}\"/>\n", x, y0, y1, m == 1 ? "#ccc" : "#eee");
      *svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}e{}</text>\n",
                          x, y1 + 16, m, e);
    }
  }
  for (int i = 0; i <= 20; ++i) {
    const double q = std::round((axes.q_lo + i * 0.05) * 100) / 100;
    if (q > axes.q_hi + 1e-9) break;
    const double y = axes.Y(q);
    *svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n",
                        x0, y, x1, y);
    *svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.2f}</text>\n",
                        x0 - 6, y + 4, q);
  }
  *svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">mean cost per query "
                      "(USD, log scale)</text>\n", (x0 + x1) / 2, kHeight - 18);
  *svg += fmt::format("<text x=\"20\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 "
                      "20 {})\">mean quality</text>\n", (y0 + y1) / 2, (y0 + y1) / 2);
  *svg += fmt::format("<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">{}"
                      "</text>\n", (x0 + x1) / 2, EscapeXml(title));
}

}  // namespace

std::string EscapeXml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// The series (hull as a line, raw points as small dots) and their legend
// entries from `legend_y` down; returns the legend's next line.
double DrawSeries(const Axes& axes, const CostQualityPlot& plot, double legend_x,
                  double legend_y, std::string* svg) {
  size_t color_index = 0;
  for (const PlotSeries& s : plot.series) {
    const std::string color =
        s.dashed ? "#7f7f7f" : kPalette[color_index++ % std::size(kPalette)];
    *svg += fmt::format("<g><title>{}</title>\n", EscapeXml(s.name));
    *svg += Polyline(axes, s.hull, color, s.dashed);
    for (const OperatingPoint& p : s.points) {
      if (!std::isfinite(p.cost_usd) || !std::isfinite(p.quality)) continue;
      *svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\" "
                          "fill-opacity=\"0.6\"/>\n", axes.X(p.cost_usd), axes.Y(p.quality), color);
    }
    *svg += "</g>\n";
    *svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
                        "stroke-width=\"2\"{4}/>\n", legend_x, legend_y, legend_x + 24, color,
                        s.dashed ? " stroke-dasharray=\"6,4\"" : "");
    *svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", legend_x + 30, legend_y + 4,
                        EscapeXml(s.name));
    legend_y += 18;
  }
  return legend_y;
}

// Where a point's label goes: right of the point, or left of it when it
// would run into the legend's column; pushed down until it clears the
// labels placed before it.
class LabelPlacer {
 public:
  explicit LabelPlacer(double right_limit) : right_limit_(right_limit) {}

  struct Label {
    double x;          // the anchor
    double baseline;
    bool ends_at_x;    // text-anchor="end"
  };

  // A label of `chars` characters for a point at (x, y), `gap` away from it.
  Label Place(double x, double y, size_t chars, double gap) {
    const double width = 6.2 * static_cast<double>(chars);  // 11px sans-serif
    const bool ends_at_x = x + gap + width > right_limit_;
    const double left = ends_at_x ? x - gap - width : x + gap;
    double baseline = y + 4;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& [other_left, other_width, other_baseline] : placed_) {
        const bool overlap_x = left < other_left + other_width && other_left < left + width;
        if (overlap_x && std::abs(other_baseline - baseline) < 13) {
          baseline = other_baseline + 13;
          moved = true;
        }
      }
    }
    placed_.emplace_back(left, width, baseline);
    return {ends_at_x ? x - gap : x + gap, baseline, ends_at_x};
  }

 private:
  double right_limit_;
  std::vector<std::tuple<double, double, double>> placed_;  // left, width, baseline
};

// `label` as an SVG text element at `at`.
std::string LabelText(const LabelPlacer::Label& at, std::string_view attributes,
                      const std::string& label) {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\"{}{}>{}</text>\n", at.x, at.baseline,
                     at.ends_at_x ? " text-anchor=\"end\"" : "", attributes, EscapeXml(label));
}

// Single models as labelled points, best quality first.
void DrawModels(const Axes& axes, const CostQualityPlot& plot, LabelPlacer* labels,
                std::string* svg) {
  std::vector<PlotMarker> models = plot.models;
  std::sort(models.begin(), models.end(), [](const PlotMarker& a, const PlotMarker& b) {
    return a.point.quality > b.point.quality;
  });
  for (const PlotMarker& m : models) {
    const double x = axes.X(m.point.cost_usd), y = axes.Y(m.point.quality);
    *svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#222\"><title>{} "
                        "(cost {:.3g}, quality {:.3f})</title></circle>\n", x, y,
                        EscapeXml(m.label), m.point.cost_usd, m.point.quality);
    *svg += LabelText(labels->Place(x, y, m.label.size(), 7), " font-size=\"11\" fill=\"#222\"",
                      m.label);
  }
}

// A five-pointed star's points around (cx, cy).
std::string Star(double cx, double cy, double r) {
  std::string points;
  for (int i = 0; i < 10; ++i) {
    const double angle = -M_PI / 2 + i * M_PI / 5, radius = i % 2 ? r * 0.45 : r;
    points += fmt::format("{:.1f},{:.1f} ", cx + radius * std::cos(angle),
                          cy + radius * std::sin(angle));
  }
  return points;
}

// The oracle as a star; its label clears the models' labels.
void DrawOracle(const Axes& axes, const PlotMarker& oracle, double legend_x, double legend_y,
                LabelPlacer* labels, std::string* svg) {
  const OperatingPoint& p = oracle.point;
  const double x = axes.X(p.cost_usd), y = axes.Y(p.quality);
  *svg += fmt::format("<polygon points=\"{}\" fill=\"#d62728\"><title>{} (cost {:.3g}, "
                      "quality {:.3f})</title></polygon>\n", Star(x, y, 8),
                      EscapeXml(oracle.label), p.cost_usd, p.quality);
  *svg += LabelText(labels->Place(x, y, oracle.label.size(), 10), " fill=\"#d62728\"",
                    oracle.label);
  *svg += fmt::format("<polygon points=\"{}\" fill=\"#d62728\"/>\n<text x=\"{}\" y=\"{}\">"
                      "oracle</text>\n", Star(legend_x + 12, legend_y, 7), legend_x + 30,
                      legend_y + 4);
}

}  // namespace

std::string RenderSvg(const CostQualityPlot& plot) {
  const Axes axes = FitAxes(plot);
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", kWidth, kHeight);
  DrawAxes(axes, plot.title, &svg);
  const double legend_x = kWidth - kRight + 20;
  double legend_y = DrawSeries(axes, plot, legend_x, kTop + 10, &svg);
  LabelPlacer labels(legend_x - 10);
  DrawModels(axes, plot, &labels, &svg);
  svg += fmt::format("<circle cx=\"{0}\" cy=\"{1}\" r=\"4\" fill=\"#222\"/>\n"
                     "<text x=\"{2}\" y=\"{3}\">single model</text>\n",
                     legend_x + 12, legend_y, legend_x + 30, legend_y + 4);
  legend_y += 18;
  if (plot.oracle) DrawOracle(axes, *plot.oracle, legend_x, legend_y, &labels, &svg);
  svg += "</svg>\n";
  return svg;
}

}  // namespace router::cli
