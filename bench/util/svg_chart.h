#pragma once
// A dependency-free SVG line chart (linear or log axes) for the bench reports.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "format.h"
#include "table.h"

namespace scopeflow::bench {

// ---------------------------------------------------------------------------------------------
// SVG line chart

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct ChartSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log2_x = false;     // x axis in powers of two (depth, batch size, threads)
  bool log10_y = false;    // y axis logarithmic
  bool y_is_bytes = false;  // y tick labels as B/KiB/MiB/GiB
  int width = 760;
  int height = 460;
  std::vector<ChartSeries> series;
};

namespace detail {

inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch;
    }
  }
  return out;
}

// SVG coordinates with fixed precision keep the output deterministic and small.
inline std::string coord(double v) { return format_fixed(v, 2); }

// 1, 2 or 5 times a power of ten, at least `raw`.
inline double nice_step(double raw) {
  if (!(raw > 0)) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (factor * power >= raw * (1 - 1e-9)) return factor * power;
  }
  return 10 * power;
}

inline std::string number_label(double v, double step) {
  if (v == 0) return "0";
  const double magnitude = std::fabs(v);
  if (magnitude >= 1e6 || magnitude < 1e-3) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
    return buffer;
  }
  const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return format_fixed(v, decimals);
}

struct Tick {
  double position;  // in axis space (after log transform)
  std::string label;
};

struct Axis {
  double lo = 0;  // axis space
  double hi = 1;
  std::vector<Tick> ticks;
};

// Linear axis over data [lo, hi] with about five nice steps; `bytes` steps in binary units.
inline Axis linear_axis(double lo, double hi, bool include_zero, bool bytes) {
  if (include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (hi - lo <= 0) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  double unit = 1;
  if (bytes) {
    const double largest = std::max(std::fabs(lo), std::fabs(hi));
    while (unit * 1024 <= largest && unit < std::pow(1024.0, 4)) unit *= 1024;
  }
  const double step = nice_step((hi - lo) / unit / 5) * unit;
  Axis axis;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  const int count = static_cast<int>(std::llround((axis.hi - axis.lo) / step));
  for (int i = 0; i <= count; ++i) {
    double v = axis.lo + step * i;
    if (std::fabs(v) < step * 1e-9) v = 0;
    axis.ticks.push_back(Tick{v, bytes ? format_bytes(static_cast<int64_t>(std::llround(v)))
                                       : number_label(v, step)});
  }
  return axis;
}

// Axis over powers of `base` (2 or 10) for positive data [lo, hi]; positions are log10 values
// so that both bases share one transform. At most about `max_ticks` labelled ticks.
inline Axis log_axis(double lo, double hi, double base, bool bytes, int max_ticks) {
  const double log_base = std::log10(base);
  int first = static_cast<int>(std::floor(std::log10(lo) / log_base + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(hi) / log_base - 1e-9));
  if (last <= first) {
    --first;
    ++last;
  }
  const int stride = std::max(1, (last - first + max_ticks - 1) / max_ticks);
  // Start on a multiple of the stride so that labels are regular (1K, 1M, 1G...).
  while (((first % stride) + stride) % stride != 0) --first;
  while (((last - first) % stride) != 0) ++last;
  Axis axis;
  axis.lo = first * log_base;
  axis.hi = last * log_base;
  auto label = [&](double v) -> std::string {
    if (bytes) return format_bytes(static_cast<int64_t>(std::llround(v)));
    if (v >= 1 && v < 1e6) return format_fixed(v, 0);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  };
  for (int e = first; e <= last; e += stride) {
    axis.ticks.push_back(Tick{e * log_base, label(std::pow(base, e))});
  }
  // Few decades: add 2x and 5x ticks so that the axis is readable.
  if (base == 10 && !bytes && last - first <= 2) {
    for (int e = first; e < last; ++e) {
      for (double factor : {2.0, 5.0}) {
        const double v = factor * std::pow(10.0, e);
        axis.ticks.push_back(Tick{std::log10(v), label(v)});
      }
    }
    std::sort(axis.ticks.begin(), axis.ticks.end(),
              [](const Tick& a, const Tick& b) { return a.position < b.position; });
  }
  return axis;
}

}  // namespace detail

/// A self-contained SVG line chart: one coloured polyline with point markers per series and a
/// legend on the right. On log axes points with x <= 0 (log2 x) or y <= 0 (log10 y) are skipped,
/// as are non-finite points.
inline std::string svg_line_chart(const ChartSpec& spec) {
  static constexpr const char* kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                            "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  constexpr int kNumColors = 10;
  using detail::coord;
  using detail::xml_escape;

  // Points in axis space, per series, sorted by x.
  std::vector<std::vector<std::pair<double, double>>> transformed;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const ChartSeries& s : spec.series) {
    std::vector<std::pair<double, double>> points;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if ((spec.log2_x && x <= 0) || (spec.log10_y && y <= 0)) continue;
      points.emplace_back(x, y);
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    transformed.push_back(std::move(points));
  }
  const bool has_data = x_min <= x_max;
  if (!has_data) {
    x_min = spec.log2_x ? 1 : 0;
    x_max = spec.log2_x ? 2 : 1;
    y_min = spec.log10_y ? 1 : 0;
    y_max = spec.log10_y ? 10 : 1;
  }
  const detail::Axis x_axis = spec.log2_x ? detail::log_axis(x_min, x_max, 2, false, 12)
                                          : detail::linear_axis(x_min, x_max, false, false);
  const detail::Axis y_axis =
      spec.log10_y ? detail::log_axis(y_min, y_max, spec.y_is_bytes ? 2 : 10, spec.y_is_bytes, 8)
                   : detail::linear_axis(y_min, y_max, true, spec.y_is_bytes);
  auto x_space = [&](double x) { return spec.log2_x ? std::log10(x) : x; };
  auto y_space = [&](double y) { return spec.log10_y ? std::log10(y) : y; };

  // Layout: the legend's width follows its longest name (about 7 px per character at 12 px).
  size_t longest = 0;
  for (const ChartSeries& s : spec.series) longest = std::max(longest, Table::display_width(s.name));
  const double width = std::max(spec.width, 320);
  const double height = std::max(spec.height, 240);
  const double legend_width = spec.series.empty() ? 20 : 50 + 7.0 * static_cast<double>(longest);
  const double left = 84, top = spec.title.empty() ? 24 : 48, bottom = 62;
  const double right = legend_width + 16;
  const double plot_x0 = left, plot_x1 = std::max(left + 100, width - right);
  const double plot_y0 = top, plot_y1 = height - bottom;
  auto px = [&](double ax) { return plot_x0 + (ax - x_axis.lo) / (x_axis.hi - x_axis.lo) * (plot_x1 - plot_x0); };
  auto py = [&](double ay) { return plot_y1 - (ay - y_axis.lo) / (y_axis.hi - y_axis.lo) * (plot_y1 - plot_y0); };

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coord(width) + "\" height=\"" +
         coord(height) + "\" viewBox=\"0 0 " + coord(width) + " " + coord(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + coord(width) + "\" height=\"" + coord(height) +
         "\" fill=\"white\"/>\n";
  if (!spec.title.empty()) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"28\" text-anchor=\"middle\" " +
           "font-size=\"16\" font-weight=\"bold\">" + xml_escape(spec.title) + "</text>\n";
  }
  // Grid and ticks.
  for (const detail::Tick& tick : x_axis.ticks) {
    const double x = px(tick.position);
    svg += "<line x1=\"" + coord(x) + "\" y1=\"" + coord(plot_y0) + "\" x2=\"" + coord(x) +
           "\" y2=\"" + coord(plot_y1) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + coord(x) + "\" y=\"" + coord(plot_y1 + 18) +
           "\" text-anchor=\"middle\">" + xml_escape(tick.label) + "</text>\n";
  }
  for (const detail::Tick& tick : y_axis.ticks) {
    const double y = py(tick.position);
    svg += "<line x1=\"" + coord(plot_x0) + "\" y1=\"" + coord(y) + "\" x2=\"" + coord(plot_x1) +
           "\" y2=\"" + coord(y) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + coord(plot_x0 - 6) + "\" y=\"" + coord(y + 4) +
           "\" text-anchor=\"end\">" + xml_escape(tick.label) + "</text>\n";
  }
  svg += "<rect x=\"" + coord(plot_x0) + "\" y=\"" + coord(plot_y0) + "\" width=\"" +
         coord(plot_x1 - plot_x0) + "\" height=\"" + coord(plot_y1 - plot_y0) +
         "\" fill=\"none\" stroke=\"black\"/>\n";
  // Axis labels.
  if (!spec.x_label.empty()) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"" + coord(height - 16) +
           "\" text-anchor=\"middle\">" + xml_escape(spec.x_label) + "</text>\n";
  }
  if (!spec.y_label.empty()) {
    const double cx = 16, cy = (plot_y0 + plot_y1) / 2;
    svg += "<text x=\"" + coord(cx) + "\" y=\"" + coord(cy) + "\" text-anchor=\"middle\" " +
           "transform=\"rotate(-90 " + coord(cx) + " " + coord(cy) + ")\">" +
           xml_escape(spec.y_label) + "</text>\n";
  }
  if (!has_data) {
    svg += "<text x=\"" + coord((plot_x0 + plot_x1) / 2) + "\" y=\"" +
           coord((plot_y0 + plot_y1) / 2) + "\" text-anchor=\"middle\" fill=\"#808080\">no data</text>\n";
  }
  // Series: colours cycle; past the palette the line is dashed so that series stay distinct.
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const std::string color = kColors[i % kNumColors];
    const std::string dash = (i / kNumColors) % 2 == 1 ? " stroke-dasharray=\"6 4\"" : "";
    const auto& points = transformed[i];
    if (points.size() >= 2) {
      svg += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" + dash + " points=\"";
      for (size_t p = 0; p < points.size(); ++p) {
        if (p > 0) svg += ' ';
        svg += coord(px(x_space(points[p].first))) + "," + coord(py(y_space(points[p].second)));
      }
      svg += "\"/>\n";
    }
    for (const auto& [x, y] : points) {
      svg += "<circle cx=\"" + coord(px(x_space(x))) + "\" cy=\"" + coord(py(y_space(y))) +
             "\" r=\"3\" fill=\"" + color + "\"/>\n";
    }
    const double ly = plot_y0 + 12 + 20.0 * static_cast<double>(i);
    const double lx = plot_x1 + 16;
    svg += "<line x1=\"" + coord(lx) + "\" y1=\"" + coord(ly) + "\" x2=\"" + coord(lx + 24) +
           "\" y2=\"" + coord(ly) + "\" stroke=\"" + color + "\" stroke-width=\"2\"" + dash + "/>\n";
    svg += "<circle cx=\"" + coord(lx + 12) + "\" cy=\"" + coord(ly) + "\" r=\"3\" fill=\"" + color + "\"/>\n";
    svg += "<text x=\"" + coord(lx + 30) + "\" y=\"" + coord(ly + 4) + "\">" +
           xml_escape(spec.series[i].name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace scopeflow::bench
