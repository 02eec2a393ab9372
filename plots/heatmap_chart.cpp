// heatmap_chart.cpp — layers × steps heat maps and per-layer small multiples
// (see heatmap_chart.hpp).
#include "heatmap_chart.hpp"

#include <algorithm>
#include <cmath>

#include "bitmap_font.hpp"
#include "colormap.hpp"
#include "line_chart.hpp"
#include "plot_error.hpp"
#include "series_prep.hpp"

namespace moments::plots {

namespace {

constexpr int kBarGap = 16;    // plot to colour bar
constexpr int kBarWidth = 14;  // the colour bar
constexpr int kSwatch = 12;    // the "missing" swatch under the colour bar
constexpr Color kMissingBase = rgb(0xe8e8e8), kMissingHatch = rgb(0x9a9a9a);

std::string describe(const HeatmapChartOptions& o) {
  return o.title.empty() ? "heat map" : "heat map \"" + o.title + "\"";
}

std::string count_of(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// What is decided before any layout: the columns after restarts, the values in
// colour space (NaN where missing), the colour range.
struct Data {
  std::vector<double> steps;            // strictly rising
  std::vector<double> edges;            // steps.size() + 1 cell edges, in steps
  std::vector<std::vector<double>> t;   // t[row][column]: z or log10 z; NaN when missing
  double t_lo = 0, t_hi = 1, z_lo = 0, z_hi = 1;
  DrawStats stats;
  std::vector<std::string> notes;
};

double to_t(Scale scale, double z) { return scale == Scale::log ? std::log10(z) : z; }
double from_t(Scale scale, double t) { return scale == Scale::log ? std::pow(10.0, t) : t; }

Data prepare(const HeatmapChartOptions& o, const std::vector<double>& steps,
             const std::vector<std::vector<double>>& values) {
  if (o.title_scale < 0 || o.title_scale > 8)
    throw PlotError(describe(o) + ": title_scale must be 0..8, got " + std::to_string(o.title_scale));
  check_color_range_ends(describe(o), o.z_scale, o.z_min, o.z_max);
  Data data;
  // Restarts: the latest row of a repeated step wins, as in line charts. keep_latest
  // on the column indices tells which columns survive.
  std::vector<double> index(steps.size());
  for (size_t c = 0; c < steps.size(); ++c) index[c] = static_cast<double>(c);
  KeepLatestCounts counts;
  XYSeries kept = keep_latest(steps, index, &counts);
  data.steps = kept.x;
  data.stats.replaced = counts.replaced;
  const size_t n = data.steps.size();
  if (n > 0) {
    double first_gap = n > 1 ? data.steps[1] - data.steps[0] : 1.0;
    double last_gap = n > 1 ? data.steps[n - 1] - data.steps[n - 2] : 1.0;
    data.edges.push_back(data.steps[0] - first_gap / 2);
    for (size_t c = 1; c < n; ++c) data.edges.push_back(data.steps[c - 1] / 2 + data.steps[c] / 2);
    data.edges.push_back(data.steps[n - 1] + last_gap / 2);
  }
  double lo = INFINITY, hi = -INFINITY;
  size_t non_finite = 0, non_positive = 0;
  for (const std::vector<double>& row : values) {
    std::vector<double>& t = data.t.emplace_back();
    for (double k : kept.y) {
      double z = row[static_cast<size_t>(k)];
      if (!std::isfinite(z)) {
        ++non_finite, t.push_back(NAN);
      } else if (o.z_scale == Scale::log && z <= 0.0) {
        ++non_positive, t.push_back(NAN);
      } else {
        t.push_back(to_t(o.z_scale, z));
        lo = std::min(lo, t.back()), hi = std::max(hi, t.back());
        ++data.stats.points;
      }
    }
  }
  data.stats.non_finite = non_finite, data.stats.non_positive = non_positive;
  if (o.z_min) lo = to_t(o.z_scale, *o.z_min);
  if (o.z_max) hi = to_t(o.z_scale, *o.z_max);
  if (!(lo <= hi)) {
    if (o.z_min && o.z_max)
      throw PlotError(describe(o) + ": the colour range is empty: z_min (" + format_number(*o.z_min) +
                      ") is above z_max (" + format_number(*o.z_max) + ")");
    if (o.z_min) hi = lo + 1.0;
    else if (o.z_max) lo = hi - 1.0;
    else lo = 0.0, hi = 1.0;  // nothing to colour
  }
  if (lo == hi) lo -= 0.5, hi += 0.5;  // one value: half a decade (or unit) each side
  data.t_lo = lo, data.t_hi = hi;
  data.z_lo = from_t(o.z_scale, lo), data.z_hi = from_t(o.z_scale, hi);
  if (data.stats.replaced)
    data.notes.push_back(count_of(data.stats.replaced, "column", "columns") + " dropped: step went back (restart)");
  if (non_finite) data.notes.push_back(count_of(non_finite, "NaN/inf value", "NaN/inf values") + " drawn as missing");
  if (non_positive)
    data.notes.push_back(count_of(non_positive, "value", "values") + " <= 0 drawn as missing (log scale)");
  return data;
}

Color color_at(const Data& data, double t) {
  return viridis((t / 2 - data.t_lo / 2) / (data.t_hi / 2 - data.t_lo / 2));  // halves: no overflow
}

struct Layout {
  Decor decor;
  Rect plot, bar, swatch;
  ScaleMap sx, sz;
  std::vector<PlacedTick> x_ticks, y_ticks, z_ticks;
  int z_tick_width = 0;
};

Layout lay_out(const HeatmapChartOptions& o, const Data& data, const std::vector<std::string>& names,
               const Rect& area, const Margins& at_least) {
  Layout l;
  const bool any_missing = data.stats.non_finite + data.stats.non_positive > 0;
  l.decor = {.title = o.title,
             .title_scale = title_scale_for(o.title_scale),
             .x_label = o.x_label,
             .y_label = o.y_label,
             .note_lines = static_cast<int>(data.notes.size()),
             .at_least = at_least};
  for (const std::string& name : names) l.decor.y_tick_width = std::max(l.decor.y_tick_width, text_width(name));
  const double x_lo = data.edges.empty() ? 0.0 : data.edges.front(), x_hi = data.edges.empty() ? 1.0 : data.edges.back();
  for (int pass = 0; pass < 3; ++pass) {  // the colour bar's labels decide the right margin
    int swatch_room = any_missing ? kSwatch + theme::tick_gap + text_width("missing") : 0;
    int bar_room = kBarGap + std::max(kBarWidth + 1 + theme::tick + theme::tick_gap + l.z_tick_width +
                                          (o.z_label.empty() ? 0 : theme::label_gap + text_height()),
                                      swatch_room) +
                   theme::pad;
    l.decor.at_least.right = std::max(at_least.right, bar_room);
    l.plot = plot_area(area, l.decor);
    int swatch_space = any_missing ? kSwatch + theme::title_gap : 0;
    l.bar = {l.plot.right() + kBarGap, l.plot.y, kBarWidth, std::max(1, l.plot.height - swatch_space)};
    l.swatch = {l.bar.x, l.bar.bottom() + theme::title_gap, any_missing ? kSwatch : 0, any_missing ? kSwatch : 0};
    l.sx = ScaleMap(Scale::linear, x_lo, x_hi, l.plot.x, l.plot.right());
    l.sz = ScaleMap(o.z_scale, data.z_lo, data.z_hi, l.bar.bottom(), l.bar.y);
    auto placed = [](const ScaleMap& map, const std::vector<Tick>& ticks) {
      std::vector<PlacedTick> out;
      for (const Tick& t : ticks) out.push_back({map.to_pixel(t.value), t.label, t.major});
      return out;
    };
    l.x_ticks = fitting_ticks(std::clamp(l.plot.width / 70, 2, 10), 12, true, [&](int count) {
      std::vector<PlacedTick> ticks;
      if (!data.steps.empty())
        for (const PlacedTick& t : placed(l.sx, linear_ticks(data.steps.front(), data.steps.back(), count)))
          ticks.push_back(t);
      return ticks;
    });
    l.z_ticks = fitting_ticks(std::clamp(l.bar.height / 40, 2, 10), 6, false, [&](int count) {
      return placed(l.sz, o.z_scale == Scale::log ? log_ticks(data.z_lo, data.z_hi, count)
                                                  : linear_ticks(data.z_lo, data.z_hi, count));
    });
    int z_width = 0;
    for (const PlacedTick& t : l.z_ticks) z_width = std::max(z_width, text_width(t.label));
    if (z_width <= l.z_tick_width) break;
    l.z_tick_width = z_width;
  }
  // Row names at row centres; every k-th when they would overlap.
  const double row_height = names.empty() ? 0.0 : static_cast<double>(l.plot.height) / names.size();
  const size_t every = row_height <= 0 ? 1 : static_cast<size_t>(std::ceil((text_height() + 2) / row_height));
  for (size_t r = 0; r < names.size(); ++r)
    l.y_ticks.push_back({l.plot.y + (r + 0.5) * row_height, r % std::max<size_t>(every, 1) == 0 ? names[r] : "", true});
  return l;
}

void paint_cells(Canvas& canvas, const Data& data, const Layout& l) {
  const size_t rows = data.t.size();
  if (rows == 0 || data.steps.empty()) return;
  for (int px = l.plot.x; px < l.plot.right(); ++px) {
    // The step under this pixel column's centre, and the cell it falls in.
    double step = l.sx.lo() + (px + 0.5 - l.plot.x) / l.plot.width * (l.sx.hi() - l.sx.lo());
    size_t c = static_cast<size_t>(std::upper_bound(data.edges.begin(), data.edges.end(), step) - data.edges.begin());
    c = std::clamp<size_t>(c, 1, data.steps.size()) - 1;
    for (int py = l.plot.y; py < l.plot.bottom(); ++py) {
      size_t r = std::min(rows - 1, static_cast<size_t>((py + 0.5 - l.plot.y) / l.plot.height * rows));
      double t = data.t[r][c];
      canvas.set_pixel(px, py, std::isnan(t) ? missing_color(px, py) : color_at(data, t));
    }
  }
}

void paint_bar(Canvas& canvas, const HeatmapChartOptions& o, const Data& data, const Layout& l) {
  for (int r = 0; r < l.bar.height; ++r)
    canvas.fill_rect({l.bar.x, l.bar.y + r, l.bar.width, 1}, viridis((l.bar.height - (r + 0.5)) / l.bar.height));
  canvas.stroke_rect(l.bar.grow(1), theme::axis);
  const int label_x = l.bar.right() + 1 + theme::tick + theme::tick_gap;
  for (const PlacedTick& t : l.z_ticks) {
    int row = static_cast<int>(std::floor(t.pixel));
    if (row < l.bar.y - 1 || row > l.bar.bottom()) continue;
    canvas.fill_rect({l.bar.right() + 1, row, t.major ? theme::tick : theme::tick / 2, 1}, theme::axis);
    if (!t.label.empty())
      draw_text(canvas, label_x, row, t.label, {.color = theme::tick_label, .valign = VAlign::middle});
  }
  if (!o.z_label.empty())
    draw_text(canvas, label_x + l.z_tick_width + theme::label_gap, l.bar.y + l.bar.height / 2, o.z_label,
              {.color = theme::text, .valign = VAlign::middle, .vertical = true});
  if (l.swatch.width > 0) {
    for (int y = l.swatch.y; y < l.swatch.bottom(); ++y)
      for (int x = l.swatch.x; x < l.swatch.right(); ++x) canvas.set_pixel(x, y, missing_color(x, y));
    canvas.stroke_rect(l.swatch.grow(1), theme::axis);
    draw_text(canvas, l.swatch.right() + theme::tick_gap, l.swatch.y + kSwatch / 2, "missing",
              {.color = theme::text, .valign = VAlign::middle});
  }
  (void)data;
}

}  // namespace

Color missing_color(int x, int y) { return (x + y) % 6 == 0 ? kMissingHatch : kMissingBase; }

HeatmapChart& HeatmapChart::set_steps(std::vector<double> steps) {
  for (size_t c = 0; c < steps.size(); ++c)
    if (!std::isfinite(steps[c]))
      throw PlotError(describe(options) + ": set_steps: step " + std::to_string(c) + " is " + format_number(steps[c]) +
                      " (steps must be finite)");
  for (size_t r = 0; r < values_.size(); ++r)
    if (values_[r].size() != steps.size())
      throw PlotError(describe(options) + ": set_steps: " + std::to_string(steps.size()) + " steps, but row \"" +
                      names_[r] + "\" has " + std::to_string(values_[r].size()) + " values");
  steps_ = std::move(steps);
  return *this;
}

HeatmapChart& HeatmapChart::add_row(std::string name, std::vector<double> values) {
  if (values.size() != steps_.size())
    throw PlotError(describe(options) + ": row \"" + name + "\" has " + std::to_string(values.size()) +
                    " values, but the chart has " + std::to_string(steps_.size()) + " steps (set_steps first)");
  names_.push_back(std::move(name));
  values_.push_back(std::move(values));
  return *this;
}

Color HeatmapChart::color_of(double z) const {
  Data data = prepare(options, steps_, values_);
  if (!std::isfinite(z) || (options.z_scale == Scale::log && z <= 0.0)) return kMissingBase;
  return color_at(data, to_t(options.z_scale, z));
}

std::pair<double, double> HeatmapChart::color_range() const {
  Data data = prepare(options, steps_, values_);
  return {data.z_lo, data.z_hi};
}

int HeatmapChart::height() const {
  if (options.height > 0) return options.height;
  return std::clamp(150 + 24 * static_cast<int>(std::min<size_t>(names_.size(), 100)), 300, 1200);
}

DrawStats HeatmapChart::draw(Canvas& canvas, const Rect& area, const Margins& at_least) const {
  const Data data = prepare(options, steps_, values_);
  const Layout l = lay_out(options, data, names_, area, at_least);
  const Rect saved_clip = canvas.clip();
  const Rect area_clip = area.intersect(saved_clip);
  canvas.set_clip(area_clip);
  canvas.fill_rect(area, theme::background);
  canvas.set_clip(l.plot.intersect(area_clip));
  paint_cells(canvas, data, l);
  canvas.set_clip(area_clip);
  draw_frame(canvas, area, l.plot, l.decor, l.x_ticks, l.y_ticks);
  paint_bar(canvas, options, data, l);
  std::string empty = names_.empty() ? "no rows" : data.steps.empty() ? "no steps" : "";
  return finish_chart(canvas, area, l.plot, l.decor, {}, {}, data.notes, empty, saved_clip, data.stats);
}

Canvas HeatmapChart::render(DrawStats* stats) const {
  Canvas canvas(options.width, height(), theme::background);
  DrawStats drawn = draw(canvas, canvas.bounds());
  if (stats) *stats = drawn;
  return canvas;
}

DrawStats HeatmapChart::save_png(const std::string& path) const {
  DrawStats stats;
  plots::save_png(render(&stats), path);
  return stats;
}

// ---- from a log -------------------------------------------------------------

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matching with one backtrack point (the last '*'): linear for one '*', O(n·m) at worst.
  size_t p = 0, t = 0, star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, resume = t;
    } else if (star != std::string::npos) {
      p = star + 1, t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string row_name(const std::string& pattern, const std::string& column) {
  size_t first = pattern.find_first_of("*?"), last = pattern.find_last_of("*?");
  if (first == std::string::npos) return column;
  size_t prefix = first, suffix = pattern.size() - last - 1;  // the literal text around the wildcards
  if (prefix + suffix >= column.size()) return column;
  return column.substr(prefix, column.size() - prefix - suffix);
}

std::vector<std::string> matching_columns(const CsvLog& log, const std::string& pattern) {
  auto listing = [&] {
    std::string all;
    for (size_t i = 0; i < log.columns.size() && i < 40; ++i) all += (i ? ", " : "") + log.columns[i];
    if (log.columns.size() > 40) all += ", ... (" + std::to_string(log.columns.size()) + " in all)";
    return all;
  };
  if (pattern.empty())
    throw PlotError(log.source + ": an empty column pattern (expected a name or a glob such as \"update_ratio.*\")");
  std::vector<std::string> found;
  for (const std::string& c : log.columns)
    if (glob_match(pattern, c)) found.push_back(c);
  if (found.empty())
    throw PlotError(log.source + ": no column matches " + quoted(pattern) + " ('*' matches any text, '?' one " +
                    "character); the columns are: " + listing());
  return found;
}

namespace {

// The matching columns other than the x column (there must be one).
std::vector<std::string> value_columns(const CsvLog& log, const std::string& pattern, const std::string& x_column) {
  std::vector<std::string> columns;
  for (const std::string& c : matching_columns(log, pattern))
    if (c != x_column) columns.push_back(c);
  if (columns.empty())
    throw PlotError(log.source + ": " + quoted(pattern) + " matches only the x column " + quoted(x_column));
  log.column(x_column);  // throws, listing the columns, when there is no such column
  return columns;
}

}  // namespace

HeatmapChart heatmap_from_log(const CsvLog& log, const std::string& pattern, HeatmapChartOptions options,
                              const std::string& x_column) {
  std::vector<std::string> columns = value_columns(log, pattern, x_column);
  const std::vector<double>& x = log.column(x_column);
  if (options.title.empty()) options.title = pattern;
  HeatmapChart chart(std::move(options));
  chart.set_steps(x);
  for (const std::string& c : columns) chart.add_row(row_name(pattern, c), log.column(c));
  return chart;
}

Figure small_multiples_from_log(const CsvLog& log, const std::string& pattern, FigureOptions options, Scale y_scale,
                                const std::string& x_column) {
  std::vector<std::string> columns = value_columns(log, pattern, x_column);
  const std::vector<double>& x = log.column(x_column);
  if (options.title.empty()) options.title = pattern;
  Figure figure(std::move(options));
  for (const std::string& c : columns) {
    LineChart chart({.title = row_name(pattern, c), .x_label = x_column, .y_scale = y_scale});
    figure.add(std::move(chart.add_series(row_name(pattern, c), x, log.column(c))));
  }
  return figure;
}

}  // namespace moments::plots
