// figure.cpp — a grid of panels under one title (see figure.hpp).
#include "figure.hpp"

#include <algorithm>
#include <future>
#include <type_traits>

#include "bitmap_font.hpp"
#include "chart_frame.hpp"
#include "plot_error.hpp"
#include "png_io.hpp"

namespace moments::plots {

namespace {
constexpr int kTitleScale = 2;
}

// A panel's title, when its scale is left automatic, is set one size below the figure's.
Figure& Figure::add(LineChart chart) {
  if (chart.options.title_scale == 0) chart.options.title_scale = 1;
  panels_.emplace_back(std::move(chart));
  return *this;
}

Figure& Figure::add(BarChart chart) {
  if (chart.options.title_scale == 0) chart.options.title_scale = 1;
  panels_.emplace_back(std::move(chart));
  return *this;
}

int Figure::columns() const {
  if (options.columns < 1)
    throw PlotError("figure: columns must be at least 1, got " + std::to_string(options.columns));
  return std::clamp(static_cast<int>(panels_.size()), 1, options.columns);
}

int Figure::rows() const {
  int c = columns();
  return std::max(1, (static_cast<int>(panels_.size()) + c - 1) / c);
}

int Figure::title_height() const { return options.title.empty() ? 0 : theme::pad + text_height(kTitleScale); }

int Figure::width() const { return columns() * options.panel_width; }
int Figure::height() const { return title_height() + rows() * options.panel_height; }

std::vector<DrawStats> Figure::draw(Canvas& canvas, const Rect& area) const {
  const int c = columns(), r = rows(), top = title_height();
  const int cell_w = area.width / c, cell_h = (area.height - top) / r;
  auto cell = [&](size_t i) {
    int col = static_cast<int>(i) % c, row = static_cast<int>(i) / c;
    return Rect{area.x + col * cell_w, area.y + top + row * cell_h, cell_w, cell_h};
  };
  const Rect saved_clip = canvas.clip();
  canvas.set_clip(area.intersect(saved_clip));
  canvas.fill_rect(area, theme::background);
  if (!options.title.empty())
    draw_text(canvas, area.x + area.width / 2, area.y + theme::pad, options.title,
              {.color = theme::title, .scale = kTitleScale, .halign = HAlign::center});
  if (panels_.empty()) draw_empty_message(canvas, {area.x, area.y + top, area.width, area.height - top}, "no panels");

  // Panels share nothing until they are pasted in, so each is planned (its
  // data gone through once, laid out) on a thread of its own, then drawn on a
  // thread of its own into a canvas of its own. In between, the plot areas are
  // lined up: the widest left and right margins in each column, the tallest top
  // and bottom margins in each row.
  const Rect local{0, 0, cell_w, cell_h};  // a panel's area on its own canvas
  using AnyPlan = std::variant<std::shared_ptr<const LineChart::Plan>, std::shared_ptr<const BarChart::Plan>>;
  std::vector<std::future<AnyPlan>> planning;
  for (const auto& panel : panels_)
    planning.push_back(std::async(std::launch::async, [&] {
      return std::visit([&](const auto& chart) -> AnyPlan { return chart.plan(local); }, panel);
    }));
  std::vector<AnyPlan> plans;
  for (auto& plan : planning) plans.push_back(plan.get());  // rethrows a panel's PlotError
  // action(chart, its plan) for panel i, whatever kind of chart it is.
  auto with_plan = [&](size_t i, const auto& action) {
    return std::visit(
        [&](const auto& chart) {
          using Plan = typename std::decay_t<decltype(chart)>::Plan;
          return action(chart, *std::get<std::shared_ptr<const Plan>>(plans[i]));
        },
        panels_[i]);
  };

  std::vector<Margins> column(static_cast<size_t>(c)), row(static_cast<size_t>(r));
  for (size_t i = 0; i < panels_.size(); ++i) {
    Margins m = with_plan(i, [](const auto& chart, const auto& plan) { return chart.margins(plan); });
    Margins& in_column = column[i % static_cast<size_t>(c)];
    Margins& in_row = row[i / static_cast<size_t>(c)];
    in_column.left = std::max(in_column.left, m.left), in_column.right = std::max(in_column.right, m.right);
    in_row.top = std::max(in_row.top, m.top), in_row.bottom = std::max(in_row.bottom, m.bottom);
  }

  std::vector<std::future<std::pair<Canvas, DrawStats>>> drawing;
  for (size_t i = 0; i < panels_.size(); ++i)
    drawing.push_back(std::async(std::launch::async, [&, i] {
      const Margins& in_column = column[i % static_cast<size_t>(c)];
      const Margins& in_row = row[i / static_cast<size_t>(c)];
      Margins at_least{in_column.left, in_row.top, in_column.right, in_row.bottom};
      Canvas panel(cell_w, cell_h, theme::background);
      DrawStats s =
          with_plan(i, [&](const auto& chart, const auto& plan) { return chart.draw(plan, panel, at_least); });
      return std::pair{std::move(panel), s};
    }));
  std::vector<DrawStats> stats;
  for (size_t i = 0; i < panels_.size(); ++i) {
    auto [panel, s] = drawing[i].get();
    Rect at = cell(i);
    canvas.paste(panel, at.x, at.y);
    s.plot = {s.plot.x + at.x, s.plot.y + at.y, s.plot.width, s.plot.height};  // in the figure's coordinates
    if (!s.legend.empty()) s.legend = {s.legend.x + at.x, s.legend.y + at.y, s.legend.width, s.legend.height};
    stats.push_back(s);
  }
  canvas.set_clip(saved_clip);
  return stats;
}

Canvas Figure::render(std::vector<DrawStats>* stats) const {
  Canvas canvas(width(), height(), theme::background);
  std::vector<DrawStats> s = draw(canvas, canvas.bounds());
  if (stats) *stats = std::move(s);
  return canvas;
}

std::vector<DrawStats> Figure::save_png(const std::string& path) const {
  std::vector<DrawStats> stats;
  Canvas canvas = render(&stats);
  plots::save_png(canvas, path);
  return stats;
}

}  // namespace moments::plots
