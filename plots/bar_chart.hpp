// bar_chart.hpp — bar charts, grouped or stacked: for each category (along x),
// one bar per series side by side (grouped), or the series piled into one bar
// (stacked). Made for optimizer-state memory: categories are optimizers, series
// are state buffers, values are bytes.
//
//   BarChart chart({.title = "Optimizer state", .y_label = "memory",
//                   .layout = BarLayout::stacked, .y_format = NumberFormat::bytes});
//   chart.set_categories({"SGD", "Adam", "Adafactor"});
//   chart.add_series("exp_avg", {0, 4.2e6, 4.2e6});
//   chart.add_series("exp_avg_sq", {0, 4.2e6, 9.1e3});
//   chart.save_png("state.png");
//
// The y-range always holds 0. Negative values go below it (in a stack, the
// negative parts pile downwards). NaN and inf are not drawn and are counted, as
// in a line chart. Values are written above the bars (stacked: the total above
// each stack) when every label fits its bar.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "chart_frame.hpp"
#include "ticks.hpp"

namespace moments::plots {

enum class BarLayout { grouped, stacked };

struct BarSeries {
  std::string name{};
  std::vector<double> values{};  // one per category
  std::optional<Color> color{};  // default: the palette, in order
};

struct BarChartOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  BarLayout layout = BarLayout::grouped;
  NumberFormat y_format = NumberFormat::compact;  // bytes: KiB, MiB, GiB on the axis and the bars
  bool show_values = true;
  int title_scale = 0;            // as LineChartOptions::title_scale
  int width = 800, height = 500;  // of render() and save_png()
};

class BarChart {
 public:
  explicit BarChart(BarChartOptions options = {}) : options(std::move(options)) {}

  BarChart& set_categories(std::vector<std::string> names);
  // One value per category. Returns *this, so calls can be chained.
  BarChart& add_series(std::string name, std::vector<double> values, std::optional<Color> color = {});

  // As LineChart's draw, margins and plan.
  DrawStats draw(Canvas& canvas, const Rect& area, const Margins& at_least = {}) const;
  Margins margins(const Rect& area) const;
  struct Plan;  // opaque: defined in bar_chart.cpp
  std::shared_ptr<const Plan> plan(const Rect& area) const;
  Margins margins(const Plan& plan) const;
  DrawStats draw(const Plan& plan, Canvas& canvas, const Margins& at_least = {}) const;
  Canvas render(DrawStats* stats = nullptr) const;
  DrawStats save_png(const std::string& path) const;

  const std::vector<std::string>& categories() const { return categories_; }
  const std::vector<BarSeries>& series() const { return series_; }

  BarChartOptions options;

 private:
  std::vector<std::string> categories_;
  std::vector<BarSeries> series_;
};

}  // namespace moments::plots
