// A small SVG writer for the pipeline's HTML report: line plots (one polyline per series,
// markers at the points, axes with rounded ticks, a legend) and grouped bar charts. The output
// is a self-contained <svg> element meant to be inlined in HTML; no scripts, no external
// resources. Non-finite points are skipped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace reg4rec::cli::svg {

struct series {
  std::string name;
  std::vector<double> x, y;
  std::string colour;  // empty: the palette colour of the series' position
};

struct plot_options {
  std::string title, x_label, y_label;
  int width = 640, height = 320;
  bool integer_x = true;  // x ticks at integers (epochs)
  bool y_from_zero = false;
};

/// Escapes text for XML content and attribute values.
inline std::string escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

/// Line colours, distinguishable in colour and in greyscale print.
inline const char* colour(std::size_t i) {
  static const char* c[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  return c[i % (sizeof c / sizeof c[0])];
}

namespace detail {

inline std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

/// Tick label: at most 4 significant digits, no trailing noise.
inline std::string tick_label(double v, double step) {
  char b[32];
  if (std::abs(v) < step * 1e-6) v = 0;
  int decimals = 0;  // as many as the step needs (0.025 → 3)
  while (decimals < 6 && std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) >
                             1e-6 * step * std::pow(10.0, decimals))
    ++decimals;
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

/// A "nice" tick step (1, 2, 2.5 or 5 × 10^k) giving about `ticks` intervals over `range`.
inline double nice_step(double range, int ticks) {
  if (!(range > 0)) return 1;
  const double raw = range / ticks, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

struct axis {
  double lo, hi, step;
};

inline axis make_axis(double lo, double hi, bool integer, bool from_zero) {
  if (from_zero) lo = std::min(lo, 0.0);
  if (!(hi > lo)) {  // a single value: open a window around it
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
    if (from_zero && lo < 0 && hi > 0) lo = 0;
  }
  double step = nice_step(hi - lo, 5);
  if (integer) step = std::max(1.0, std::round(step));
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

}  // namespace detail

/// A line plot of the given series (x ascending within a series).
inline std::string line_plot(const std::vector<series>& lines, const plot_options& o) {
  using detail::num;
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  std::size_t points = 0;
  for (const auto& s : lines)
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xlo = std::min(xlo, s.x[i]);
      xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]);
      yhi = std::max(yhi, s.y[i]);
      ++points;
    }
  const int W = o.width, H = o.height, left = 64, right = 16, top = 34, legend_rows = static_cast<int>((lines.size() + 2) / 3);
  const int bottom = 54 + 18 * legend_rows;
  const double pw = W - left - right, ph = H - top - bottom;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H) + "\" viewBox=\"0 0 " + std::to_string(W) + " " + std::to_string(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n";
  s += "<title>" + escape(o.title) + "</title>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) + "\" fill=\"#fff\"/>\n";
  s += "<text x=\"" + num(W / 2.0) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       escape(o.title) + "</text>\n";
  if (points == 0) {
    s += "<text x=\"" + num(W / 2.0) + "\" y=\"" + num(H / 2.0) + "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
    return s;
  }
  const auto ax = detail::make_axis(xlo, xhi, o.integer_x, false);
  const auto ay = detail::make_axis(ylo, yhi, false, o.y_from_zero);
  auto X = [&](double v) { return left + (v - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto Y = [&](double v) { return top + ph - (v - ay.lo) / (ay.hi - ay.lo) * ph; };
  // Grid and ticks.
  for (double v = ay.lo; v <= ay.hi + ay.step * 1e-9; v += ay.step) {
    s += "<line x1=\"" + num(left) + "\" x2=\"" + num(left + pw) + "\" y1=\"" + num(Y(v)) + "\" y2=\"" + num(Y(v)) +
         "\" stroke=\"#e4e4e4\"/>\n";
    s += "<text x=\"" + num(left - 6) + "\" y=\"" + num(Y(v) + 4) + "\" text-anchor=\"end\">" +
         detail::tick_label(v, ay.step) + "</text>\n";
  }
  const double xstep = ax.step * std::max(1.0, std::ceil((ax.hi - ax.lo) / ax.step / 10));
  for (double v = ax.lo; v <= ax.hi + xstep * 1e-9; v += xstep) {
    s += "<line x1=\"" + num(X(v)) + "\" x2=\"" + num(X(v)) + "\" y1=\"" + num(top + ph) + "\" y2=\"" + num(top + ph + 4) +
         "\" stroke=\"#444\"/>\n";
    s += "<text x=\"" + num(X(v)) + "\" y=\"" + num(top + ph + 16) + "\" text-anchor=\"middle\">" +
         detail::tick_label(v, xstep) + "</text>\n";
  }
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"#444\"/>\n";
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(top + ph + 32) + "\" text-anchor=\"middle\">" + escape(o.x_label) +
       "</text>\n";
  s += "<text transform=\"translate(14 " + num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape(o.y_label) + "</text>\n";
  // Lines, markers, legend.
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const auto& ln = lines[k];
    const std::string col = ln.colour.empty() ? colour(k) : ln.colour;
    std::string pts;
    std::size_t n = 0;
    for (std::size_t i = 0; i < std::min(ln.x.size(), ln.y.size()); ++i) {
      if (!std::isfinite(ln.x[i]) || !std::isfinite(ln.y[i])) continue;
      pts += num(X(ln.x[i])) + "," + num(Y(ln.y[i])) + " ";
      ++n;
    }
    s += "<g><title>" + escape(ln.name) + "</title>\n";
    if (n > 1)
      s += "<polyline fill=\"none\" stroke=\"" + col + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    if (n <= 40)
      for (std::size_t i = 0; i < std::min(ln.x.size(), ln.y.size()); ++i) {
        if (!std::isfinite(ln.x[i]) || !std::isfinite(ln.y[i])) continue;
        char v[64];
        std::snprintf(v, sizeof v, "%g: %.4g", ln.x[i], ln.y[i]);
        s += "<circle cx=\"" + num(X(ln.x[i])) + "\" cy=\"" + num(Y(ln.y[i])) + "\" r=\"2.8\" fill=\"" + col +
             "\"><title>" + escape(ln.name) + " " + v + "</title></circle>\n";
      }
    s += "</g>\n";
    const double lx = left + double(k % 3) * (pw / 3), ly = top + ph + 56 + 18 * double(k / 3);
    s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 9) + "\" width=\"14\" height=\"4\" fill=\"" + col + "\"/>\n";
    s += "<text x=\"" + num(lx + 20) + "\" y=\"" + num(ly - 4) + "\">" + escape(ln.name) + "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

/// A grouped bar chart: one group per category (x), one bar per series in each group.
/// values[k][i] is series k's value for category i (NaN: no bar).
inline std::string bar_chart(const std::vector<std::string>& categories, const std::vector<series>& bars,
                             const plot_options& o) {
  using detail::num;
  double yhi = 0;
  for (const auto& b : bars)
    for (double v : b.y)
      if (std::isfinite(v)) yhi = std::max(yhi, v);
  const int W = o.width, H = o.height, left = 64, right = 16, top = 34, legend_rows = static_cast<int>((bars.size() + 2) / 3);
  const int bottom = 54 + 18 * legend_rows;
  const double pw = W - left - right, ph = H - top - bottom;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H) + "\" viewBox=\"0 0 " + std::to_string(W) + " " + std::to_string(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n";
  s += "<title>" + escape(o.title) + "</title>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) + "\" fill=\"#fff\"/>\n";
  s += "<text x=\"" + num(W / 2.0) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       escape(o.title) + "</text>\n";
  if (categories.empty() || bars.empty()) {
    s += "<text x=\"" + num(W / 2.0) + "\" y=\"" + num(H / 2.0) + "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
    return s;
  }
  const auto ay = detail::make_axis(0, yhi > 0 ? yhi : 1, false, true);
  auto Y = [&](double v) { return top + ph - (v - ay.lo) / (ay.hi - ay.lo) * ph; };
  for (double v = ay.lo; v <= ay.hi + ay.step * 1e-9; v += ay.step) {
    s += "<line x1=\"" + num(left) + "\" x2=\"" + num(left + pw) + "\" y1=\"" + num(Y(v)) + "\" y2=\"" + num(Y(v)) +
         "\" stroke=\"#e4e4e4\"/>\n";
    s += "<text x=\"" + num(left - 6) + "\" y=\"" + num(Y(v) + 4) + "\" text-anchor=\"end\">" +
         detail::tick_label(v, ay.step) + "</text>\n";
  }
  const double gw = pw / double(categories.size()), bw = gw * 0.8 / double(bars.size());
  for (std::size_t i = 0; i < categories.size(); ++i) {
    const double gx = left + gw * double(i) + gw * 0.1;
    for (std::size_t k = 0; k < bars.size(); ++k) {
      if (i >= bars[k].y.size() || !std::isfinite(bars[k].y[i])) continue;
      const double v = bars[k].y[i];
      char t[64];
      std::snprintf(t, sizeof t, ": %.4g", v);
      s += "<rect x=\"" + num(gx + bw * double(k)) + "\" y=\"" + num(Y(v)) + "\" width=\"" + num(std::max(1.0, bw - 1)) +
           "\" height=\"" + num(Y(ay.lo) - Y(v)) + "\" fill=\"" + (bars[k].colour.empty() ? colour(k) : bars[k].colour) + "\"><title>" + escape(bars[k].name) + ", " +
           escape(categories[i]) + t + "</title></rect>\n";
    }
    s += "<text x=\"" + num(left + gw * (double(i) + 0.5)) + "\" y=\"" + num(top + ph + 16) + "\" text-anchor=\"middle\">" +
         escape(categories[i]) + "</text>\n";
  }
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"#444\"/>\n";
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(top + ph + 32) + "\" text-anchor=\"middle\">" + escape(o.x_label) +
       "</text>\n";
  s += "<text transform=\"translate(14 " + num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape(o.y_label) + "</text>\n";
  for (std::size_t k = 0; k < bars.size(); ++k) {
    const double lx = left + double(k % 3) * (pw / 3), ly = top + ph + 56 + 18 * double(k / 3);
    s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly - 10) + "\" width=\"10\" height=\"10\" fill=\"" + (bars[k].colour.empty() ? colour(k) : bars[k].colour) + "\"/>\n";
    s += "<text x=\"" + num(lx + 16) + "\" y=\"" + num(ly - 1) + "\">" + escape(bars[k].name) + "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace reg4rec::cli::svg
