// heatmap_chart.hpp — per-layer views of a training log: one row per parameter
// (layer), one column per recorded step, each cell coloured by a value such as
// the update/parameter ratio, the gradient norm or Adam's ‖m‖, on a log colour
// scale with a colour bar; or, as the alternative, small multiples: one small
// line chart per parameter.
//
//   CsvLog log = read_csv("run.csv");
//   HeatmapChart chart = heatmap_from_log(log, "update_ratio.*");   // rows: what '*' matched
//   chart.save_png("ratios.png");
//   Figure panels = small_multiples_from_log(log, "update_ratio.*");
//   panels.save_png("ratios_per_layer.png");
//
// Or by hand:
//   HeatmapChart chart({.title = "‖Δθ‖/‖θ‖", .z_label = "update ratio"});
//   chart.set_steps({10, 20, 30}).add_row("fc1.weight", {1e-3, 2e-3, 8e-4}).add_row("fc1.bias", {...});
//
// What it does, in order:
//   1. Columns: one per step, in the order given; steps must be finite and rise
//      (a log of one run, as the monitor writes it; a restarted log's repeated
//      steps keep their latest row, as line charts do). Cell edges lie half way
//      between neighbouring steps, so the x axis is linear in the step and
//      evenly recorded steps get cells of equal width.
//   2. Rows: in the order added, the first at the top, labelled on the left.
//   3. Colour: viridis(t), t the position of log10 z between the ends of the
//      colour range (min..max of the values that can be coloured, or pinned by
//      z_min / z_max; values beyond a pinned end take the end's colour).
//      z_scale = linear colours z itself.
//   4. Missing values: NaN and inf, and values <= 0 on a log scale, are drawn
//      as missing, a light grey with dark diagonal hatching that no colour of
//      viridis resembles; a swatch under the colour bar says "missing", and a
//      note under the chart counts them.
//   5. The colour bar, right of the plot, runs from the low end (bottom) to the
//      high end (top), with log_ticks' ticks on a log scale (ticks.hpp): whole
//      decades, with 2 and 5 between them when the bar has room for them.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "chart_frame.hpp"
#include "csv_log.hpp"
#include "figure.hpp"
#include "ticks.hpp"

namespace moments::plots {

struct HeatmapChartOptions {
  std::string title{};
  std::string x_label = "step";
  std::string y_label{};                   // left of the row names (usually none: the names say it)
  std::string z_label{};                   // along the colour bar
  Scale z_scale = Scale::log;
  std::optional<double> z_min{}, z_max{};  // pin either end of the colour range
  int title_scale = 0;                     // as LineChartOptions::title_scale
  int width = 800;
  int height = 0;                          // 0: 150 + 24 px per row, within 300..1200
};

// The missing-value pattern of a heat map at canvas pixel (x, y): hatching fixed
// to the canvas, so neighbouring missing cells join up.
Color missing_color(int x, int y);

class HeatmapChart {
 public:
  explicit HeatmapChart(HeatmapChartOptions options = {}) : options(std::move(options)) {}

  // The steps of the columns. Throws PlotError on a NaN/inf step.
  HeatmapChart& set_steps(std::vector<double> steps);
  // One row; values[c] belongs to steps[c] (the lengths must agree). Throws PlotError.
  HeatmapChart& add_row(std::string name, std::vector<double> values);

  const std::vector<double>& steps() const { return steps_; }
  const std::vector<std::string>& row_names() const { return names_; }
  size_t rows() const { return names_.size(); }

  // The colour a value gets in this chart's range (missing_color's base grey when it is missing);
  // the colour range's ends, in z.
  Color color_of(double z) const;
  std::pair<double, double> color_range() const;

  // As LineChart's. DrawStats::points counts coloured cells, non_finite and
  // non_positive the missing ones, replaced the columns a restart superseded.
  DrawStats draw(Canvas& canvas, const Rect& area, const Margins& at_least = {}) const;
  int height() const;  // of render(): options.height, or the automatic one
  Canvas render(DrawStats* stats = nullptr) const;
  DrawStats save_png(const std::string& path) const;  // throws PlotError if it cannot write

  HeatmapChartOptions options;

 private:
  std::vector<double> steps_;
  std::vector<std::string> names_;
  std::vector<std::vector<double>> values_;
};

// The columns of `log` whose names match `pattern`, in file order. The pattern is
// a glob: '*' matches any run of characters (none included), '?' one character,
// everything else itself ("update_ratio.*", "adam.m_norm.fc?.weight"). Throws
// PlotError for an empty pattern or one that no column matches; the message
// lists the columns the log has.
std::vector<std::string> matching_columns(const CsvLog& log, const std::string& pattern);
// Does `text` match the glob `pattern`?
bool glob_match(const std::string& pattern, const std::string& text);
// A row's name: what the pattern's wildcards matched ("update_ratio.*" and
// "update_ratio.fc1.weight" give "fc1.weight"); the whole column name when the
// pattern has no wildcard or they matched nothing.
std::string row_name(const std::string& pattern, const std::string& column);

// A heat map of the matching columns over `x_column` (default "step").
// options.title defaults to the pattern. Throws PlotError (see matching_columns).
HeatmapChart heatmap_from_log(const CsvLog& log, const std::string& pattern, HeatmapChartOptions options = {},
                              const std::string& x_column = "step");
// One line chart per matching column (on a log y axis unless y_scale says
// otherwise), titled by its row name, three to a row unless options.columns
// says otherwise. options.title defaults to the pattern.
Figure small_multiples_from_log(const CsvLog& log, const std::string& pattern, FigureOptions options = {},
                                Scale y_scale = Scale::log, const std::string& x_column = "step");

}  // namespace moments::plots
