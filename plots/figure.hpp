// figure.hpp — small multiples: several charts in one PNG, as a grid of equal
// panels under one title (loss, learning rate, gradient norm, update/param
// ratio side by side, say).
//
//   Figure figure({.title = "run 7", .columns = 2});
//   figure.add(loss_chart).add(lr_chart).add(grad_norm_chart).add(ratio_chart);
//   figure.save_png("run7.png");
//
// Panels fill the grid row by row. The plot areas of the panels in a column
// start at the same x, so their y axes line up, and those in a row at the same
// y. Panel titles are drawn one size below the figure's title (unless a
// panel's options.title_scale says otherwise).
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "bar_chart.hpp"
#include "canvas.hpp"
#include "line_chart.hpp"

namespace moments::plots {

struct FigureOptions {
  std::string title{};
  int columns = 2;
  int panel_width = 560, panel_height = 360;  // pixels per panel
};

class Figure {
 public:
  explicit Figure(FigureOptions options = {}) : options(std::move(options)) {}

  Figure& add(LineChart chart);
  Figure& add(BarChart chart);
  size_t panels() const { return panels_.size(); }

  // Size of render(): the panels' grid plus the title band.
  int width() const;
  int height() const;

  // One DrawStats per panel, in the order they were added.
  std::vector<DrawStats> draw(Canvas& canvas, const Rect& area) const;
  Canvas render(std::vector<DrawStats>* stats = nullptr) const;
  std::vector<DrawStats> save_png(const std::string& path) const;

  FigureOptions options;

 private:
  int columns() const;
  int rows() const;
  int title_height() const;
  std::vector<std::variant<LineChart, BarChart>> panels_;
};

}  // namespace moments::plots
