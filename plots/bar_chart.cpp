// bar_chart.cpp — grouped and stacked bars (see bar_chart.hpp).
#include "bar_chart.hpp"

#include <algorithm>
#include <cmath>

#include "bitmap_font.hpp"
#include "plot_error.hpp"
#include "png_io.hpp"

namespace moments::plots {

namespace {

constexpr double kGroupShare = 0.8;  // of a category's slot, taken by its bars
constexpr double kStackShare = 0.5;  // of a slot, taken by a stacked bar
constexpr double kMaxStack = 90.0;   // pixels: a stacked bar never gets wider
constexpr int kLabelGap = 3;         // bar to its value label

// What is decided before any layout.
struct Data {
  BarChartOptions options;  // as they were when planned
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  double lo = 0, hi = 1;  // the y-range
  DrawStats stats;
  std::vector<std::string> notes;
  std::vector<LegendEntry> legend;
};

struct Bar {
  Rect rect;
  Color color;
};

struct ValueLabel {
  Rect box;
  std::string text;
};

struct Layout {
  Decor decor;
  Rect plot;
  ScaleMap sy;
  std::vector<PlacedTick> x_ticks, y_ticks;  // x: category names at the slot centres
  std::vector<Bar> bars;
  std::vector<ValueLabel> labels;  // empty when they do not all fit
};

int to_int(double v) { return static_cast<int>(std::lround(v)); }

std::string describe(const BarChartOptions& o) {
  return o.title.empty() ? "bar chart" : "bar chart " + quoted(o.title);
}

// A category name in at most two lines of `width` pixels, broken at a space and
// cut short with ".." when it still does not fit.
std::string wrap(const std::string& name, int width) {
  auto cut = [&](std::string line) {
    if (text_width(line) <= width) return line;
    while (!line.empty() && text_width(line + "..") > width) line.pop_back();
    return line + "..";
  };
  if (text_width(name) <= width) return name;
  size_t best = std::string::npos;  // the last space before which the first line still fits
  for (size_t at = name.find(' '); at != std::string::npos; at = name.find(' ', at + 1))
    if (text_width(name.substr(0, at)) <= width) best = at;
  if (best == std::string::npos) return cut(name);
  return name.substr(0, best) + "\n" + cut(name.substr(best + 1));
}

Color color_of(const std::vector<BarSeries>& series, size_t s) { return series[s].color.value_or(palette_color(s)); }

Data prepare(const BarChartOptions& o, const std::vector<std::string>& categories,
             const std::vector<BarSeries>& series) {
  if (o.title_scale < 0 || o.title_scale > 8)
    throw PlotError(describe(o) + ": title_scale must be 0..8, got " + std::to_string(o.title_scale));
  for (const BarSeries& s : series)
    if (s.values.size() != categories.size())
      throw PlotError(describe(o) + ": series " + quoted(s.name) + " has " + std::to_string(s.values.size()) +
                      " values for " + std::to_string(categories.size()) + " categories");
  Data data;
  data.options = o;
  data.categories = categories;
  data.series = series;
  // The extent of the bars as drawn (stacks summed), always holding 0.
  double lo = 0.0, hi = 0.0;
  for (size_t c = 0; c < categories.size(); ++c) {
    double up = 0.0, down = 0.0;
    for (const BarSeries& s : series) {
      double v = s.values[c];
      if (!std::isfinite(v)) continue;
      if (o.layout == BarLayout::stacked)
        (v >= 0 ? up : down) += v;
      else
        up = std::max(up, v), down = std::min(down, v);
    }
    hi = std::max(hi, up), lo = std::min(lo, down);
  }
  for (const BarSeries& s : series)
    for (double v : s.values) ++(std::isfinite(v) ? data.stats.points : data.stats.non_finite);
  if (lo == 0.0 && hi == 0.0) hi = 1.0;                        // nothing but zeros: show 0..1
  double span = hi - lo, margin = o.show_values ? 0.1 : 0.05;  // room for the value labels
  data.lo = lo < 0.0 ? lo - margin * span : 0.0;
  data.hi = hi > 0.0 ? hi + margin * span : 0.0;
  if (data.stats.non_finite)
    data.notes.push_back(std::to_string(data.stats.non_finite) +
                         (data.stats.non_finite == 1 ? " NaN/inf value" : " NaN/inf values") + " not drawn");
  if (series.size() >= 2)
    for (size_t s = 0; s < series.size(); ++s) data.legend.push_back({series[s].name, color_of(series, s), true});
  return data;
}

Layout lay_out(const Data& data, const Rect& area, const Margins& at_least, int legend_band) {
  const BarChartOptions& o = data.options;
  const std::vector<std::string>& categories = data.categories;
  const std::vector<BarSeries>& series = data.series;
  const size_t n = categories.size(), m = series.size();
  Layout l;
  l.decor = {.title = o.title,
             .title_scale = title_scale_for(o.title_scale),
             .x_label = o.x_label,
             .y_label = o.y_label,
             .legend_band = legend_band,
             .note_lines = static_cast<int>(data.notes.size()),
             .at_least = at_least};
  double slot = 0.0;  // pixels per category
  // Tick labels decide the margins and the margins decide the ticks: go round
  // until the margins stop growing.
  for (int pass = 0; pass < 4; ++pass) {
    l.plot = plot_area(area, l.decor);
    l.sy = ScaleMap(Scale::linear, data.lo, data.hi, l.plot.bottom(), l.plot.y);
    l.y_ticks = fitting_ticks(std::clamp(l.plot.height / 45, 2, 10), 6, false, [&](int count) {
      return place_ticks(linear_ticks(data.lo, data.hi, count, o.y_format), l.sy);
    });
    slot = n ? static_cast<double>(l.plot.width) / static_cast<double>(n) : 0.0;
    l.x_ticks.clear();
    int lines = 1, y_width = 0;
    for (size_t c = 0; c < n; ++c) {
      std::string label = wrap(categories[c], std::max(8, static_cast<int>(slot) - 6));
      if (label.find('\n') != std::string::npos) lines = 2;
      l.x_ticks.push_back({l.plot.x + (static_cast<double>(c) + 0.5) * slot, label, true});
    }
    for (const PlacedTick& t : l.y_ticks) y_width = std::max(y_width, text_width(t.label));
    if (y_width <= l.decor.y_tick_width && lines <= l.decor.x_tick_lines) break;
    l.decor.y_tick_width = std::max(l.decor.y_tick_width, y_width);
    l.decor.x_tick_lines = std::max(l.decor.x_tick_lines, lines);
  }

  // Bars get whole-pixel edges, so the parts of a stack share their edges exactly.
  auto format = [&](double v) { return o.y_format == NumberFormat::bytes ? format_bytes(v) : format_number(v, 3); };
  auto add_bar = [&](int left, int right, double from, double to, Color color) {
    int a = to_int(l.sy.to_pixel(from)), b = to_int(l.sy.to_pixel(to));
    l.bars.push_back({{left, std::min(a, b), right - left, std::abs(a - b)}, color});
  };
  // A value label centred over [left, right), above `top` (or below `bottom` for a negative value).
  bool fits = true;
  auto add_label = [&](double value, int left, int right, int room) {
    std::string text = format(value);
    int w = text_width(text), end = to_int(l.sy.to_pixel(value)), zero = to_int(l.sy.to_pixel(0.0));
    int top = value >= 0 ? std::min(end, zero) - kLabelGap - text_height() : std::max(end, zero) + kLabelGap;
    fits = fits && w <= room;
    l.labels.push_back({{(left + right) / 2 - w / 2, top, w, text_height()}, text});
  };
  for (size_t c = 0; c < n; ++c) {
    double centre = l.plot.x + (static_cast<double>(c) + 0.5) * slot;
    if (o.layout == BarLayout::stacked) {
      double width = std::min(slot * kStackShare, kMaxStack);
      int left = to_int(centre - width / 2), right = to_int(centre + width / 2);
      double up = 0.0, down = 0.0;  // the stack's ends so far, above and below 0
      for (size_t s = 0; s < m; ++s) {
        double v = series[s].values[c];
        if (!std::isfinite(v)) continue;
        double& end = v >= 0 ? up : down;
        add_bar(left, right, end, end + v, color_of(series, s));
        end += v;
      }
      if (m > 0) add_label(up + down, left, right, static_cast<int>(slot) - 4);  // the total
    } else {
      double group = slot * kGroupShare, group_left = centre - group / 2;
      for (size_t s = 0; s < m; ++s) {
        int left = to_int(group_left + group * static_cast<double>(s) / static_cast<double>(m));
        int right = to_int(group_left + group * static_cast<double>(s + 1) / static_cast<double>(m));
        if (s + 1 < m) right -= 1;  // a 1-pixel gap between neighbours
        double v = series[s].values[c];
        if (!std::isfinite(v)) continue;
        add_bar(left, right, 0.0, v, color_of(series, s));
        add_label(v, left, right, right - left + 4);
      }
    }
  }
  if (!o.show_values || !fits) l.labels.clear();
  return l;
}

// Everything decided about a chart in an area, ready to paint.
struct Scene {
  Layout layout;
  Rect legend_box;  // empty when the legend is in a band above the plot (or there is none)
};

Scene compose(const Data& data, const Rect& area, const Margins& at_least) {
  Scene scene;
  scene.layout = lay_out(data, area, at_least, 0);
  const std::vector<LegendEntry>& legend = data.legend;
  if (legend.empty()) return scene;
  // The legend goes in the first corner free of bars and labels, else above the plot.
  const Layout& l = scene.layout;
  auto taken = [&](const Rect& r) {
    for (const Bar& bar : l.bars)
      if (!bar.rect.intersect(r).empty()) return true;
    for (const ValueLabel& label : l.labels)
      if (!label.box.intersect(r).empty()) return true;
    return false;
  };
  int w = legend_box_width(legend), h = legend_box_height(legend);
  if (w + 16 <= l.plot.width && h + 16 <= l.plot.height)
    for (const Rect& corner : legend_corners(l.plot, w, h))
      if (!taken(corner.grow(4))) {
        scene.legend_box = corner;
        return scene;
      }
  scene.layout = lay_out(data, area, at_least, legend_band_height(legend, l.plot.width));
  return scene;
}

}  // namespace

// A chart made ready to draw in one area.
struct BarChart::Plan {
  Data data;
  Rect area;
  Scene scene;  // as laid out with no margins asked for
};

BarChart& BarChart::set_categories(std::vector<std::string> names) {
  categories_ = std::move(names);
  return *this;
}

BarChart& BarChart::add_series(std::string name, std::vector<double> values, std::optional<Color> color) {
  if (values.size() != categories_.size())
    throw PlotError(describe(options) + ": series " + quoted(name) + " has " + std::to_string(values.size()) +
                    " values for " + std::to_string(categories_.size()) + " categories (set_categories comes first)");
  series_.push_back({std::move(name), std::move(values), color});
  return *this;
}

std::shared_ptr<const BarChart::Plan> BarChart::plan(const Rect& area) const {
  auto plan = std::make_shared<Plan>();
  plan->data = prepare(options, categories_, series_);
  plan->area = area;
  plan->scene = compose(plan->data, area, {});
  return plan;
}

Margins BarChart::margins(const Rect& area) const { return margins(*plan(area)); }

Margins BarChart::margins(const Plan& plan) const { return margins_of(plan.area, plan.scene.layout.plot); }

DrawStats BarChart::draw(Canvas& canvas, const Rect& area, const Margins& at_least) const {
  return draw(*plan(area), canvas, at_least);
}

DrawStats BarChart::draw(const Plan& plan, Canvas& canvas, const Margins& at_least) const {
  const Data& data = plan.data;
  const Rect& area = plan.area;
  const Scene scene = compose(data, area, at_least);  // cheap enough to do again
  const Layout& l = scene.layout;
  const Rect saved_clip = canvas.clip();
  const Rect area_clip = area.intersect(saved_clip);
  canvas.set_clip(area_clip);
  canvas.fill_rect(area, theme::background);

  draw_grid(canvas, l.plot, {}, l.y_ticks);
  canvas.set_clip(l.plot.intersect(area_clip));
  for (const Bar& bar : l.bars) canvas.fill_rect(bar.rect, bar.color);
  canvas.set_clip(area_clip);
  if (data.lo < 0.0)  // bars go both ways: mark zero
    canvas.fill_rect({l.plot.x, to_int(l.sy.to_pixel(0.0)), l.plot.width, 1}, theme::axis);
  for (const ValueLabel& label : l.labels)
    draw_text(canvas, label.box.x, label.box.y, label.text, {.color = theme::text});
  draw_frame(canvas, area, l.plot, l.decor, l.x_ticks, l.y_ticks, /*x_tick_marks=*/false);
  const char* empty = data.categories.empty() || data.series.empty() ? "no data" : "";
  return finish_chart(canvas, area, l.plot, l.decor, scene.legend_box, data.legend, data.notes, empty, saved_clip,
                      data.stats);
}

Canvas BarChart::render(DrawStats* stats) const { return render_chart(*this, stats); }

DrawStats BarChart::save_png(const std::string& path) const { return save_chart_png(*this, path); }

}  // namespace moments::plots
