// test_heatmap.cpp — layers × steps heat maps of a log and their small multiples:
// the colour of known cells, missing cells drawn as missing, a colour bar that
// rises from bottom to top with ticks at decades, globs over column names, and
// clear errors for bad patterns and mismatched rows.
// Run: meson test -C build --suite plots
#include <cmath>

#include "colormap.hpp"
#include "heatmap_chart.hpp"
#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

const double kNaN = std::nan("");

// Two rows over four steps: row "a" spans three decades, row "b" starts missing.
HeatmapChart two_rows() {
  HeatmapChart chart({.title = "", .x_label = "", .width = 400, .height = 300});
  chart.set_steps({10, 20, 30, 40}).add_row("a", {1e-3, 1e-2, 1e-1, 1.0}).add_row("b", {kNaN, 1.0, 0.0, 1e-2});
  return chart;
}

// The pixel at the centre of cell (row, column) of a chart of `rows` × `columns` equal cells.
std::pair<int, int> cell_centre(const Rect& plot, int row, int column, int rows, int columns) {
  return {plot.x + static_cast<int>((column + 0.5) * plot.width / columns),
          plot.y + static_cast<int>((row + 0.5) * plot.height / rows)};
}

}  // namespace

TEST_CASE("heat map: each cell is viridis at its place in log10 z, missing cells are hatched") {
  HeatmapChart chart = two_rows();
  auto [lo, hi] = chart.color_range();
  CHECK(lo == doctest::Approx(1e-3));
  CHECK(hi == doctest::Approx(1.0));
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.points == 6);
  CHECK(stats.non_finite == 1);
  CHECK(stats.non_positive == 1);
  const double t[] = {0.0, 1.0 / 3, 2.0 / 3, 1.0};  // log10 of 1e-3 .. 1 over three decades
  for (int c = 0; c < 4; ++c) {
    auto [x, y] = cell_centre(stats.plot, 0, c, 2, 4);
    CAPTURE(c);
    CHECK(close(canvas.pixel(x, y), viridis(t[c]), 1));
  }
  for (int c : {0, 2}) {  // NaN and 0 (on a log scale): missing
    auto [x, y] = cell_centre(stats.plot, 1, c, 2, 4);
    CAPTURE(c);
    CHECK(canvas.pixel(x, y) == missing_color(x, y));
    CHECK(canvas.pixel(x + 1, y) == missing_color(x + 1, y));
  }
  auto [x, y] = cell_centre(stats.plot, 1, 3, 2, 4);
  CHECK(close(canvas.pixel(x, y), viridis(1.0 / 3), 1));
  CHECK(chart.color_of(1e-2) == viridis(1.0 / 3));
  // Cells are sharp-edged: the pixel columns either side of an edge take the neighbouring cells.
  int edge = stats.plot.x + stats.plot.width / 4;
  CHECK(close(canvas.pixel(edge - 2, y - stats.plot.height / 2), viridis(0.0), 1));
  CHECK(close(canvas.pixel(edge + 2, y - stats.plot.height / 2), viridis(1.0 / 3), 1));
}

TEST_CASE("heat map: the colour bar grows lighter from bottom to top") {
  DrawStats stats;
  Canvas canvas = two_rows().render(&stats);
  const int bar_x = stats.plot.right() + 16 + 7;  // the middle of the colour bar (gap 16, width 14)
  int first = -1, last = -1;
  for (int y = stats.plot.y; y < stats.plot.bottom(); ++y) {
    Color c = canvas.pixel(bar_x, y);
    if (c.r == c.g && c.g == c.b) continue;  // frame or background
    if (first < 0) first = y;
    last = y;
  }
  REQUIRE(first >= 0);
  CHECK(last - first > stats.plot.height / 2);
  CHECK(close(canvas.pixel(bar_x, first), viridis(1.0), 3));  // top: the high end
  CHECK(close(canvas.pixel(bar_x, last), viridis(0.0), 3));   // bottom: the low end
  double previous = 2.0;
  for (int y = first; y <= last; ++y) {  // luminance falls going down, row by row (up to 8-bit rounding)
    double l = relative_luminance(canvas.pixel(bar_x, y));
    CAPTURE(y);
    CHECK(l <= previous + 0.002);
    previous = std::min(previous, l);
  }
}

TEST_CASE("heat map: a restarted log keeps the latest row of a repeated step") {
  HeatmapChart chart({.x_label = "", .width = 300, .height = 200});
  chart.set_steps({1, 2, 3, 2, 3}).add_row("a", {1.0, 100.0, 100.0, 10.0, 1000.0});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.replaced == 2);
  CHECK(stats.points == 3);  // steps 1, 2 (10), 3 (1000)
  auto [x, y] = cell_centre(stats.plot, 0, 1, 1, 3);
  CHECK(close(canvas.pixel(x, y), viridis(1.0 / 3), 1));  // 10 between 1 and 1000
}

TEST_CASE("heat map from a log: rows are what the pattern's '*' matched, in file order") {
  CsvLog log = parse_csv(
      "step,loss,update_ratio.fc1.weight,update_ratio.fc1.bias,grad_norm.fc1.weight\n"
      "1,2.0,0.01,0.1,3\n2,1.5,0.001,0.1,2\n",
      "run.csv");
  HeatmapChart chart = heatmap_from_log(log, "update_ratio.*");
  CHECK(chart.row_names() == std::vector<std::string>{"fc1.weight", "fc1.bias"});
  CHECK(chart.steps() == std::vector<double>{1, 2});
  CHECK(chart.options.title == "update_ratio.*");
  CHECK(matching_columns(log, "*.fc1.weight") == std::vector<std::string>{"update_ratio.fc1.weight", "grad_norm.fc1.weight"});
  CHECK(glob_match("a?c*", "abcdef"));
  CHECK(glob_match("*", ""));
  CHECK_FALSE(glob_match("a?c", "ac"));
  CHECK_FALSE(glob_match("*.bias", "fc1.weight"));
  CHECK(row_name("adam.m_norm.*", "adam.m_norm.fc2.bias") == "fc2.bias");
  CHECK(row_name("loss", "loss") == "loss");
  Figure figure = small_multiples_from_log(log, "update_ratio.*", {.columns = 2, .panel_width = 300, .panel_height = 200});
  CHECK(figure.panels() == 2);
  CHECK(figure.render().width() == 600);
}

TEST_CASE("heat map: bad patterns and mismatched rows are clear errors") {
  CsvLog log = parse_csv("step,loss,update_ratio.fc1.weight\n1,2.0,0.01\n", "run.csv");
  check_error([&] { heatmap_from_log(log, ""); }, "run.csv: an empty column pattern");
  check_error([&] { heatmap_from_log(log, "grad_norm.*"); }, "no column matches \"grad_norm.*\"");
  check_error([&] { heatmap_from_log(log, "grad_norm.*"); }, "the columns are: step, loss, update_ratio.fc1.weight");
  check_error([&] { small_multiples_from_log(log, "adam.*"); }, "no column matches \"adam.*\"");
  check_error([&] { heatmap_from_log(log, "st?p"); }, "matches only the x column \"step\"");
  check_error([&] { heatmap_from_log(log, "update_ratio.*", {}, "epoch"); }, "epoch");
  HeatmapChart chart;
  chart.set_steps({1, 2});
  check_error([&] { chart.add_row("fc1", {1.0}); }, "row \"fc1\" has 1 values, but the chart has 2 steps");
  check_error([&] { chart.set_steps({1, kNaN}); }, "step 1 is nan");
  chart.add_row("fc1", {1.0, 2.0});
  chart.options.z_min = 10.0, chart.options.z_max = 1.0;
  check_error([&] { chart.render(); }, "z_min (10) is above z_max (1)");
  chart.options.z_min = -1.0;
  check_error([&] { chart.render(); }, "z_min must be finite and > 0");
}
