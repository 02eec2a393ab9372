// test_field_chart.cpp — viridis, and field charts (filled contours and heat maps
// of z(x, y) with paths over them): exact pixels on small cases, levels on a log
// scale, what is left uncoloured and said, the paths' marks, bad input.
// Run: meson test -C build --suite plots
#include <cmath>
#include <limits>

#include "colormap.hpp"
#include "field_chart.hpp"
#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

const double kNaN = std::nan("");

// A chart with no text around the plot, so the plot area is easy to reason about.
FieldChartOptions bare(FieldStyle style, int levels) {
  return {.x_label = "", .y_label = "", .style = style, .levels = levels, .contour_lines = false,
          .width = 300, .height = 200};
}

bool channels_between(Color c, Color a, Color b) {
  auto between = [](int v, int u, int w) { return v >= std::min(u, w) && v <= std::max(u, w); };
  return between(c.r, a.r, b.r) && between(c.g, a.g, b.g) && between(c.b, a.b, b.b);
}

}  // namespace

TEST_CASE("viridis: matplotlib's ends, lightness rising all the way") {
  CHECK(close(viridis(0.0), rgb(0x440154), 3));  // matplotlib's first and last entries
  CHECK(close(viridis(1.0), rgb(0xfde725), 3));
  CHECK(close(viridis(0.5), rgb(0x21918c), 3));
  CHECK(viridis(-1.0) == viridis(0.0));
  CHECK(viridis(2.0) == viridis(1.0));
  CHECK(viridis(kNaN) == viridis(0.0));
  // Lighter at every step of 1/64; at finer steps, 8-bit rounding of the channels can
  // dip the luminance by a hair (matplotlib's own table dips by up to 0.0003).
  double previous = -1.0;
  for (int i = 0; i <= 64; ++i) {
    double l = relative_luminance(viridis(i / 64.0));
    INFO("t = ", i / 64.0);
    CHECK(l > previous);
    previous = l;
  }
  previous = -1.0;
  for (int i = 0; i <= 4000; ++i) {
    double l = relative_luminance(viridis(i / 4000.0));
    INFO("t = ", i / 4000.0);
    CHECK(l > previous - 0.0005);
    previous = std::max(previous, l);
  }
}

TEST_CASE("filled contours: z = x in 4 bands, every pixel its band's colour or between two neighbours") {
  FieldChart chart(bare(FieldStyle::filled_contours, 4));
  chart.set_field({0, 1, 0, 1, 2, 2, {0, 1, 0, 1}});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  const Rect p = stats.plot;
  REQUIRE(p.width > 40);
  std::vector<Color> bands;
  for (int k = 0; k < 4; ++k) bands.push_back(viridis((k + 0.5) / 4));
  for (int y = p.y; y < p.bottom(); ++y)
    for (int x = p.x; x < p.right(); ++x) {
      double s = (x - p.x + 0.5) / p.width * 4;  // the band coordinate at the pixel's centre
      int level = static_cast<int>(std::lround(s));
      double pixels_from_level = std::abs(s - level) * p.width / 4;
      Color c = canvas.pixel(x, y);
      INFO("pixel (", x, ", ", y, ") s = ", s, " colour ", color_str(c));
      if (level == 0 || level == 4 || pixels_from_level >= 0.5)
        REQUIRE(c == bands[std::min(static_cast<int>(s), 3)]);
      else
        REQUIRE(channels_between(c, bands[level - 1], bands[level]));
    }
  CHECK(stats.non_finite == 0);
  CHECK(stats.points == 0);
  auto levels = chart.level_values();
  REQUIRE(levels.size() == 5);
  for (int k = 0; k <= 4; ++k) CHECK(levels[k] == doctest::Approx(k / 4.0));
}

TEST_CASE("contour lines darken the pixels on a level and nothing away from it") {
  FieldChartOptions o = bare(FieldStyle::filled_contours, 4);
  FieldChart plain(o);
  o.contour_lines = true;
  FieldChart lined(o);
  for (FieldChart* chart : {&plain, &lined}) chart->set_field({0, 1, 0, 1, 2, 2, {0, 1, 0, 1}});
  DrawStats stats;
  Canvas a = plain.render(&stats), b = lined.render();
  const Rect p = stats.plot;
  int darker_columns = 0;
  for (int x = p.x; x < p.right(); ++x) {
    double s = (x - p.x + 0.5) / p.width * 4;
    double pixels_from_level = std::abs(s - std::lround(s)) * p.width / 4;
    Color u = a.pixel(x, p.y + p.height / 2), v = b.pixel(x, p.y + p.height / 2);
    INFO("column ", x, " s = ", s);
    if (pixels_from_level >= 1.0 || std::lround(s) == 0 || std::lround(s) == 4) {
      CHECK(u == v);
    } else if (!(u == v)) {
      CHECK(relative_luminance(v) < relative_luminance(u));
      ++darker_columns;
    }
  }
  CHECK(darker_columns >= 3);  // one or two columns at each of the 3 inner levels
}

TEST_CASE("heat map: z = y colours each row by its height, lightest at the top") {
  FieldChart chart(bare(FieldStyle::heat_map, 10));
  chart.set_field({0, 1, 0, 1, 2, 2, {0, 0, 1, 1}});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  const Rect p = stats.plot;
  for (int y = p.y; y < p.bottom(); ++y) {
    Color expected = viridis((p.bottom() - (y + 0.5)) / p.height);
    for (int x = p.x; x < p.right(); x += 7) {
      INFO("pixel (", x, ", ", y, ")");
      REQUIRE(close(canvas.pixel(x, y), expected, 1));
    }
  }
  CHECK(relative_luminance(canvas.pixel(p.x + 3, p.y)) > relative_luminance(canvas.pixel(p.x + 3, p.bottom() - 1)));
}

TEST_CASE("log scale: every decade gets the same number of bands") {
  FieldChart chart({.z_scale = Scale::log, .levels = 3});
  chart.set_field(sample_field(0, 1, 0, 1, 11, 2, [](double x, double) { return std::pow(10.0, 3 * x); }));
  auto levels = chart.level_values();
  REQUIRE(levels.size() == 4);
  CHECK(levels[0] == doctest::Approx(1.0));
  CHECK(levels[1] == doctest::Approx(10.0));
  CHECK(levels[2] == doctest::Approx(100.0));
  CHECK(levels[3] == doctest::Approx(1000.0));
}

TEST_CASE("values that cannot be coloured are left as background, counted and noted") {
  // A 3 x 2 grid whose right column is NaN: the right half of the plot stays white.
  FieldChart chart(bare(FieldStyle::filled_contours, 4));
  chart.set_field({0, 2, 0, 1, 3, 2, {0, 1, kNaN, 0, 1, kNaN}});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.non_finite == 2);
  const Rect p = stats.plot;
  CHECK(canvas.pixel(p.x + p.width * 3 / 4, p.y + p.height / 2) == kWhite);
  CHECK_FALSE(canvas.pixel(p.x + p.width / 4, p.y + p.height / 2) == kWhite);
  // The note is drawn under the plot, in the note colour.
  int note_pixels = 0;
  for (int y = p.bottom(); y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x) note_pixels += canvas.pixel(x, y) == theme::note;
  CHECK(note_pixels > 20);

  FieldChart log_chart({.z_scale = Scale::log});
  log_chart.set_field({0, 1, 0, 1, 2, 2, {-1, 0, 1, 10}});
  DrawStats log_stats;
  log_chart.render(&log_stats);
  CHECK(log_stats.non_positive == 2);
}

TEST_CASE("extreme but finite ranges still colour every pixel") {
  FieldChart chart(bare(FieldStyle::filled_contours, 4));
  chart.set_field({0, 1, 0, 1, 2, 2, {-1e308, 1e308, -1e308, 1e308}});
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  const Rect p = stats.plot;
  CHECK(canvas.pixel(p.x + 1, p.y + 5) == viridis(0.125));
  CHECK(canvas.pixel(p.right() - 2, p.y + 5) == viridis(0.875));
  auto levels = chart.level_values();
  REQUIRE(levels.size() == 5);
  for (double v : levels) CHECK(std::isfinite(v));

  FieldChart flat(bare(FieldStyle::heat_map, 4));  // one value everywhere: the middle of the map
  flat.set_field({0, 1, 0, 1, 2, 2, {3, 3, 3, 3}});
  Canvas c2 = flat.render(&stats);
  CHECK(close(c2.pixel(stats.plot.x + 5, stats.plot.y + 5), viridis(0.5), 1));
}

TEST_CASE("paths: a dot at the start, a cross at the end, a legend clear of them") {
  FieldChart chart({.title = "paths", .width = 400, .height = 300});
  chart.set_field(sample_field(-1, 1, -1, 1, 21, 21, [](double x, double y) { return x * x + y * y; }));
  chart.add_path("descent", {-0.5, -0.25, 0.0}, {-0.5, -0.25, 0.0}, rgb(0xd62728));
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.points == 3);
  const Rect p = stats.plot;
  auto pixel_at = [&](double x, double y) {
    return canvas.pixel(static_cast<int>(p.x + (x + 1) / 2 * p.width), static_cast<int>(p.bottom() - (y + 1) / 2 * p.height));
  };
  CHECK(pixel_at(-0.5, -0.5) == rgb(0xd62728));  // the start dot's centre
  CHECK(pixel_at(0.0, 0.0) == rgb(0xd62728));    // the end cross's centre
  REQUIRE_FALSE(stats.legend.empty());
  // The path runs from the lower left to the centre: the upper right corner is free.
  CHECK(stats.legend.x > p.x + p.width / 2);
  CHECK(stats.legend.y < p.y + p.height / 2);

  FieldChart broken(bare(FieldStyle::filled_contours, 4));
  broken.set_field({0, 1, 0, 1, 2, 2, {0, 1, 0, 1}});
  broken.add_path("", {0.1, kNaN, 0.9}, {0.1, 0.5, 0.9});
  broken.render(&stats);
  CHECK(stats.points == 2);
  CHECK(stats.non_finite == 1);
  CHECK(stats.legend.empty());  // an unnamed path has no legend entry
}

TEST_CASE("no field: an empty plot that says so") {
  FieldChart chart;
  DrawStats stats;
  Canvas canvas = chart.render(&stats);
  CHECK(stats.non_finite == 0);
  CHECK(chart.level_values().empty());
  int grey = 0;
  for (int y = stats.plot.y; y < stats.plot.bottom(); ++y)
    for (int x = stats.plot.x; x < stats.plot.right(); ++x) grey += canvas.pixel(x, y) == rgb(0x888888);
  CHECK(grey > 10);
}

TEST_CASE("bad input names the chart and what was wrong") {
  FieldChart chart({.title = "surface"});
  CHECK(error_of([&] { chart.set_field({0, 1, 0, 1, 1, 2, {0, 1}}); }).find("at least 2 x 2") != std::string::npos);
  CHECK(error_of([&] { chart.set_field({0, 1, 0, 1, 2, 2, {0, 1, 2}}); }).find("needs 4 values, got 3") !=
        std::string::npos);
  CHECK(error_of([&] { chart.set_field({1, 0, 0, 1, 2, 2, {0, 1, 2, 3}}); }).find("x_min < x_max") !=
        std::string::npos);
  CHECK(error_of([&] { chart.set_field({0, 1, 0, kNaN, 2, 2, {0, 1, 2, 3}}); }).find("y_min < y_max") !=
        std::string::npos);
  CHECK(error_of([&] { chart.add_path("p", {0, 1}, {0}); }).find("path \"p\" has 2 x values but 1 y values") !=
        std::string::npos);
  CHECK(error_of([&] { chart.set_field({0, 1, 0, 1, 2, 2, {0, 1, 2, 3}}); }).empty());
  chart.options.levels = 1;
  CHECK(error_of([&] { chart.render(); }).find("field chart \"surface\": levels must be 2..256, got 1") !=
        std::string::npos);
  chart.options.levels = 10;
  chart.options.z_scale = Scale::log;
  chart.options.z_min = -1.0;
  CHECK(error_of([&] { chart.render(); }).find("z_min must be finite and > 0") != std::string::npos);
  chart.options.z_scale = Scale::linear;
  chart.options.z_min = 5.0, chart.options.z_max = 1.0;
  CHECK(error_of([&] { chart.render(); }).find("z_min (5) is above z_max (1)") != std::string::npos);
  CHECK(error_of([&] { sample_field(0, 1, 0, 1, 1 << 14, 1 << 14, [](double, double) { return 0.0; }); })
            .find("at most 2^26 points") != std::string::npos);
}
