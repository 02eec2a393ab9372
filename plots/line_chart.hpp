// line_chart.hpp — trend charts: one or more series of (x, y) points drawn as
// lines over a shared x axis, the way TensorBoard draws training curves.
//
// What a chart does with its data, in order:
//   1. Restarts: points are taken in the order they were logged. A point whose
//      x is not beyond the previous one (a restarted run, or a step logged
//      twice) replaces every earlier point from that x on: the latest value wins.
//      The chart notes how many were dropped ("99 points dropped: step went
//      back (restart)"). Points whose x is NaN or inf are dropped.
//   2. Smoothing (options.smoothing > 0): TensorBoard's debiased EMA over every
//      point, before anything is thinned out. The raw series is drawn faint
//      behind the smoothed one, in the same colour.
//   3. Points that cannot be drawn are dropped and counted: NaN and inf leave a
//      gap in the line; on a log scale so do values <= 0. The chart says how
//      many under the plot ("3 NaN/inf points not drawn"), and draw() returns
//      the counts.
//   4. Ranges: min..max of the drawn points plus a margin (5% on y, 3% on x,
//      in log space on a log scale, and never past the largest double, so
//      1e308 and -1e308 draw), like matplotlib; or, with ignore_outliers,
//      the 2nd..98th percentile band widened by 10% of its height and never
//      beyond min..max, so a few spikes do not squash the curve; either end can
//      be pinned. Reference lines widen the range to stay in view (pin the
//      range to leave one out).
//   5. Thinning: where a stretch of line has more than 2 points per pixel
//      column, only the lowest and the highest point of each column are kept
//      (the min/max envelope, see series_prep.hpp): the same pixels, at any
//      number of points. Smoothing has already seen every point.
//   6. Drawing: grid, reference lines, raw then smoothed series clipped to the
//      plot area, axes, and a legend (when there are two or more series) in the
//      first corner of the plot that no line passes through, or above the plot
//      when every corner is taken.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "chart_frame.hpp"
#include "ticks.hpp"

namespace moments::plots {

struct Series {
  std::string name{};
  std::vector<double> x{}, y{};
  std::optional<Color> color{};  // default: the palette, in the order series were added
  bool markers = false;          // a dot on every point (for short series)
};

// A horizontal dashed line across the plot, e.g. a target loss.
struct ReferenceLine {
  double y = 0;
  std::string label{};           // written at the right end, just above the line
  std::optional<Color> color{};  // default dark grey
};

struct LineChartOptions {
  std::string title{};
  std::string x_label = "step";
  std::string y_label{};
  Scale x_scale = Scale::linear;
  Scale y_scale = Scale::linear;
  double smoothing = 0.0;                         // TensorBoard's EMA weight in [0, 1): 0 off, 0.6 mild, 0.9 strong
  bool ignore_outliers = false;                   // y-range from the 2nd..98th percentiles (see above)
  std::optional<double> y_min{}, y_max{};         // pin either end of the y-range
  std::optional<double> x_min{}, x_max{};         // pin either end of the x-range
  NumberFormat y_format = NumberFormat::compact;  // bytes: tick labels in KiB, MiB, GiB
  int title_scale = 0;                            // of the title text; 0: 2 for a chart alone, 1 as a panel of a Figure
  int width = 800, height = 500;                  // of render() and save_png()
  std::vector<std::string> notes{};               // more notes under the plot, after the chart's own
};

class LineChart {
 public:
  explicit LineChart(LineChartOptions options = {}) : options(std::move(options)) {}

  // x and y must have the same length. Returns *this, so calls can be chained.
  LineChart& add_series(std::string name, std::vector<double> x, std::vector<double> y,
                        std::optional<Color> color = {});
  LineChart& add_series(Series series);
  LineChart& add_reference_line(double y, std::string label = "", std::optional<Color> color = {});

  const std::vector<Series>& series() const { return series_; }
  const std::vector<ReferenceLine>& reference_lines() const { return references_; }

  // Draws into `area` of a canvas. `at_least` asks for margins (area edge to
  // plot area) no smaller than given; margins(area) says what this chart needs
  // on its own. A Figure uses both to line up the plot areas of its panels.
  DrawStats draw(Canvas& canvas, const Rect& area, const Margins& at_least = {}) const;
  Margins margins(const Rect& area) const;

  // The same in two steps. plan(area) does all the work of laying the chart
  // out in an area (restarts, smoothing, ranges, ticks, thinning, legend);
  // margins(plan) reads the margins off it, and draw(plan, ...) draws it, only
  // moving the lines if `at_least` asks for larger margins. A Figure plans every
  // panel, lines their margins up, then draws them: each panel's data is gone
  // through once. A plan holds a copy of the data as it was when planned.
  struct Plan;  // opaque: defined in line_chart.cpp
  std::shared_ptr<const Plan> plan(const Rect& area) const;
  Margins margins(const Plan& plan) const;
  DrawStats draw(const Plan& plan, Canvas& canvas, const Margins& at_least = {}) const;

  // A canvas of options.width × options.height with the chart on it.
  Canvas render(DrawStats* stats = nullptr) const;
  DrawStats save_png(const std::string& path) const;  // throws PlotError if it cannot write

  LineChartOptions options;

 private:
  std::vector<Series> series_;
  std::vector<ReferenceLine> references_;
};

}  // namespace moments::plots
