// test_charts.cpp — line charts, bar charts and figures: what they count, where
// they put things, the awkward inputs (empty, one point, NaN, <= 0 on a log
// scale, a million points), and the golden reference chart.
// Run: meson test -C build --suite plots
//
// The reference chart: reference_chart() below is drawn and compared, pixel by
// pixel, with tests/plots/reference_chart.png (look at it), and its checksum
// with kReferenceChecksum. After an intended change to the drawing, run
//   MOMENTS_PLOTS_UPDATE_REFERENCE=1 meson test -C build plots_charts
// which rewrites the PNG and prints the new checksum to paste below. The same
// chart drawn in DejaVu Sans (the TrueType path) has its own golden,
// reference_chart_truetype.png and kReferenceChecksumTrueType.
#include <stb/stb_image.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

const double kNaN = std::nan("");
const double kInf = std::numeric_limits<double>::infinity();

// Deterministic noise in [-1, 1) from integer arithmetic alone (SplitMix64).
double noise(uint64_t i) {
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
}

std::vector<double> steps(size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
  return x;
}

// Pixels of colour c inside r.
int count_color(const Canvas& canvas, const Rect& r, Color c) {
  int n = 0;
  Rect in = r.intersect(canvas.bounds());
  for (int y = in.y; y < in.bottom(); ++y)
    for (int x = in.x; x < in.right(); ++x) n += canvas.pixel(x, y) == c;
  return n;
}

// The chart whose picture is committed: three optimizers' losses on a log
// scale, smoothed, one with a NaN stretch and one with a restart (both noted
// under the plot), a target line.
LineChart reference_chart() {
  LineChart chart({.title = "Reference chart",
                   .y_label = "loss",
                   .y_scale = Scale::log,
                   .smoothing = 0.8,
                   .width = 640,
                   .height = 400});
  const char* names[] = {"SGD", "Adam", "AdamW (restarted at 1200)"};
  for (int k = 0; k < 3; ++k) {
    std::vector<double> x, y;
    for (int i = 0; i <= 2000; i += 4) {
      x.push_back(i);
      y.push_back((2.0 / (1.0 + i / (60.0 * (k + 1) * (k + 1))) + 0.08) * (1.0 + 0.25 * noise(i * 3 + k)));
    }
    if (k == 1)
      for (size_t i = 200; i < 215; ++i) y[i] = kNaN;  // a stretch of NaN: a gap, and a note
    if (k == 2)
      for (int i = 1200; i <= 1600; i += 4) {  // the run restarts at 1200 with a worse loss
        x.push_back(i);
        y.push_back(0.4 * (1.0 + 0.25 * noise(i * 5)));
      }
    chart.add_series(names[k], x, y);
  }
  chart.add_reference_line(0.1, "target 0.1");
  return chart;
}

constexpr uint64_t kReferenceChecksum = 0x58a40e2552da9810;

}  // namespace

TEST_CASE("NaN and inf leave gaps and are counted; the chart says so") {
  LineChart chart({.title = "gaps"});
  chart.add_series("loss", {0, 1, 2, 3, 4, 5, 6}, {1, 2, kNaN, 3, kInf, -kInf, 4});
  chart.add_series("other", {0, kNaN, 2}, {1, 1, 1});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.non_finite == 4);  // three y values and one x
  CHECK(stats.points == 6);
  // The note, in the note colour, under the plot.
  CHECK(count_color(canvas, {0, stats.plot.bottom(), canvas.width(), canvas.height() - stats.plot.bottom()},
                    theme::note) > 50);
}

TEST_CASE("a log scale drops values <= 0, counts them, and never crashes") {
  LineChart chart({.y_scale = Scale::log});
  chart.add_series("loss", {0, 1, 2, 3, 4}, {1, 0, -1, 10, 100});
  DrawStats stats;
  chart.render(&stats);
  CHECK(stats.non_positive == 2);
  CHECK(stats.points == 3);

  LineChart all_bad({.x_scale = Scale::log, .y_scale = Scale::log});
  all_bad.add_series("a", {0, 1, 2}, {-1, -2, 0});  // x = 0 cannot go on a log x axis either
  all_bad.render(&stats);
  CHECK(stats.non_positive == 3);
  CHECK(stats.points == 0);

  LineChart log_x({.x_scale = Scale::log});
  log_x.add_series("a", steps(100), std::vector<double>(100, 1.0));
  log_x.render(&stats);
  CHECK(stats.non_positive == 1);  // step 0
}

TEST_CASE("empty charts, empty series, a single point and constant series all draw") {
  DrawStats stats;
  LineChart().render(&stats);
  CHECK(stats.points == 0);
  LineChart empty_series;
  empty_series.add_series("nothing", {}, {});
  empty_series.render(&stats);
  CHECK(stats.points == 0);

  LineChart one;
  one.add_series("one", {5}, {3.0});
  Canvas canvas = one.render(&stats);
  CHECK(stats.points == 1);
  CHECK(count_color(canvas, stats.plot, palette_color(0)) > 4);  // a lone point gets a marker

  for (Scale scale : {Scale::linear, Scale::log}) {
    LineChart flat({.y_scale = scale});
    flat.add_series("flat", steps(50), std::vector<double>(50, 0.25));
    flat.add_series("same x", std::vector<double>(3, 7.0), {1, 2, 3});  // all at one step: the last wins
    flat.render(&stats);
    CHECK(stats.points == 51);
    CHECK(stats.replaced == 2);
  }
}

TEST_CASE("options are checked, with messages that name them") {
  check_error([] { LineChart({.smoothing = 1.0}).render(); }, "smoothing must be in [0, 1)");
  check_error([] { LineChart({.title = "lr", .y_min = 1.0, .y_max = 0.5}).render(); },
              "line chart \"lr\": y_min (1) must be below y_max (0.5)");
  check_error([] { LineChart({.y_scale = Scale::log, .y_min = 0.0}).render(); }, "y_min must be > 0 on a log scale");
  check_error([] { LineChart().add_series("loss", {1, 2}, {1}); }, "series \"loss\" has 2 x values but 1 y values");
  check_error(
      [] {
        BarChart().set_categories({"a", "b"}).add_series("s", {1});
      },
      "series \"s\" has 1 values for 2 categories");
  check_error([] { Figure({.columns = 0}).render(); }, "columns must be at least 1");
}

TEST_CASE("the y-range can ignore outliers, or be pinned") {
  std::vector<double> y(1000);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 1.0 + 0.01 * static_cast<double>(i % 10);
  for (size_t i : {100, 300, 500, 700, 900}) y[i] = 1000.0;
  DrawStats stats;
  LineChart robust({.ignore_outliers = true});
  robust.add_series("grad norm", steps(1000), y);
  robust.render(&stats);
  CHECK(stats.outliers == 5);

  LineChart pinned({.y_min = 0.0, .y_max = 2.0});
  pinned.add_series("grad norm", steps(1000), y);
  Canvas canvas = pinned.render(&stats);
  CHECK(stats.outliers == 0);  // pinned on purpose: nothing to report
  // The spikes run off the top of the plot and are cut there.
  CHECK(count_color(canvas, {stats.plot.x, stats.plot.y, stats.plot.width, 2}, palette_color(0)) > 0);
  CHECK(count_color(canvas, {0, 0, canvas.width(), stats.plot.y - 1}, palette_color(0)) == 0);
}

TEST_CASE("a million points draw quickly, and the envelope keeps a one-point spike") {
  const size_t n = 1'000'000;
  std::vector<double> y(n, 0.0);
  y[654'321] = 1.0;
  LineChart chart;
  chart.add_series("spiky", steps(n), y);
  auto start = std::chrono::steady_clock::now();
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(stats.points == n);
  CHECK(seconds < 5.0);  // generous: sanitizer builds are slow; the benchmark measures properly
  // The spike reaches the top fifth of the plot.
  Rect top{stats.plot.x, stats.plot.y, stats.plot.width, stats.plot.height / 5};
  CHECK(count_color(canvas, top, palette_color(0)) > 0);
}

TEST_CASE("the legend takes a corner free of data, or goes above the plot") {
  // Lines along the top and up the left side: only the lower right corner is free.
  LineChart two;
  two.add_series("along the top", {0, 10}, {10, 10});
  two.add_series("up the left", {0, 0.01}, {0, 10});
  DrawStats stats;
  two.render(&stats);
  REQUIRE(!stats.legend.empty());
  CHECK(stats.legend.x > stats.plot.x + stats.plot.width / 2);
  CHECK(stats.legend.y > stats.plot.y + stats.plot.height / 2);

  // Noise over the whole plot: no corner is free.
  LineChart busy;
  std::vector<double> a(400), b(400);
  for (size_t i = 0; i < 400; ++i) a[i] = noise(i), b[i] = noise(i + 1000);
  busy.add_series("a", steps(400), a).add_series("b", steps(400), b);
  busy.render(&stats);
  REQUIRE(!stats.legend.empty());
  CHECK(stats.legend.bottom() <= stats.plot.y);
}

TEST_CASE("a figure lines up the plot areas of its panels") {
  LineChart wide_labels({.title = "big numbers"});
  wide_labels.add_series("a", steps(10), {1e6, 2e6, 3.3e6, 1e6, 2e6, 3e6, 1e6, 2e6, 3e6, 1.5e6});
  LineChart narrow({.title = "small"});
  narrow.add_series("b", steps(10), std::vector<double>(10, 1.0));
  LineChart noted({.title = "with a note"});
  noted.add_series("c", steps(3), {1, kNaN, 2});
  BarChart bars({.title = "bars"});
  bars.set_categories({"x", "y"}).add_series("s", {1, 2});
  Figure figure({.title = "aligned", .columns = 2, .panel_width = 400, .panel_height = 300});
  figure.add(wide_labels).add(narrow).add(noted).add(bars);
  std::vector<DrawStats> stats;
  Canvas canvas = figure.render(&stats);
  CHECK(canvas.width() == 800);
  REQUIRE(stats.size() == 4);
  CHECK(stats[0].plot.x - 0 == stats[2].plot.x - 0);      // left column
  CHECK(stats[1].plot.x - 400 == stats[3].plot.x - 400);  // right column
  CHECK(stats[0].plot.y == stats[1].plot.y);              // top row
  CHECK(stats[0].plot.bottom() == stats[1].plot.bottom());
  CHECK(stats[2].plot.bottom() == stats[3].plot.bottom());  // bottom row, one with a note
  CHECK(stats[2].non_finite == 1);
  check_error(
      [&] {
        Figure bad;
        bad.add(LineChart({.smoothing = 2.0}));
        bad.render();
      },
      "smoothing");  // a panel's error comes out of the figure
}

TEST_CASE("bar charts: grouped and stacked, zero, negative and NaN values") {
  for (BarLayout layout : {BarLayout::grouped, BarLayout::stacked}) {
    BarChart chart({.title = "state", .layout = layout, .y_format = NumberFormat::bytes});
    chart.set_categories({"SGD", "Adam", "Adafactor"});
    chart.add_series("exp_avg", {0, 4e6, 4e6});
    chart.add_series("exp_avg_sq", {0, 4e6, kNaN});
    DrawStats stats;
    Canvas canvas = chart.render(&stats);
    CHECK(stats.points == 5);
    CHECK(stats.non_finite == 1);
    CHECK(count_color(canvas, stats.plot, palette_color(0)) > 100);
    CHECK(count_color(canvas, stats.plot, palette_color(1)) > 100);
  }
  BarChart negative;
  negative.set_categories({"a", "b"}).add_series("delta", {-3, 2});
  DrawStats stats;
  Canvas canvas = negative.render(&stats);
  CHECK(count_color(canvas, stats.plot, palette_color(0)) > 100);
  BarChart().render(&stats);  // nothing at all
  CHECK(stats.points == 0);
}

TEST_CASE("the usage example at the top of plots.hpp works as written") {
  std::vector<double> step, adam, sgd, lr;  // (written to the build folder)
  for (int i = 0; i <= 1000; ++i) {
    step.push_back(i);
    adam.push_back(2.0 / (1 + i / 50.0) + 0.05 + 0.02 * noise(i));
    sgd.push_back(2.0 / (1 + i / 200.0) + 0.1 + 0.02 * noise(i + 5000));
    lr.push_back(1e-3 * (1 - i / 1000.0));
  }
  LineChart chart({.title = "Training loss",
                   .y_label = "loss",
                   .y_scale = Scale::log,  // decades: 0.1, 1, 10
                   .smoothing = 0.9});     // TensorBoard-style EMA; raw drawn faint
  chart.add_series("Adam", step, adam);
  chart.add_series("SGD", step, sgd);
  chart.add_reference_line(0.1, "target");
  DrawStats stats = chart.save_png("loss.png");  // 800x500; throws PlotError if it cannot
  CHECK(stats.non_finite == 0);
  CHECK(stats.non_positive == 0);

  Figure figure({.title = "run 7", .columns = 2});
  figure.add(chart).add(LineChart({.title = "learning rate"}).add_series("lr", step, lr));
  figure.save_png("run7.png");

  BarChart bars({.title = "Optimizer state", .layout = BarLayout::stacked, .y_format = NumberFormat::bytes});
  bars.set_categories({"SGD", "Adam"}).add_series("exp_avg", {0, 4.2e6}).add_series("exp_avg_sq", {0, 4.2e6});
  bars.save_png("state.png");

  CHECK(Figure().render().width() == 560);  // no panels: an empty figure, not an error
}

TEST_CASE("the same chart gives the same pixels and the same PNG bytes") {
  Canvas a = reference_chart().render(), b = reference_chart().render();
  CHECK(fnv1a(a) == fnv1a(b));
  CHECK(encode_png(a) == encode_png(b));
}

namespace {
// The canvas must match the committed PNG tests/plots/<file> pixel by pixel and
// have the checksum; MOMENTS_PLOTS_UPDATE_REFERENCE=1 rewrites the PNG instead.
void check_golden(const Canvas& canvas, const std::string& file, uint64_t checksum) {
  const std::string path = data_dir() + "/" + file;
  if (std::getenv("MOMENTS_PLOTS_UPDATE_REFERENCE")) {
    save_png(canvas, path);
    std::printf("wrote %s; its checksum = 0x%016llx\n", path.c_str(), static_cast<unsigned long long>(fnv1a(canvas)));
    return;
  }
  int w = 0, h = 0, channels = 0;
  uint8_t* pixels = stbi_load(path.c_str(), &w, &h, &channels, 4);
  REQUIRE_MESSAGE(pixels != nullptr, "cannot read ", path);
  CHECK(w == canvas.width());
  CHECK(h == canvas.height());
  size_t differ = 0, first = 0;
  if (w == canvas.width() && h == canvas.height())
    for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
      Color c = canvas.data()[i];
      if (pixels[4 * i] != c.r || pixels[4 * i + 1] != c.g || pixels[4 * i + 2] != c.b || pixels[4 * i + 3] != c.a)
        if (differ++ == 0) first = i;
    }
  stbi_image_free(pixels);
  const std::string actual = file.substr(0, file.rfind('.')) + ".actual.png";
  if (differ) {
    save_png(canvas, actual);  // in the build folder, to compare by eye
    FAIL_CHECK(differ, " pixels differ from ", path, ", the first at (", first % static_cast<size_t>(w), ", ",
               first / static_cast<size_t>(w), "); the chart as drawn now is in ", actual);
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(fnv1a(canvas)));
  CHECK_MESSAGE(fnv1a(canvas) == checksum, "checksum ", hex);
}

// FNV-1a of the font file the TrueType golden was drawn with (DejaVu Sans 2.37,
// Debian fonts-dejavu-core 2.37-6): another file draws other pixels.
constexpr uint64_t kGoldenFontChecksum = 0xadadfef763426946;
constexpr uint64_t kReferenceChecksumTrueType = 0x834ceee0866ab6f2;

uint64_t file_checksum(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  uint64_t hash = 0xcbf29ce484222325ull;
  for (int c; (c = std::fgetc(f)) != EOF;) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  std::fclose(f);
  return hash;
}
}  // namespace

TEST_CASE("golden: the reference chart matches tests/plots/reference_chart.png") {
  DrawStats stats;
  Canvas canvas = reference_chart().render(&stats);
  CHECK(stats.non_finite == 15);
  CHECK(stats.replaced == 201);  // the first run's steps from 1200 on
  check_golden(canvas, "reference_chart.png", kReferenceChecksum);
}

TEST_CASE("golden: the reference chart in DejaVu Sans matches tests/plots/reference_chart_truetype.png") {
  const TrueTypeFont* font = configured_truetype();
  if (!font) {
    MESSAGE("no TrueType font in this build (-Dchart_font found no file): skipped");
    return;
  }
  const uint64_t font_checksum = file_checksum(configured_font_path());
  if (font_checksum != kGoldenFontChecksum && !std::getenv("MOMENTS_PLOTS_UPDATE_REFERENCE")) {
    MESSAGE("the font file ", configured_font_path(), " is not the one the golden was drawn with (checksum ",
            font_checksum, "): skipped");
    return;
  }
  if (std::getenv("MOMENTS_PLOTS_UPDATE_REFERENCE")) std::printf("font file checksum = 0x%016llx\n", static_cast<unsigned long long>(font_checksum));
  UseFont use(*font);
  DrawStats stats;
  Canvas canvas = reference_chart().render(&stats);
  CHECK(stats.non_finite == 15);
  CHECK(stats.replaced == 201);
  check_golden(canvas, "reference_chart_truetype.png", kReferenceChecksumTrueType);
}

// Issue 15, item 7: ranges whose width overflows a double (hi - lo = inf) still
// draw: the line's pixels are there, from the top of the plot to the bottom.
TEST_CASE("extreme but finite ranges draw, on linear and log scales") {
  struct Case {
    Scale scale;
    std::vector<double> y;
  };
  for (const Case& c : {Case{Scale::linear, {1e308, -1e308, 0}}, Case{Scale::linear, {1.7e308, -1.7e308, 1.7e308}},
                        Case{Scale::log, {1e-320, 1.7e308, 1.0}}, Case{Scale::log, {1e300, 1e307, 1.7e308}}}) {
    INFO("y = ", c.y[0], ", ", c.y[1], ", ", c.y[2], (c.scale == Scale::log ? " (log)" : ""));
    LineChart chart({.y_scale = c.scale, .width = 400, .height = 300});
    chart.add_series("loss", {1, 2, 3}, c.y);
    DrawStats stats;
    Canvas canvas = chart.render(&stats);
    CHECK(stats.points == 3);
    const Rect& p = stats.plot;
    int top = count_color(canvas, {p.x, p.y, p.width, p.height / 4}, palette_color(0));
    int bottom = count_color(canvas, {p.x, p.bottom() - p.height / 4, p.width, p.height / 4}, palette_color(0));
    int middle = count_color(canvas, {p.x, p.y + p.height / 4, p.width, p.height / 2}, palette_color(0));
    CHECK(top > 0);
    CHECK(bottom > 0);
    CHECK(middle > 20);  // the line crosses the middle of the plot
    CHECK(count_color(canvas, {0, p.bottom() + 1, canvas.width(), canvas.height() - p.bottom() - 1},
                      theme::note) == 0);  // nothing was left out
  }
}

// Issue 15, item 9: points dropped by the restart handling are noted on the
// chart, like points a log scale cannot show.
TEST_CASE("points replaced by a restart are counted and the chart says so") {
  std::vector<double> x, y;
  for (int step = 100; step >= 1; --step) x.push_back(step), y.push_back(1.0 / step);
  LineChart chart({.title = "backwards"});
  chart.add_series("loss", x, y);
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.replaced == 99);
  CHECK(stats.points == 1);
  CHECK(count_color(canvas, {0, stats.plot.bottom(), canvas.width(), canvas.height() - stats.plot.bottom()},
                    theme::note) > 50);

  LineChart rising({.title = "one run"});  // and no note when nothing was dropped
  rising.add_series("loss", steps(100), steps(100));
  canvas = rising.render(&stats);
  CHECK(stats.replaced == 0);
  CHECK(count_color(canvas, {0, stats.plot.bottom(), canvas.width(), canvas.height() - stats.plot.bottom()},
                    theme::note) == 0);
}

TEST_CASE("a chart can carry notes of its own (e.g. a torn last row of its log)") {
  LineChart chart({.notes = {"line 4 ignored: the last row has no line break"}});
  chart.add_series("loss", steps(10), steps(10));
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(count_color(canvas, {0, stats.plot.bottom(), canvas.width(), canvas.height() - stats.plot.bottom()},
                    theme::note) > 50);
}
