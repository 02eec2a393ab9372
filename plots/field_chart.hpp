// field_chart.hpp — a scalar field z(x, y) drawn as filled contours or as a heat
// map, with a colour bar, and paths drawn over it: an optimizer's trajectory on
// a loss surface, its start and its end marked.
//
//   Field field = sample_field(-2, 2, -1, 3, 201, 201, [](double x, double y) {
//     return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);   // Rosenbrock
//   });
//   FieldChart chart({.title = "Rosenbrock", .z_scale = Scale::log, .levels = 20});
//   chart.set_field(field);
//   chart.add_path("Adam", xs, ys).add_path("SGD", xs2, ys2);
//   chart.save_png("rosenbrock.png");                     // 800x600
//
// What it does with the field, in order:
//   1. The grid: z is sampled at x_i = x_min + i (x_max − x_min)/(nx − 1) and
//      y_j = y_min + j (y_max − y_min)/(ny − 1); the plot spans exactly that
//      rectangle. Every pixel takes z by bilinear interpolation at its centre, so
//      the grid need not match the picture's resolution.
//   2. The colour range: min..max of the grid's values (positive ones on a log
//      scale), or pinned by z_min / z_max; values beyond a pinned end take the
//      end's colour. NaN and inf, and values <= 0 on a log scale, are not
//      coloured (the background shows), counted, and noted under the chart.
//   3. filled_contours: `levels` bands of equal width in z (in log10 z on a log
//      scale, so that every decade gets the same number of bands), each one flat
//      colour, viridis((k + ½) / levels) for band k. A band's edge is
//      anti-aliased over one pixel, using the local gradient of the band number
//      to tell how far the pixel's centre is from the level; thin dark lines
//      mark the levels (contour_lines). heat_map: the colour follows z
//      continuously, viridis(t) with t the position of z in the range.
//   4. The colour bar, right of the plot, shows the bands (or the gradient) with
//      ticks in z: 1-2-5 ticks, or decades on a log scale.
//   5. Paths: lines (2 px, with a light halo so they read on dark and light
//      colours alike) over the field, clipped to the plot; a NaN or inf point
//      breaks the line. With mark_ends, a dot marks the first point and a cross
//      the last. A legend names the paths, in the first corner of the plot that no
//      path passes through, else above the plot.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "chart_frame.hpp"
#include "ticks.hpp"

namespace moments::plots {

// z on a regular nx × ny grid: z[j * nx + i] = z(x_i, y_j), row 0 at y_min.
struct Field {
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  int nx = 0, ny = 0;  // at least 2 each
  std::vector<double> z{};
};

// f(x, y) evaluated on an nx × ny grid over [x_min, x_max] × [y_min, y_max].
Field sample_field(double x_min, double x_max, double y_min, double y_max, int nx, int ny,
                   const std::function<double(double, double)>& f);

enum class FieldStyle { filled_contours, heat_map };

struct FieldPath {
  std::string name{};
  std::vector<double> x{}, y{};
  std::optional<Color> color{};  // default: the palette, in the order paths were added
  bool mark_ends = true;         // a dot on the first point, a cross on the last
};

struct FieldChartOptions {
  std::string title{};
  std::string x_label = "x";
  std::string y_label = "y";
  std::string z_label{};  // along the colour bar
  FieldStyle style = FieldStyle::filled_contours;
  Scale z_scale = Scale::linear;  // log: levels and colours by log10 z
  int levels = 10;                // bands of filled contours, 2..256
  bool contour_lines = true;      // dark lines along the levels (filled contours only)
  std::optional<double> z_min{}, z_max{};  // pin either end of the colour range
  int title_scale = 0;                     // as LineChartOptions::title_scale
  int width = 800, height = 600;           // of render() and save_png()
};

class FieldChart {
 public:
  explicit FieldChart(FieldChartOptions options = {}) : options(std::move(options)) {}

  // Checks the grid (sizes, finite and increasing extents); throws PlotError.
  FieldChart& set_field(Field field);
  // x and y must have the same length. Returns *this, so calls can be chained.
  FieldChart& add_path(std::string name, std::vector<double> x, std::vector<double> y,
                       std::optional<Color> color = {});
  FieldChart& add_path(FieldPath path);

  // As LineChart's: draw into an area of a canvas, with margins no smaller than
  // at_least. DrawStats::points counts the path points drawn; non_finite and
  // non_positive count grid values left uncoloured.
  DrawStats draw(Canvas& canvas, const Rect& area, const Margins& at_least = {}) const;
  Canvas render(DrawStats* stats = nullptr) const;
  DrawStats save_png(const std::string& path) const;  // throws PlotError if it cannot write

  const Field& field() const { return field_; }
  const std::vector<FieldPath>& paths() const { return paths_; }

  // Where levels fall, in z (levels + 1 boundaries from the low end of the range
  // to the high end); empty before set_field or when no value can be coloured.
  std::vector<double> level_values() const;

  FieldChartOptions options;

 private:
  Field field_{0, 1, 0, 1, 0, 0, {}};  // no field yet
  std::vector<FieldPath> paths_;
};

}  // namespace moments::plots
