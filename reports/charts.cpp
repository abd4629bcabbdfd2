#include "reports/charts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace ssmsoc::reports {

namespace {

constexpr std::array<std::string_view, 10> kPalette = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// A coordinate in the SVG, two decimals (the same text for the same value).
std::string at(double v) { return fmt::format("{:.2f}", v); }

// A tick label: short, no trailing zeros.
std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e4 || a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:.4g}", v);
}

struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  double from = 0, to = 1;  // pixels
  double operator()(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return from + t * (to - from);
  }
  // Round ticks: every decade on a log axis (every other one past 8 decades), else 1, 2 or 5
  // times a power of ten, about six of them.
  std::vector<double> ticks() const {
    std::vector<double> t;
    if (log) {
      const int first = int(std::ceil(std::log10(lo) - 1e-9)), last = int(std::floor(std::log10(hi) + 1e-9));
      const int step = last - first > 8 ? 2 : 1;
      for (int e = first; e <= last; e += step) t.push_back(std::pow(10.0, e));
      return t;
    }
    const double raw = (hi - lo) / 6, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = magnitude;
    for (double m : {1.0, 2.0, 5.0, 10.0})
      if (m * magnitude >= raw) {
        step = m * magnitude;
        break;
      }
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
      t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
    return t;
  }
};

// The range of `values` on an axis (with `include` where it is a number), widened: to whole
// decades on a log axis, by 5 % at each end on a linear one.
Scale scale_of(const std::vector<double>& values, bool log, double include, double from, double to) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(lo <= hi)) lo = log ? 1 : 0, hi = log ? 10 : 1;
  if (log) {
    lo = std::pow(10.0, std::floor(std::log10(lo)));
    hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (hi <= lo) hi = lo * 10;
  } else {
    if (std::isfinite(include)) lo = std::min(lo, include), hi = std::max(hi, include);
    if (hi <= lo) {
      const double half = lo == 0 ? 1 : std::abs(lo) * 0.1;
      lo -= half, hi += half;
    }
    const double pad = (hi - lo) * 0.05;
    hi += pad;
    if (!(std::isfinite(include) && lo == include)) lo -= pad;
  }
  return Scale{lo, hi, log, from, to};
}

std::string svg_open(double width, double height, std::string_view title) {
  return fmt::format(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n",
      at(width), at(height), at(width), at(height), escape(title), escape(title));
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  return out;
}

std::string readable(double value, std::string_view unit) {
  if (!std::isfinite(value)) return "n/a";
  struct Prefix {
    double factor;
    const char* name;
  };
  static constexpr Prefix kPrefixes[] = {{1e15, "P"}, {1e12, "T"}, {1e9, "G"},  {1e6, "M"}, {1e3, "k"},
                                         {1, ""},     {1e-3, "m"}, {1e-6, "u"}, {1e-9, "n"}};
  // Units that take SI prefixes; time, energy and power also those below one.
  const bool below_one = unit == "s" || unit == "J" || unit == "W" || unit == "J/token";
  const bool prefixed =
      below_one || unit == "B" || unit == "Hz" || unit == "B/s" || unit == "FLOP/s" || unit == "ops/s" || unit == "/s";
  if (!prefixed || value == 0) return fmt::format("{:.4g} {}", value, unit);
  Prefix chosen = below_one ? kPrefixes[std::size(kPrefixes) - 1] : Prefix{1, ""};
  for (const Prefix& p : kPrefixes) {
    if (p.factor < 1 && !below_one) break;
    if (std::abs(value) >= p.factor) {
      chosen = p;
      break;
    }
  }
  return fmt::format("{:.4g} {}{}", value / chosen.factor, chosen.name, unit);
}

std::string_view palette(std::size_t i) { return kPalette[i % kPalette.size()]; }

std::string stacked_bars(std::string_view title, const std::vector<Bar>& bars, const std::vector<std::string>& parts,
                         const std::vector<std::string>& notes, std::string_view unit,
                         const std::vector<std::size_t>& colours) {
  const auto colour = [&](std::size_t k) { return palette(k < colours.size() ? colours[k] : k); };
  constexpr double kLabel = 300, kBars = 400, kValue = 110, kRow = 22, kTop = 28;
  const double width = kLabel + kBars + kValue;
  double largest = 0;
  for (const Bar& b : bars) {
    double sum = 0;
    for (double v : b.parts) sum += std::max(0.0, v);
    largest = std::max(largest, sum);
  }
  const double legend_top = kTop + kRow * double(bars.size()) + 12;
  const double height = legend_top + 18 * double(parts.size()) + 8;
  std::string svg = svg_open(width, height, title);
  svg += fmt::format("<text class=\"chart-title\" x=\"0\" y=\"16\">{}</text>\n", escape(title));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = kTop + kRow * double(i);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", at(kLabel - 6), at(y + 14),
                       escape(b.label));
    double x = kLabel, sum = 0;
    for (std::size_t k = 0; k < b.parts.size() && k < parts.size(); ++k) {
      const double v = std::max(0.0, b.parts[k]);
      sum += v;
      if (v <= 0) continue;
      const double w = largest > 0 ? kBars * v / largest : 0;
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {} {}</title></rect>\n", at(x),
          at(y + 3), at(std::max(w, 0.5)), at(kRow - 6), colour(k), escape(b.label), escape(parts[k]),
          escape(readable(v, unit)));
      x += w;
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", at(x + 6), at(y + 14), escape(readable(sum, unit)));
  }
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const double y = legend_top + 18 * double(k);
    svg +=
        fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", at(kLabel), at(y), colour(k));
    const std::string note = k < notes.size() && !notes[k].empty() ? " (" + notes[k] + ")" : "";
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}{}</text>\n", at(kLabel + 18), at(y + 10), escape(parts[k]),
                       escape(note));
  }
  return svg + "</svg>\n";
}

std::string plot(const Plot& p) {
  constexpr double kWidth = 780, kHeight = 360, kLeft = 72, kRight = 260, kTop = 28, kBottom = 48;
  std::vector<double> xs, ys;
  for (const Series& s : p.series)
    for (const Point& pt : s.points)
      if ((!p.x.log || pt.x > 0) && (!p.y.log || pt.y > 0) && std::isfinite(pt.x) && std::isfinite(pt.y))
        xs.push_back(pt.x), ys.push_back(pt.y);
  const Scale x = scale_of(xs, p.x.log, p.x_include, kLeft, kWidth - kRight);
  const Scale y = scale_of(ys, p.y.log, p.y_include, kHeight - kBottom, kTop);
  std::string svg = svg_open(kWidth, kHeight, p.title);
  svg += fmt::format("<text class=\"chart-title\" x=\"0\" y=\"16\">{}</text>\n", escape(p.title));
  for (double t : x.ticks()) {
    const double px = x(t);
    svg += fmt::format("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", at(px), at(kTop),
                       at(kHeight - kBottom));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", at(px), at(kHeight - kBottom + 16),
                       tick_label(t));
  }
  for (double t : y.ticks()) {
    const double py = y(t);
    svg += fmt::format("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>\n", at(kLeft), at(py),
                       at(kWidth - kRight));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", at(kLeft - 6), at(py + 4),
                       tick_label(t));
  }
  svg += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", at(kLeft), at(kTop),
                     at(kWidth - kRight - kLeft), at(kHeight - kBottom - kTop));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}{}</text>\n", at((kLeft + kWidth - kRight) / 2),
                     at(kHeight - 8), escape(p.x.label), p.x.log ? " (log)" : "");
  svg += fmt::format("<text x=\"14\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">{1}{2}</text>\n",
                     at((kTop + kHeight - kBottom) / 2), escape(p.y.label), p.y.log ? " (log)" : "");
  const auto inside = [&](const Point& pt) {
    return (!p.x.log || pt.x > 0) && (!p.y.log || pt.y > 0) && std::isfinite(pt.x) && std::isfinite(pt.y);
  };
  for (std::size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    const std::string_view colour = palette(s.colour);
    if (s.line) {
      std::string points;
      for (const Point& pt : s.points)
        if (inside(pt)) points += (points.empty() ? "" : " ") + at(x(pt.x)) + "," + at(y(pt.y));
      if (!points.empty())
        svg += fmt::format("<polyline class=\"series\" points=\"{}\" stroke=\"{}\"{}><title>{}</title></polyline>\n",
                           points, colour, s.dashed ? " stroke-dasharray=\"6 4\"" : "", escape(s.name));
    }
    if (s.markers)
      for (const Point& pt : s.points)
        if (inside(pt))
          svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"><title>{}</title></circle>\n",
                             at(x(pt.x)), at(y(pt.y)), colour, escape(pt.note.empty() ? s.name : pt.note));
    const double ly = kTop + 18 * double(i);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", at(kWidth - kRight + 12),
                       at(ly), colour);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", at(kWidth - kRight + 30), at(ly + 10), escape(s.name));
  }
  return svg + "</svg>\n";
}

}  // namespace ssmsoc::reports
