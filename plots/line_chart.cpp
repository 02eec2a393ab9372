// line_chart.cpp — preparing, laying out and drawing a trend chart (the steps
// are listed in line_chart.hpp).
#include "line_chart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "bitmap_font.hpp"
#include "chart_frame.hpp"
#include "plot_error.hpp"
#include "png_io.hpp"
#include "series_prep.hpp"

namespace moments::plots {

namespace {

constexpr double kLineWidth = 1.75;  // a series, in pixels
constexpr double kRawWidth = 1.25;   // the raw series behind a smoothed one
constexpr double kRawOpacity = 0.3;
constexpr double kMarkerSize = 5.0;                 // a lone point, or markers on every point
constexpr double kXMargin = 0.03, kYMargin = 0.05;  // of the span, on each side
constexpr double kOutlierLow = 0.02, kOutlierHigh = 0.98, kOutlierSlack = 0.1;
constexpr int kPointsPerColumn = 2;  // thin out stretches denser than this

// One series, ready to draw: restarts resolved, smoothing done.
struct Prepared {
  std::string name;
  Color color;
  bool markers = false;
  // The points: the series' own when its x rises throughout (the usual case:
  // no copy), else `kept`, what keep_latest made of them. (Moving a Prepared
  // moves kept's buffers, so x and y stay valid.)
  std::span<const double> x, y;
  XYSeries kept;
  std::vector<double> smooth;  // empty when not smoothing
};

// What is decided before any layout: the data, the ranges, the notes.
struct Data {
  LineChartOptions options;  // as they were when planned
  std::vector<ReferenceLine> references;
  std::vector<Prepared> series;
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  DrawStats stats;
  std::vector<std::string> notes;
};

// Where things go in the area.
struct Layout {
  Decor decor;
  Rect plot;
  ScaleMap sx, sy;
  std::vector<PlacedTick> x_ticks, y_ticks;
};

// A line in pixels: runs of connected points; a run of one point is a lone point.
using Path = std::vector<std::vector<Point>>;

std::string count_of(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Ranges are chosen in "t-space": the values themselves on a linear scale,
// their log10 on a log scale, so that margins are even on the screen.
double to_t(Scale scale, double v) { return scale == Scale::log ? std::log10(v) : v; }
double from_t(Scale scale, double t) { return scale == Scale::log ? std::pow(10.0, t) : t; }

// The data's extent [lo, hi] in t-space (lo > hi when there is no data) made
// into an axis range: a margin on the ends that are not pinned, and some width
// when the data have none. Data out to ±1.8e308 keep a range of finite doubles
// (positive ones on a log scale): where a margin would leave them, the range
// stops at the last double there is.
std::pair<double, double> choose_range(double lo, double hi, std::optional<double> pin_lo, std::optional<double> pin_hi,
                                       double margin, Scale scale) {
  if (lo > hi) lo = 0.0, hi = 1.0, margin = 0.0;  // nothing to show: [0, 1], or [1, 10] on a log scale
  double half_span = hi / 2 - lo / 2;             // hi - lo itself may overflow
  if (half_span <= 0.5e-12 * std::max(std::fabs(lo), std::fabs(hi))) {  // one value, or a constant series
    double half = scale == Scale::log ? 0.3 : lo == 0.0 ? 1.0 : 0.1 * std::fabs(lo);
    double centre = lo / 2 + hi / 2;
    lo = centre - half, hi = centre + half, margin = 0.0;
    half_span = half;
  }
  lo -= 2 * margin * half_span, hi += 2 * margin * half_span;  // margin × span, exactly
  if (pin_lo) lo = to_t(scale, *pin_lo);
  if (pin_hi) hi = to_t(scale, *pin_hi);
  if (hi <= lo) {  // one end pinned beyond all the data
    double width = scale == Scale::log ? 1.0 : std::max(1.0, 0.1 * std::max(std::fabs(lo), std::fabs(hi)));
    if (pin_lo)
      hi = lo + width;
    else
      lo = hi - width;
  }
  const double largest = std::numeric_limits<double>::max();
  const double smallest = scale == Scale::log ? std::numeric_limits<double>::denorm_min() : -largest;
  return {std::clamp(from_t(scale, lo), smallest, largest), std::clamp(from_t(scale, hi), smallest, largest)};
}

std::string describe(const LineChartOptions& o) {
  return o.title.empty() ? "line chart" : "line chart " + quoted(o.title);
}

void check_options(const LineChartOptions& o) {
  auto fail = [&](const std::string& what) { throw PlotError(describe(o) + ": " + what); };
  if (!(o.smoothing >= 0.0 && o.smoothing < 1.0))
    fail("smoothing must be in [0, 1), got " + format_number(o.smoothing, 6));
  if (o.title_scale < 0 || o.title_scale > 8) fail("title_scale must be 0..8, got " + std::to_string(o.title_scale));
  auto check_pins = [&](char axis, Scale scale, std::optional<double> lo, std::optional<double> hi) {
    std::string name(1, axis);
    for (auto [pin, which] : {std::pair{lo, "_min"}, std::pair{hi, "_max"}}) {
      if (!pin) continue;
      if (!std::isfinite(*pin)) fail(name + which + " must be finite, got " + format_number(*pin));
      if (scale == Scale::log && *pin <= 0.0)
        fail(name + which + " must be > 0 on a log scale, got " + format_number(*pin, 6));
    }
    if (lo && hi && !(*lo < *hi))
      fail(name + "_min (" + format_number(*lo, 6) + ") must be below " + name + "_max (" + format_number(*hi, 6) +
           ")");
  };
  check_pins('x', o.x_scale, o.x_min, o.x_max);
  check_pins('y', o.y_scale, o.y_min, o.y_max);
}

Data prepare(const LineChartOptions& o, const std::vector<Series>& all, const std::vector<ReferenceLine>& lines) {
  check_options(o);
  Data data;
  data.options = o;
  data.references = lines;
  const bool log_x = o.x_scale == Scale::log, log_y = o.y_scale == Scale::log;
  const double inf = std::numeric_limits<double>::infinity();
  double x_lo = inf, x_hi = -inf;
  for (size_t index = 0; index < all.size(); ++index) {
    const Series& s = all[index];
    Prepared p;
    p.name = s.name.empty() ? "series " + std::to_string(index + 1) : s.name;
    p.color = s.color.value_or(palette_color(index));
    p.markers = s.markers;
    p.x = s.x, p.y = s.y;
    if (!rises_throughout(s.x)) {
      KeepLatestCounts counts;
      p.kept = keep_latest(s.x, s.y, &counts);
      data.stats.non_finite += counts.non_finite_x;
      data.stats.replaced += counts.replaced;
      p.x = p.kept.x, p.y = p.kept.y;
    }
    if (o.smoothing > 0.0) p.smooth = smooth_ema(p.y, o.smoothing);
    // Count what will be drawn and what cannot be (x is finite after keep_latest).
    size_t non_finite = 0, non_positive = 0, points = 0;
    double lo = inf, hi = -inf;
    for (size_t i = 0; i < p.x.size(); ++i) {
      double x = p.x[i], y = p.y[i];
      if (!std::isfinite(y)) {
        ++non_finite;
      } else if ((log_x && !(x > 0.0)) || (log_y && !(y > 0.0))) {
        ++non_positive;
      } else {
        ++points;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
      }
    }
    data.stats.non_finite += non_finite;
    data.stats.non_positive += non_positive;
    data.stats.points += points;
    x_lo = std::min(x_lo, lo), x_hi = std::max(x_hi, hi);
    data.series.push_back(std::move(p));
  }
  if (x_lo <= x_hi) x_lo = to_t(o.x_scale, x_lo), x_hi = to_t(o.x_scale, x_hi);
  std::tie(data.x_lo, data.x_hi) = choose_range(x_lo, x_hi, o.x_min, o.x_max, kXMargin, o.x_scale);

  // The y extent of the points inside the x-range. The smoothed line needs no
  // look: a debiased EMA is a weighted mean of the raw points, so it stays
  // within their extent. Extremes and percentiles are taken of the values
  // themselves (log10 keeps their order) and only then moved to t-space.
  const double x_first = data.x_lo, x_last = data.x_hi;
  auto shown = [&](double x, double y) {  // drawable, and inside the x-range
    return std::isfinite(y) && (!log_y || y > 0.0) && (!log_x || x > 0.0) && x >= x_first && x <= x_last;
  };
  double y_lo = inf, y_hi = -inf;
  for (const Prepared& p : data.series) {
    double lo = inf, hi = -inf;
    for (size_t i = 0; i < p.x.size(); ++i) {
      if (!shown(p.x[i], p.y[i])) continue;
      lo = p.y[i] < lo ? p.y[i] : lo;
      hi = p.y[i] > hi ? p.y[i] : hi;
    }
    y_lo = std::min(y_lo, lo), y_hi = std::max(y_hi, hi);
  }
  if (o.ignore_outliers && data.stats.points >= 10) {
    std::vector<double> ys;
    ys.reserve(data.stats.points);
    for (const Prepared& p : data.series)
      for (size_t i = 0; i < p.x.size(); ++i)
        if (shown(p.x[i], p.y[i])) ys.push_back(p.y[i]);
    double q_lo = to_t(o.y_scale, quantile(ys, kOutlierLow));
    double q_hi = to_t(o.y_scale, quantile(std::move(ys), kOutlierHigh));
    double slack = kOutlierSlack * (q_hi - q_lo);
    double lo = std::max(y_lo, from_t(o.y_scale, q_lo - slack)), hi = std::min(y_hi, from_t(o.y_scale, q_hi + slack));
    if (lo < hi) {
      // Only the ends that leave points out are cut; there the lines run off the plot.
      for (const Prepared& p : data.series)
        for (size_t i = 0; i < p.x.size(); ++i)
          if (shown(p.x[i], p.y[i]) && (p.y[i] < lo || p.y[i] > hi)) ++data.stats.outliers;
      y_lo = lo, y_hi = hi;
    }
  }
  // A reference line was asked for: it stays in view.
  for (const ReferenceLine& line : lines)
    if (std::isfinite(line.y) && (!log_y || line.y > 0.0)) y_lo = std::min(y_lo, line.y), y_hi = std::max(y_hi, line.y);
  if (y_lo <= y_hi) y_lo = to_t(o.y_scale, y_lo), y_hi = to_t(o.y_scale, y_hi);
  std::tie(data.y_lo, data.y_hi) = choose_range(y_lo, y_hi, o.y_min, o.y_max, kYMargin, o.y_scale);

  const DrawStats& st = data.stats;
  if (st.non_finite) data.notes.push_back(count_of(st.non_finite, "NaN/inf point", "NaN/inf points") + " not drawn");
  if (st.non_positive)
    data.notes.push_back(count_of(st.non_positive, "point", "points") + " <= 0 not drawn (log scale)");
  if (st.outliers) data.notes.push_back("y-range leaves out " + count_of(st.outliers, "outlier", "outliers"));
  if (st.replaced)
    data.notes.push_back(count_of(st.replaced, "point", "points") + " dropped: " +
                         (o.x_label.empty() ? "x" : o.x_label) + " went back (restart)");
  data.notes.insert(data.notes.end(), o.notes.begin(), o.notes.end());
  return data;
}

std::vector<Tick> axis_ticks(Scale scale, double lo, double hi, int count, NumberFormat format) {
  return scale == Scale::log ? log_ticks(lo, hi, count) : linear_ticks(lo, hi, count, format);
}


// Notes joined with "; " as long as a line fits the width.
std::vector<std::string> note_lines(const std::vector<std::string>& notes, int width) {
  std::vector<std::string> lines;
  for (const std::string& note : notes) {
    if (!lines.empty() && text_width(lines.back() + "; " + note) <= width)
      lines.back() += "; " + note;
    else
      lines.push_back(note);
  }
  return lines;
}

// Lays the chart out in `area`. Tick labels decide the margins and the margins
// decide the ticks, so this goes round until the margins stop growing.
Layout lay_out(const LineChartOptions& o, const Data& data, const Rect& area, const Margins& at_least, int legend_band,
               int notes) {
  Layout l;
  l.decor = {.title = o.title,
             .title_scale = title_scale_for(o.title_scale),
             .x_label = o.x_label,
             .y_label = o.y_label,
             .legend_band = legend_band,
             .note_lines = notes,
             .at_least = at_least};
  for (int pass = 0; pass < 4; ++pass) {
    l.plot = plot_area(area, l.decor);
    l.sx = ScaleMap(o.x_scale, data.x_lo, data.x_hi, l.plot.x, l.plot.right());
    l.sy = ScaleMap(o.y_scale, data.y_lo, data.y_hi, l.plot.bottom(), l.plot.y);
    l.x_ticks = fitting_ticks(std::clamp(l.plot.width / 80, 2, 12), 16, true, [&](int count) {
      return place_ticks(axis_ticks(o.x_scale, data.x_lo, data.x_hi, count, NumberFormat::compact), l.sx);
    });
    l.y_ticks = fitting_ticks(std::clamp(l.plot.height / 45, 2, 10), 6, false, [&](int count) {
      return place_ticks(axis_ticks(o.y_scale, data.y_lo, data.y_hi, count, o.y_format), l.sy);
    });
    int y_width = 0, overhang = 0;
    for (const PlacedTick& t : l.y_ticks) y_width = std::max(y_width, text_width(t.label));
    for (const PlacedTick& t : l.x_ticks) {
      if (t.label.empty()) continue;
      int w = text_width(t.label);
      overhang = std::max(overhang, static_cast<int>(std::floor(t.pixel)) - w / 2 + w - l.plot.right());
    }
    if (y_width <= l.decor.y_tick_width && overhang <= l.decor.x_tick_overhang) break;
    l.decor.y_tick_width = std::max(l.decor.y_tick_width, y_width);
    l.decor.x_tick_overhang = std::max(l.decor.x_tick_overhang, overhang);
  }
  return l;
}

// The drawable points of (x, y) in pixels, split at gaps, and thinned to the
// min/max envelope where a stretch has more than kPointsPerColumn points per
// pixel column.
Path trace(std::span<const double> x, std::span<const double> y, const ScaleMap& sx, const ScaleMap& sy, int columns) {
  Path path;
  std::vector<double> px;
  const size_t n = x.size();
  auto drawable = [&](size_t i) { return sx.accepts(x[i]) && sy.accepts(y[i]); };
  for (size_t start = 0; start < n;) {
    if (!drawable(start)) {
      ++start;
      continue;
    }
    size_t end = start + 1;
    while (end < n && drawable(end)) ++end;
    std::vector<Point> run;
    if (end - start > static_cast<size_t>(kPointsPerColumn) * static_cast<size_t>(columns)) {
      px.resize(end - start);
      for (size_t i = start; i < end; ++i) px[i - start] = sx.to_pixel(x[i]);
      // The envelope can pick by the values themselves: log10 keeps their order.
      for (size_t k : decimate_min_max(px, y.subspan(start, end - start)))
        run.push_back({px[k], sy.to_pixel(y[start + k])});
    } else {
      for (size_t i = start; i < end; ++i) run.push_back({sx.to_pixel(x[i]), sy.to_pixel(y[i])});
    }
    path.push_back(std::move(run));
    start = end;
  }
  return path;
}

struct Traced {
  std::vector<Path> raw, smooth;  // per series; smooth empty when not smoothing
};

Traced trace_all(const Data& data, const Layout& l) {
  Traced t;
  for (const Prepared& p : data.series) {
    t.raw.push_back(trace(p.x, p.y, l.sx, l.sy, l.plot.width));
    if (!p.smooth.empty()) t.smooth.push_back(trace(p.x, p.smooth, l.sx, l.sy, l.plot.width));
  }
  return t;
}

// A reference line's row and the box of its label (empty if it has none).
struct PlacedReference {
  double y;
  Rect label_box;
  const ReferenceLine* line;
};

std::vector<PlacedReference> place_references(const std::vector<ReferenceLine>& lines, const Layout& l) {
  std::vector<PlacedReference> placed;
  for (const ReferenceLine& line : lines) {
    if (!l.sy.accepts(line.y)) continue;
    double y = std::floor(l.sy.to_pixel(line.y)) + 0.5;
    if (y < l.plot.y || y > l.plot.bottom()) continue;
    Rect box;
    if (!line.label.empty()) {
      int w = text_width(line.label), h = text_height();
      int top = static_cast<int>(y) - h - 1;                  // above the line,
      if (top < l.plot.y + 2) top = static_cast<int>(y) + 3;  // or below it at the very top
      box = {l.plot.right() - 6 - w, top, w, h};
    }
    placed.push_back({y, box, &line});
  }
  return placed;
}

bool crosses(const Path& path, const Rect& r) {
  for (const auto& run : path) {
    for (size_t i = 0; i < run.size(); ++i) {
      Point a = run[i], b = i + 1 < run.size() ? run[i + 1] : run[i];
      if (clip_segment(a, b, r.x, r.y, r.right(), r.bottom())) return true;
    }
  }
  return false;
}

// Is anything drawn inside r: a line, a lone point, a reference line or its label?
bool occupied(const Rect& r, const Traced& traced, const std::vector<PlacedReference>& references) {
  for (const auto* paths : {&traced.raw, &traced.smooth})
    for (const Path& path : *paths)
      if (crosses(path, r)) return true;
  for (const PlacedReference& ref : references) {
    if (ref.y >= r.y && ref.y <= r.bottom()) return true;
    if (!ref.label_box.empty() && !ref.label_box.intersect(r).empty()) return true;
  }
  return false;
}

void draw_path(Canvas& canvas, const Path& path, Color color, double width, bool markers) {
  for (const auto& run : path) {
    if (run.size() == 1)
      canvas.draw_marker(run[0], Marker::circle, kMarkerSize, color);
    else
      canvas.draw_polyline(run, color, width);
  }
  if (!markers) return;
  for (const auto& run : path)
    for (const Point& p : run) canvas.draw_marker(p, Marker::circle, kMarkerSize, color);
}

// Everything decided about a chart in an area, ready to paint.
struct Scene {
  std::vector<std::string> notes;  // as lines
  Layout layout;
  Traced traced;
  std::vector<PlacedReference> references;
  std::vector<LegendEntry> legend;
  Rect legend_box;  // empty when the legend is in a band above the plot (or there is none)
};

// Moves traced lines from one plot rectangle to another. Both axes map t-space
// affinely onto the plot, so this is the same as tracing again, as long as the
// new plot is no wider (the thinning was done for at least as many columns).
Traced moved(Traced traced, const Rect& from, const Rect& to) {
  if (from == to) return traced;
  double sx = static_cast<double>(to.width) / from.width, sy = static_cast<double>(to.height) / from.height;
  for (auto* paths : {&traced.raw, &traced.smooth})
    for (Path& path : *paths)
      for (auto& run : path)
        for (Point& p : run) p = {to.x + (p.x - from.x) * sx, to.bottom() - (from.bottom() - p.y) * sy};
  return traced;
}

// Lays out, traces and places the legend. `before` is an earlier scene of the
// same data in the same area, whose traced lines can be moved rather than
// traced again.
Scene compose(const Data& data, const Rect& area, const Margins& at_least, const Scene* before) {
  const LineChartOptions& o = data.options;
  Scene scene;
  scene.notes = note_lines(data.notes, area.width - 2 * theme::pad);
  const int note_count = static_cast<int>(scene.notes.size());
  auto place_all = [&](int legend_band, const Traced* traced, const Rect& traced_plot) {
    scene.layout = lay_out(o, data, area, at_least, legend_band, note_count);
    if (traced && scene.layout.plot.width <= traced_plot.width)
      scene.traced = moved(*traced, traced_plot, scene.layout.plot);
    else
      scene.traced = trace_all(data, scene.layout);
    scene.references = place_references(data.references, scene.layout);
  };
  place_all(0, before ? &before->traced : nullptr, before ? before->layout.plot : Rect{});

  // The legend goes in the first free corner of the plot, else in a band above it.
  if (data.series.size() < 2) return scene;
  for (const Prepared& p : data.series) scene.legend.push_back({p.name, p.color, false});
  const Rect plot = scene.layout.plot;
  int w = legend_box_width(scene.legend), h = legend_box_height(scene.legend);
  if (w + 16 <= plot.width && h + 16 <= plot.height)
    for (const Rect& corner : legend_corners(plot, w, h))
      if (!occupied(corner.grow(4), scene.traced, scene.references)) {
        scene.legend_box = corner;
        return scene;
      }
  Traced traced = std::move(scene.traced);
  place_all(legend_band_height(scene.legend, plot.width), &traced, plot);
  return scene;
}

}  // namespace

// A chart made ready to draw in one area.
struct LineChart::Plan {
  Data data;
  Rect area;
  Scene scene;  // as laid out with no margins asked for
};

LineChart& LineChart::add_series(std::string name, std::vector<double> x, std::vector<double> y,
                                 std::optional<Color> color) {
  return add_series(Series{std::move(name), std::move(x), std::move(y), color});
}

LineChart& LineChart::add_series(Series series) {
  if (series.x.size() != series.y.size())
    throw PlotError(describe(options) + ": series " + quoted(series.name) + " has " + std::to_string(series.x.size()) +
                    " x values but " + std::to_string(series.y.size()) + " y values");
  series_.push_back(std::move(series));
  return *this;
}

LineChart& LineChart::add_reference_line(double y, std::string label, std::optional<Color> color) {
  references_.push_back({y, std::move(label), color});
  return *this;
}

std::shared_ptr<const LineChart::Plan> LineChart::plan(const Rect& area) const {
  auto plan = std::make_shared<Plan>();
  plan->data = prepare(options, series_, references_);
  plan->area = area;
  plan->scene = compose(plan->data, area, {}, nullptr);
  return plan;
}

Margins LineChart::margins(const Rect& area) const { return margins(*plan(area)); }

Margins LineChart::margins(const Plan& plan) const { return margins_of(plan.area, plan.scene.layout.plot); }

DrawStats LineChart::draw(Canvas& canvas, const Rect& area, const Margins& at_least) const {
  return draw(*plan(area), canvas, at_least);
}

DrawStats LineChart::draw(const Plan& plan, Canvas& canvas, const Margins& at_least) const {
  const Data& data = plan.data;
  const Rect& area = plan.area;
  const Margins m = margins(plan);
  const bool as_planned =
      m.left >= at_least.left && m.top >= at_least.top && m.right >= at_least.right && m.bottom >= at_least.bottom;
  const Scene scene = as_planned ? plan.scene : compose(data, area, at_least, &plan.scene);
  const Layout& l = scene.layout;
  const Rect saved_clip = canvas.clip();
  const Rect area_clip = area.intersect(saved_clip);
  canvas.set_clip(area_clip);
  canvas.fill_rect(area, theme::background);

  draw_grid(canvas, l.plot, l.x_ticks, l.y_ticks);
  canvas.set_clip(l.plot.intersect(area_clip));
  for (const PlacedReference& ref : scene.references) {
    Color color = ref.line->color.value_or(theme::reference);
    canvas.draw_dashed_line({static_cast<double>(l.plot.x), ref.y}, {static_cast<double>(l.plot.right()), ref.y}, color,
                            1.25, 6.0, 4.0);
  }
  // Faint raw lines first, so that every solid line lies on top of them.
  const bool smoothing = !scene.traced.smooth.empty();
  for (size_t i = 0; i < data.series.size(); ++i)
    if (smoothing)
      draw_path(canvas, scene.traced.raw[i], with_opacity(data.series[i].color, kRawOpacity), kRawWidth, false);
  for (size_t i = 0; i < data.series.size(); ++i) {
    const Prepared& p = data.series[i];
    draw_path(canvas, smoothing ? scene.traced.smooth[i] : scene.traced.raw[i], p.color, kLineWidth, p.markers);
  }
  for (const PlacedReference& ref : scene.references) {  // labels over the data, on a light backing
    if (ref.label_box.empty()) continue;
    canvas.fill_rect(ref.label_box.grow(2), with_opacity(theme::background, 0.85));
    draw_text(canvas, ref.label_box.x, ref.label_box.y, ref.line->label,
              {.color = ref.line->color.value_or(theme::reference)});
  }
  canvas.set_clip(area_clip);

  draw_frame(canvas, area, l.plot, l.decor, l.x_ticks, l.y_ticks);
  const char* empty = data.stats.points > 0 ? "" : data.series.empty() ? "no data" : "no points to draw";
  return finish_chart(canvas, area, l.plot, l.decor, scene.legend_box, scene.legend, scene.notes, empty, saved_clip,
                      data.stats);
}

Canvas LineChart::render(DrawStats* stats) const { return render_chart(*this, stats); }

DrawStats LineChart::save_png(const std::string& path) const { return save_chart_png(*this, path); }

}  // namespace moments::plots
