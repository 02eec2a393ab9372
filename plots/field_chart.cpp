// field_chart.cpp — filled contours and heat maps of z(x, y), with paths over
// them (see field_chart.hpp).
#include "field_chart.hpp"

#include <algorithm>
#include <cmath>

#include "bitmap_font.hpp"
#include "colormap.hpp"
#include "plot_error.hpp"

namespace moments::plots {

namespace {

constexpr int kBarGap = 16;          // plot to colour bar
constexpr int kBarWidth = 14;        // the colour bar
constexpr double kPathWidth = 2.0;   // a path's line
constexpr double kHaloWidth = 4.0;   // the light line under it
constexpr double kHaloOpacity = 0.7;
constexpr double kLineOpacity = 0.35;  // contour lines: black at this opacity

std::string describe(const FieldChartOptions& o) {
  return o.title.empty() ? "field chart" : "field chart \"" + o.title + "\"";
}

// The share of the pixel [d − ½, d + ½] inside a line of `width` centred on 0.
double line_coverage(double d, double width) {
  double lo = std::max(d - 0.5, -width / 2), hi = std::min(d + 0.5, width / 2);
  return std::max(0.0, hi - lo);
}

Color mix(Color a, Color b, double share_of_b) {
  auto channel = [&](uint8_t u, uint8_t v) {
    return static_cast<uint8_t>(std::lround(u + (static_cast<double>(v) - u) * share_of_b));
  };
  return {channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b), 255};
}

// What is decided before any layout.
struct Data {
  FieldChartOptions options;
  Field field;
  std::vector<double> t;   // the grid in colour space: z, or log10 z; NaN where it cannot be coloured
  double t_lo = 0, t_hi = 1;  // the colour range in that space
  double z_lo = 0, z_hi = 1;  // the same in z
  std::vector<FieldPath> paths;
  std::vector<Color> path_colors;
  std::vector<Color> bands;  // filled contours: one colour per band
  DrawStats stats;
  std::vector<std::string> notes;
  std::vector<LegendEntry> legend;
  bool has_field = false;
};

double to_t(Scale scale, double z) { return scale == Scale::log ? std::log10(z) : z; }
double from_t(Scale scale, double t) { return scale == Scale::log ? std::pow(10.0, t) : t; }

std::string count_of(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// `field` is empty (nx = ny = 0) before set_field.
Data prepare(const FieldChartOptions& o, const Field& field, const std::vector<FieldPath>& paths) {
  if (o.levels < 2 || o.levels > 256)
    throw PlotError(describe(o) + ": levels must be 2..256, got " + std::to_string(o.levels));
  if (o.title_scale < 0 || o.title_scale > 8)
    throw PlotError(describe(o) + ": title_scale must be 0..8, got " + std::to_string(o.title_scale));
  check_color_range_ends(describe(o), o.z_scale, o.z_min, o.z_max);
  Data data;
  data.options = o;
  data.field = field;
  data.paths = paths;
  data.has_field = !field.z.empty();
  // The grid in colour space, and the range of what can be coloured.
  double lo = INFINITY, hi = -INFINITY;
  data.t.resize(field.z.size());
  for (size_t k = 0; k < field.z.size(); ++k) {
    double z = field.z[k];
    data.t[k] = NAN;
    if (!std::isfinite(z)) {
      ++data.stats.non_finite;
    } else if (o.z_scale == Scale::log && z <= 0.0) {
      ++data.stats.non_positive;
    } else {
      data.t[k] = to_t(o.z_scale, z);
      lo = std::min(lo, data.t[k]), hi = std::max(hi, data.t[k]);
    }
  }
  if (o.z_min) lo = to_t(o.z_scale, *o.z_min);
  if (o.z_max) hi = to_t(o.z_scale, *o.z_max);
  if (!(lo <= hi)) {  // nothing to colour, or a pinned end beyond the other end
    if (o.z_min || o.z_max)
      throw PlotError(describe(o) + ": the colour range is empty: z_min (" + format_number(from_t(o.z_scale, lo)) +
                      ") is above z_max (" + format_number(from_t(o.z_scale, hi)) + ")");
    lo = 0.0, hi = 1.0;
  }
  if (lo == hi) lo -= 0.5, hi += 0.5;  // a flat field: one band's worth each side
  data.t_lo = lo, data.t_hi = hi;
  data.z_lo = from_t(o.z_scale, lo), data.z_hi = from_t(o.z_scale, hi);
  for (int k = 0; k < o.levels; ++k) data.bands.push_back(viridis((k + 0.5) / o.levels));

  const size_t grid_non_finite = data.stats.non_finite;
  size_t path_non_finite = 0;
  for (size_t p = 0; p < paths.size(); ++p) {
    data.path_colors.push_back(paths[p].color.value_or(palette_color(p)));
    for (size_t i = 0; i < paths[p].x.size(); ++i)
      ++(std::isfinite(paths[p].x[i]) && std::isfinite(paths[p].y[i]) ? data.stats.points : path_non_finite);
    if (!paths[p].name.empty()) data.legend.push_back({paths[p].name, data.path_colors[p], false});
  }
  data.stats.non_finite += path_non_finite;
  if (grid_non_finite) data.notes.push_back(count_of(grid_non_finite, "NaN/inf value", "NaN/inf values") + " not coloured");
  if (data.stats.non_positive)
    data.notes.push_back(count_of(data.stats.non_positive, "value", "values") + " <= 0 not coloured (log scale)");
  if (path_non_finite)
    data.notes.push_back(count_of(path_non_finite, "NaN/inf path point", "NaN/inf path points") + " not drawn");
  return data;
}

struct Layout {
  Decor decor;
  Rect plot, bar;
  ScaleMap sx, sy, sz;  // sz: z to rows of the colour bar
  std::vector<PlacedTick> x_ticks, y_ticks, z_ticks;
  int z_tick_width = 0;
};

Layout lay_out(const Data& data, const Rect& area, const Margins& at_least, int legend_band) {
  const FieldChartOptions& o = data.options;
  const Field& f = data.field;
  Layout l;
  l.decor = {.title = o.title,
             .title_scale = title_scale_for(o.title_scale),
             .x_label = o.x_label,
             .y_label = o.y_label,
             .legend_band = legend_band,
             .note_lines = static_cast<int>(data.notes.size()),
             .at_least = at_least};
  // Tick labels decide the margins and the margins decide the ticks: go round
  // until the margins stop growing.
  for (int pass = 0; pass < 4; ++pass) {
    int bar_room = kBarGap + kBarWidth + 1 + theme::tick + theme::tick_gap + l.z_tick_width +
                   (o.z_label.empty() ? 0 : theme::label_gap + text_height()) + theme::pad;
    l.decor.at_least.right = std::max(at_least.right, bar_room);
    l.plot = plot_area(area, l.decor);
    l.bar = {l.plot.right() + kBarGap, l.plot.y, kBarWidth, l.plot.height};
    l.sx = ScaleMap(Scale::linear, f.x_min, f.x_max, l.plot.x, l.plot.right());
    l.sy = ScaleMap(Scale::linear, f.y_min, f.y_max, l.plot.bottom(), l.plot.y);
    l.sz = ScaleMap(o.z_scale, data.z_lo, data.z_hi, l.bar.bottom(), l.bar.y);
    auto axis_ticks = [](const ScaleMap& map, const std::vector<Tick>& ticks) { return place_ticks(ticks, map); };
    l.x_ticks = fitting_ticks(std::clamp(l.plot.width / 70, 2, 10), 12, true,
                              [&](int n) { return axis_ticks(l.sx, linear_ticks(f.x_min, f.x_max, n)); });
    l.y_ticks = fitting_ticks(std::clamp(l.plot.height / 45, 2, 10), 6, false,
                              [&](int n) { return axis_ticks(l.sy, linear_ticks(f.y_min, f.y_max, n)); });
    l.z_ticks = fitting_ticks(std::clamp(l.bar.height / 45, 2, 10), 6, false, [&](int n) {
      return axis_ticks(l.sz, o.z_scale == Scale::log ? log_ticks(data.z_lo, data.z_hi, n)
                                                      : linear_ticks(data.z_lo, data.z_hi, n));
    });
    int y_width = 0, z_width = 0;
    for (const PlacedTick& t : l.y_ticks) y_width = std::max(y_width, text_width(t.label));
    for (const PlacedTick& t : l.z_ticks) z_width = std::max(z_width, text_width(t.label));
    if (y_width <= l.decor.y_tick_width && z_width <= l.z_tick_width) break;
    l.decor.y_tick_width = std::max(l.decor.y_tick_width, y_width);
    l.z_tick_width = std::max(l.z_tick_width, z_width);
  }
  return l;
}

// The grid's value in colour space at a point given in grid units (gx along x,
// gy along y), by bilinear interpolation; NaN when a corner cannot be coloured.
double interpolate(const Data& data, double gx, double gy) {
  const Field& f = data.field;
  int i = std::clamp(static_cast<int>(std::floor(gx)), 0, f.nx - 2);
  int j = std::clamp(static_cast<int>(std::floor(gy)), 0, f.ny - 2);
  double u = gx - i, v = gy - j;
  const double* row0 = &data.t[static_cast<size_t>(j) * f.nx + i];
  const double* row1 = row0 + f.nx;
  // Weighted sums rather than a + (b − a)·u, which overflows for a range like −1e308 .. 1e308.
  double bottom = row0[0] * (1 - u) + row0[1] * u;
  double top = row1[0] * (1 - u) + row1[1] * u;
  return bottom * (1 - v) + top * v;
}

// Colours the plot: the band number s (0 .. levels) of every pixel, then its colour.
void paint_field(Canvas& canvas, const Data& data, const Rect& plot) {
  const FieldChartOptions& o = data.options;
  const Field& f = data.field;
  const int w = plot.width, h = plot.height, levels = o.levels;
  std::vector<double> s(static_cast<size_t>(w) * h);
  // Halves, so that a range like -1e308 .. 1e308 does not overflow.
  const double half_lo = data.t_lo * 0.5, half_span = data.t_hi * 0.5 - half_lo;
  for (int r = 0; r < h; ++r) {
    double gy = (h - (r + 0.5)) / h * (f.ny - 1);  // rows run down, y up
    for (int c = 0; c < w; ++c) {
      double gx = (c + 0.5) / w * (f.nx - 1);
      double t = interpolate(data, gx, gy);
      s[static_cast<size_t>(r) * w + c] = std::clamp((t * 0.5 - half_lo) / half_span * levels, 0.0, 1.0 * levels);
    }
  }
  auto at = [&](int c, int r) { return s[static_cast<size_t>(r) * w + c]; };
  // How fast s changes per pixel there (central differences, one-sided at edges and gaps).
  auto slope = [&](int c, int r) {
    auto diff = [&](double before, double here, double after) {
      if (std::isfinite(before) && std::isfinite(after)) return (after - before) / 2;
      if (std::isfinite(after)) return after - here;
      if (std::isfinite(before)) return here - before;
      return 0.0;
    };
    double left = c > 0 ? at(c - 1, r) : NAN, right = c + 1 < w ? at(c + 1, r) : NAN;
    double up = r > 0 ? at(c, r - 1) : NAN, down = r + 1 < h ? at(c, r + 1) : NAN;
    return std::hypot(diff(left, at(c, r), right), diff(up, at(c, r), down));
  };
  for (int r = 0; r < h; ++r) {
    for (int c = 0; c < w; ++c) {
      double v = at(c, r);
      if (std::isnan(v)) continue;  // not coloured: the background shows
      const int x = plot.x + c, y = plot.y + r;
      if (o.style == FieldStyle::heat_map) {
        canvas.set_pixel(x, y, viridis(v / levels));
        continue;
      }
      int band = std::min(static_cast<int>(v), levels - 1);
      Color color = data.bands[band];
      int level = static_cast<int>(std::lround(v));  // the nearest boundary between bands
      double g = level >= 1 && level <= levels - 1 ? slope(c, r) : 0.0;
      double d = g > 0.0 ? (v - level) / g : INFINITY;  // pixels from the level, + above it
      if (std::abs(d) < 0.5) color = mix(data.bands[level - 1], data.bands[level], d + 0.5);
      canvas.set_pixel(x, y, color);
      if (o.contour_lines && std::abs(d) < 1.0)
        canvas.blend_pixel(x, y, with_opacity(rgb(0x000000), kLineOpacity), line_coverage(d, 1.0));
    }
  }
}

void paint_bar(Canvas& canvas, const Data& data, const Layout& l) {
  const int levels = data.options.levels;
  for (int r = 0; r < l.bar.height; ++r) {
    double v = (l.bar.height - (r + 0.5)) / l.bar.height * levels;
    Color color = data.options.style == FieldStyle::heat_map ? viridis(v / levels)
                                                             : data.bands[std::min(static_cast<int>(v), levels - 1)];
    canvas.fill_rect({l.bar.x, l.bar.y + r, l.bar.width, 1}, color);
  }
  canvas.stroke_rect(l.bar.grow(1), theme::axis);
  const int label_x = l.bar.right() + 1 + theme::tick + theme::tick_gap;
  for (const PlacedTick& t : l.z_ticks) {
    int row = static_cast<int>(std::floor(t.pixel));
    if (row < l.bar.y - 1 || row > l.bar.bottom()) continue;
    int length = t.major ? theme::tick : theme::tick / 2;
    canvas.fill_rect({l.bar.right() + 1, row, length, 1}, theme::axis);
    if (!t.label.empty())
      draw_text(canvas, label_x, row, t.label, {.color = theme::tick_label, .valign = VAlign::middle});
  }
  if (!data.options.z_label.empty())
    draw_text(canvas, label_x + l.z_tick_width + theme::label_gap, l.bar.y + l.bar.height / 2, data.options.z_label,
              {.color = theme::text, .valign = VAlign::middle, .vertical = true});
}

// The paths in pixels, each split into runs at NaN/inf points.
std::vector<std::vector<std::vector<Point>>> trace(const Data& data, const Layout& l) {
  std::vector<std::vector<std::vector<Point>>> traced;
  for (const FieldPath& path : data.paths) {
    auto& runs = traced.emplace_back(1);
    for (size_t i = 0; i < path.x.size(); ++i) {
      if (std::isfinite(path.x[i]) && std::isfinite(path.y[i]))
        runs.back().push_back({l.sx.to_pixel(path.x[i]), l.sy.to_pixel(path.y[i])});
      else if (!runs.back().empty())
        runs.emplace_back();
    }
  }
  return traced;
}

bool crosses(const std::vector<std::vector<std::vector<Point>>>& traced, const Rect& r) {
  for (const auto& runs : traced)
    for (const auto& run : runs)
      for (size_t i = 0; i < run.size(); ++i) {
        Point a = run[i], b = i + 1 < run.size() ? run[i + 1] : run[i];
        if (clip_segment(a, b, r.x, r.y, r.right(), r.bottom())) return true;
      }
  return false;
}

struct Scene {
  Layout layout;
  std::vector<std::vector<std::vector<Point>>> traced;
  Rect legend_box;  // empty when the legend is in a band above the plot (or there is none)
};

Scene compose(const Data& data, const Rect& area, const Margins& at_least) {
  Scene scene;
  scene.layout = lay_out(data, area, at_least, 0);
  scene.traced = trace(data, scene.layout);
  if (data.legend.empty()) return scene;
  const Rect plot = scene.layout.plot;
  int w = legend_box_width(data.legend), h = legend_box_height(data.legend);
  if (w + 16 <= plot.width && h + 16 <= plot.height)
    for (const Rect& corner : legend_corners(plot, w, h))
      if (!crosses(scene.traced, corner.grow(4))) {
        scene.legend_box = corner;
        return scene;
      }
  scene.layout = lay_out(data, area, at_least, legend_band_height(data.legend, plot.width));
  scene.traced = trace(data, scene.layout);
  return scene;
}

}  // namespace

Field sample_field(double x_min, double x_max, double y_min, double y_max, int nx, int ny,
                   const std::function<double(double, double)>& f) {
  if (nx < 2 || ny < 2 || static_cast<int64_t>(nx) * ny > (int64_t{1} << 26))
    throw PlotError("sample_field: the grid must be at least 2 x 2 and at most 2^26 points, got " +
                    std::to_string(nx) + " x " + std::to_string(ny));
  Field field{x_min, x_max, y_min, y_max, nx, ny, {}};
  field.z.resize(static_cast<size_t>(nx) * ny);
  for (int j = 0; j < ny; ++j) {
    double y = y_min + (y_max - y_min) * j / (ny - 1);
    for (int i = 0; i < nx; ++i) field.z[static_cast<size_t>(j) * nx + i] = f(x_min + (x_max - x_min) * i / (nx - 1), y);
  }
  return field;
}

FieldChart& FieldChart::set_field(Field field) {
  const std::string who = describe(options) + ": set_field: ";
  if (field.nx < 2 || field.ny < 2)
    throw PlotError(who + "the grid must be at least 2 x 2, got " + std::to_string(field.nx) + " x " +
                    std::to_string(field.ny));
  if (field.z.size() != static_cast<size_t>(field.nx) * static_cast<size_t>(field.ny))
    throw PlotError(who + "a " + std::to_string(field.nx) + " x " + std::to_string(field.ny) + " grid needs " +
                    std::to_string(static_cast<size_t>(field.nx) * static_cast<size_t>(field.ny)) + " values, got " +
                    std::to_string(field.z.size()));
  for (auto [name, lo, hi] : {std::tuple{"x", field.x_min, field.x_max}, std::tuple{"y", field.y_min, field.y_max}})
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi) || !std::isfinite(hi - lo))
      throw PlotError(who + name + "_min < " + name + "_max must be finite and increasing, got " + format_number(lo) +
                      " .. " + format_number(hi));
  field_ = std::move(field);
  return *this;
}

FieldChart& FieldChart::add_path(std::string name, std::vector<double> x, std::vector<double> y,
                                 std::optional<Color> color) {
  return add_path(FieldPath{std::move(name), std::move(x), std::move(y), color});
}

FieldChart& FieldChart::add_path(FieldPath path) {
  if (path.x.size() != path.y.size())
    throw PlotError(describe(options) + ": path \"" + path.name + "\" has " + std::to_string(path.x.size()) +
                    " x values but " + std::to_string(path.y.size()) + " y values");
  paths_.push_back(std::move(path));
  return *this;
}

std::vector<double> FieldChart::level_values() const {
  if (field_.z.empty()) return {};
  Data data = prepare(options, field_, {});
  std::vector<double> levels;
  for (int k = 0; k <= options.levels; ++k) {
    double share = static_cast<double>(k) / options.levels;  // of the way from the low end to the high end
    levels.push_back(from_t(options.z_scale, data.t_lo * (1 - share) + data.t_hi * share));
  }
  return levels;
}

DrawStats FieldChart::draw(Canvas& canvas, const Rect& area, const Margins& at_least) const {
  const Data data = prepare(options, field_, paths_);
  const Scene scene = compose(data, area, at_least);
  const Layout& l = scene.layout;
  const Rect saved_clip = canvas.clip();
  const Rect area_clip = area.intersect(saved_clip);
  canvas.set_clip(area_clip);
  canvas.fill_rect(area, theme::background);

  canvas.set_clip(l.plot.intersect(area_clip));
  if (data.has_field) paint_field(canvas, data, l.plot);
  for (size_t p = 0; p < data.paths.size(); ++p) {
    Color color = data.path_colors[p];
    for (const auto& run : scene.traced[p]) {
      canvas.draw_polyline(run, with_opacity(theme::background, kHaloOpacity), kHaloWidth);
      canvas.draw_polyline(run, color, kPathWidth);
    }
    if (!data.paths[p].mark_ends) continue;
    const std::vector<Point>* first = nullptr;
    const std::vector<Point>* last = nullptr;
    for (const auto& run : scene.traced[p])
      if (!run.empty()) (first ? last : first) = &run, last = &run;
    if (!first) continue;
    canvas.draw_marker(first->front(), Marker::circle, 10.0, theme::background);  // start: a dot
    canvas.draw_marker(first->front(), Marker::circle, 7.0, color);
    canvas.draw_marker(last->back(), Marker::cross, 12.0, theme::background);  // end: a cross
    canvas.draw_marker(last->back(), Marker::cross, 9.0, color);
  }
  canvas.set_clip(area_clip);

  draw_frame(canvas, area, l.plot, l.decor, l.x_ticks, l.y_ticks);
  canvas.fill_rect({l.plot.right(), l.plot.y - 1, 1, l.plot.height + 1}, theme::axis);  // close the frame: top and right
  canvas.fill_rect({l.plot.x - 1, l.plot.y - 1, l.plot.width + 1, 1}, theme::axis);
  paint_bar(canvas, data, l);
  return finish_chart(canvas, area, l.plot, l.decor, scene.legend_box, data.legend, data.notes,
                      data.has_field ? "" : "no field", saved_clip, data.stats);
}

Canvas FieldChart::render(DrawStats* stats) const { return render_chart(*this, stats); }

DrawStats FieldChart::save_png(const std::string& path) const { return save_chart_png(*this, path); }

}  // namespace moments::plots
