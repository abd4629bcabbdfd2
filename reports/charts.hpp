// Charts as inline SVG, made by the generator: no script, no network, the same bytes for the
// same data. Every mark carries a <title> (the browser's hover tooltip) with its exact figure,
// so a chart is readable without JavaScript and prints as drawn.
//
//   std::string svg = plot({.title = "TTFT", .x = {"prompt tokens", true}, .y = {"s", true},
//                           .series = {{"mamba-2.8b", 0, {{256, 0.12, "256 tokens: 0.12 s"}}}}});
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ssmsoc::reports {

// Text made safe for HTML and SVG (&, <, >, ").
std::string escape(std::string_view text);
// A figure with a readable unit prefix: 0.9816 s -> "981.6 ms", 4.5e10 B -> "45 GB".
std::string readable(double value, std::string_view unit);
// The colour of series i (a fixed palette, repeating).
std::string_view palette(std::size_t i);

struct Bar {
  std::string label;
  std::vector<double> parts;  // one per part of the chart (stacked left to right)
};
// Horizontal bars, each the sum of its parts; `parts` names them (the legend), `notes` adds a
// line per part to the legend (where the figure comes from: the profile field), `colours`
// gives each part's palette index (empty: its position), so that a part keeps its colour from
// chart to chart. `unit` is the values' unit.
std::string stacked_bars(std::string_view title, const std::vector<Bar>& bars, const std::vector<std::string>& parts,
                         const std::vector<std::string>& notes, std::string_view unit,
                         const std::vector<std::size_t>& colours = {});

struct Point {
  double x = 0, y = 0;
  std::string note;  // its hover text
};
struct Series {
  std::string name;
  std::size_t colour = 0;  // palette index
  std::vector<Point> points;
  bool line = true;      // joined in order
  bool markers = false;  // a dot at each point
  bool dashed = false;
};
struct Axis {
  std::string label;
  bool log = false;
};
struct Plot {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  // Linear axes: a value each must show (0 for bars of magnitudes); NaN: only the data's range.
  double x_include = std::numeric_limits<double>::quiet_NaN(), y_include = 0;
};
// A line or scatter plot; points with a non-positive coordinate on a log axis are left out.
std::string plot(const Plot& p);

}  // namespace ssmsoc::reports
