// chart_frame.cpp — layout, axes, grid, notes and legends (see chart_frame.hpp).
#include "chart_frame.hpp"

#include <cmath>

namespace moments::plots {

namespace {

constexpr int kLegendPadX = 8, kLegendPadY = 6;  // inside the legend box
constexpr int kSwatch = 18;                      // width of a line swatch
constexpr int kSwatchGap = 6;                    // swatch to name
constexpr int kBandSpacing = 18;                 // between entries in a band
constexpr int kCornerInset = 8;                  // legend box to the plot's edges

// The pixel row or column holding position p.
int cell(double p) { return static_cast<int>(std::floor(p)); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t at; (at = text.find('\n', start)) != std::string::npos; start = at + 1)
    lines.push_back(text.substr(start, at - start));
  lines.push_back(text.substr(start));
  return lines;
}

void draw_swatch(Canvas& canvas, int x, int row_top, const LegendEntry& entry) {
  if (entry.swatch_box) {
    const int side = text_height() - 4;  // 9 pixels for the bitmap font's 13
    canvas.fill_rect({x + 4, row_top + 2, side, side}, entry.color);
  } else {  // a line through the middle of the line of text (the bitmap font's capitals)
    const double mid = row_top + text_height() / 2.0;
    canvas.draw_line({static_cast<double>(x), mid}, {static_cast<double>(x + kSwatch), mid}, entry.color, 2.0);
  }
}

// A row of a legend: a line of text and a gap (16 pixels with the bitmap font).
int legend_row() { return text_height() + theme::line_gap; }

int entry_width(const LegendEntry& entry) { return kSwatch + kSwatchGap + text_width(entry.name); }

// Entries of a band, split into rows that fit `width`.
std::vector<std::vector<const LegendEntry*>> band_rows(const std::vector<LegendEntry>& entries, int width) {
  std::vector<std::vector<const LegendEntry*>> rows(1);
  int used = 0;
  for (const LegendEntry& entry : entries) {
    int w = entry_width(entry);
    if (!rows.back().empty() && used + kBandSpacing + w > width) rows.emplace_back(), used = 0;
    used += (rows.back().empty() ? 0 : kBandSpacing) + w;
    rows.back().push_back(&entry);
  }
  return rows;
}

}  // namespace

Color palette_color(size_t index) {
  static constexpr Color colors[] = {
      rgb(0x0072b2),  // blue
      rgb(0xd55e00),  // vermillion
      rgb(0x009e73),  // bluish green
      rgb(0xcc79a7),  // reddish purple
      rgb(0xe69f00),  // orange
      rgb(0x56b4e9),  // sky blue
      rgb(0xf0e442),  // yellow (faint on white, so last but one)
      rgb(0x000000),  // black
      // Beyond Okabe and Ito's eight (a memory chart names up to 14 buffers): tab10's others, then darker hues.
      rgb(0x8c564b),  // brown
      rgb(0x7f7f7f),  // grey
      rgb(0xbcbd22),  // olive
      rgb(0x9467bd),  // purple
      rgb(0x17becf),  // cyan
      rgb(0xd62728),  // red
      rgb(0x2ca02c),  // green
      rgb(0x1f3a93),  // navy
  };
  return colors[index % std::size(colors)];
}

Rect plot_area(const Rect& area, const Decor& decor) {
  using namespace theme;
  int top = area.y + pad;
  if (!decor.title.empty()) top += text_height(decor.title_scale) + title_gap;
  if (decor.legend_band > 0) top += decor.legend_band + title_gap;
  int bottom = area.bottom() - pad;
  bottom -= decor.note_lines * (text_height() + line_gap);
  if (!decor.x_label.empty()) bottom -= text_height() + label_gap;
  bottom -= 1 + tick + tick_gap + decor.x_tick_lines * text_height() + (decor.x_tick_lines - 1) * line_gap;
  int left = area.x + pad;
  if (!decor.y_label.empty()) left += text_height() + label_gap;
  left += decor.y_tick_width + tick_gap + tick + 1;
  int right = area.right() - std::max(pad, decor.x_tick_overhang + 4);
  left = std::max(left, area.x + decor.at_least.left);
  top = std::max(top, area.y + decor.at_least.top);
  right = std::min(right, area.right() - decor.at_least.right);
  bottom = std::min(bottom, area.bottom() - decor.at_least.bottom);
  return {left, top, std::max(1, right - left), std::max(1, bottom - top)};
}

Margins margins_of(const Rect& area, const Rect& plot) {
  return {plot.x - area.x, plot.y - area.y, area.right() - plot.right(), area.bottom() - plot.bottom()};
}

std::vector<PlacedTick> place_ticks(const std::vector<Tick>& ticks, const ScaleMap& map) {
  std::vector<PlacedTick> placed;
  for (const Tick& t : ticks)
    placed.push_back({map.to_pixel(t.value), tick_label_for_chart(t.label, t.value, map.scale() == Scale::log), t.major});
  return placed;
}

void draw_grid(Canvas& canvas, const Rect& plot, const std::vector<PlacedTick>& x_ticks,
               const std::vector<PlacedTick>& y_ticks) {
  Rect saved = canvas.clip();
  canvas.set_clip(plot.intersect(saved));
  for (const PlacedTick& t : x_ticks) {
    if (!t.major) continue;
    double x = cell(t.pixel) + 0.5;
    canvas.draw_dashed_line({x, static_cast<double>(plot.bottom())}, {x, static_cast<double>(plot.y)}, theme::grid, 1.0,
                            3.0, 3.0);
  }
  for (const PlacedTick& t : y_ticks) {
    if (!t.major) continue;
    double y = cell(t.pixel) + 0.5;
    canvas.draw_dashed_line({static_cast<double>(plot.x), y}, {static_cast<double>(plot.right()), y}, theme::grid, 1.0,
                            3.0, 3.0);
  }
  canvas.set_clip(saved);
}

void draw_frame(Canvas& canvas, const Rect& area, const Rect& plot, const Decor& decor,
                const std::vector<PlacedTick>& x_ticks, const std::vector<PlacedTick>& y_ticks, bool x_tick_marks) {
  using namespace theme;
  // Spines just outside the plot area, on the left and at the bottom.
  canvas.fill_rect({plot.x - 1, plot.y, 1, plot.height + 1}, axis);
  canvas.fill_rect({plot.x - 1, plot.bottom(), plot.width + 1, 1}, axis);

  const int x_labels_top = plot.bottom() + 1 + tick + tick_gap;
  for (const PlacedTick& t : x_ticks) {
    int column = cell(t.pixel);
    if (column < plot.x - 1 || column > plot.right()) continue;
    if (x_tick_marks) canvas.fill_rect({column, plot.bottom() + 1, 1, t.major ? tick : tick / 2}, axis);
    int y = x_labels_top;
    for (const std::string& line : lines_of(t.label)) {
      draw_text(canvas, column, y, line, {.color = tick_label, .halign = HAlign::center});
      y += text_height() + line_gap;
    }
  }
  for (const PlacedTick& t : y_ticks) {
    int row = cell(t.pixel);
    if (row < plot.y - 1 || row > plot.bottom()) continue;
    int length = t.major ? tick : tick / 2;
    canvas.fill_rect({plot.x - 1 - length, row, length, 1}, axis);
    if (!t.label.empty())
      draw_text(canvas, plot.x - 1 - tick - tick_gap, row, t.label,
                {.color = tick_label, .halign = HAlign::right, .valign = VAlign::middle});
  }

  if (!decor.x_label.empty()) {
    int y = x_labels_top + decor.x_tick_lines * text_height() + (decor.x_tick_lines - 1) * line_gap + label_gap;
    draw_text(canvas, plot.x + plot.width / 2, y, decor.x_label, {.color = text, .halign = HAlign::center});
  }
  if (!decor.y_label.empty())
    draw_text(canvas, area.x + pad, plot.y + plot.height / 2, decor.y_label,
              {.color = text, .valign = VAlign::middle, .vertical = true});
  if (!decor.title.empty()) {
    // Centred over the plot, as long as it fits in the area; otherwise over the area.
    int width = text_width(decor.title, decor.title_scale);
    int centre = plot.x + plot.width / 2;
    if (centre - width / 2 < area.x + pad || centre + width / 2 > area.right() - pad) centre = area.x + area.width / 2;
    draw_text(canvas, centre, area.y + pad, decor.title,
              {.color = theme::title, .scale = decor.title_scale, .halign = HAlign::center});
  }
}

void draw_notes(Canvas& canvas, const Rect& area, const std::vector<std::string>& notes) {
  int y =
      area.bottom() - theme::pad - static_cast<int>(notes.size()) * (text_height() + theme::line_gap) + theme::line_gap;
  for (const std::string& note : notes) {
    draw_text(canvas, area.x + theme::pad, y, note, {.color = theme::note});
    y += text_height() + theme::line_gap;
  }
}

void draw_empty_message(Canvas& canvas, const Rect& plot, const std::string& message) {
  draw_text(canvas, plot.x + plot.width / 2, plot.y + plot.height / 2, message,
            {.color = rgb(0x888888), .halign = HAlign::center, .valign = VAlign::middle});
}

// ---- legend ---------------------------------------------------------------

int legend_box_width(const std::vector<LegendEntry>& entries) {
  int widest = 0;
  for (const LegendEntry& entry : entries) widest = std::max(widest, entry_width(entry));
  return 2 * kLegendPadX + widest;
}

int legend_box_height(const std::vector<LegendEntry>& entries) {
  return 2 * kLegendPadY + static_cast<int>(entries.size()) * legend_row() - theme::line_gap;
}

void draw_legend_box(Canvas& canvas, const Rect& box, const std::vector<LegendEntry>& entries) {
  canvas.fill_rect(box, with_opacity(theme::background, 0.9));
  canvas.stroke_rect(box, theme::legend_border);
  int row_top = box.y + kLegendPadY;
  for (const LegendEntry& entry : entries) {
    int x = box.x + kLegendPadX;
    draw_swatch(canvas, x, row_top, entry);
    draw_text(canvas, x + kSwatch + kSwatchGap, row_top, entry.name, {.color = theme::text});
    row_top += legend_row();
  }
}

std::vector<Rect> legend_corners(const Rect& plot, int width, int height) {
  int left = plot.x + kCornerInset, right = plot.right() - kCornerInset - width;
  int top = plot.y + kCornerInset, bottom = plot.bottom() - kCornerInset - height;
  return {{right, top, width, height},
          {left, top, width, height},
          {left, bottom, width, height},
          {right, bottom, width, height}};
}

int legend_band_height(const std::vector<LegendEntry>& entries, int width) {
  if (entries.empty()) return 0;
  return static_cast<int>(band_rows(entries, width).size()) * legend_row() - theme::line_gap;
}

void draw_legend_band(Canvas& canvas, const Rect& band, const std::vector<LegendEntry>& entries) {
  int row_top = band.y;
  for (const auto& row : band_rows(entries, band.width)) {
    int used = 0;
    for (const LegendEntry* entry : row) used += (used ? kBandSpacing : 0) + entry_width(*entry);
    int x = band.x + (band.width - used) / 2;  // each row centred over the plot
    for (const LegendEntry* entry : row) {
      draw_swatch(canvas, x, row_top, *entry);
      draw_text(canvas, x + kSwatch + kSwatchGap, row_top, entry->name, {.color = theme::text});
      x += entry_width(*entry) + kBandSpacing;
    }
    row_top += legend_row();
  }
}

DrawStats finish_chart(Canvas& canvas, const Rect& area, const Rect& plot, const Decor& decor, const Rect& corner_box,
                       const std::vector<LegendEntry>& legend, const std::vector<std::string>& notes,
                       const std::string& empty_message, const Rect& saved_clip, DrawStats stats) {
  Rect where = corner_box;
  if (!corner_box.empty()) {
    draw_legend_box(canvas, corner_box, legend);
  } else if (!legend.empty()) {
    where = {plot.x, plot.y - theme::title_gap - decor.legend_band, plot.width, decor.legend_band};
    draw_legend_band(canvas, where, legend);
  }
  draw_notes(canvas, area, notes);
  if (!empty_message.empty()) draw_empty_message(canvas, plot, empty_message);
  canvas.set_clip(saved_clip);
  stats.plot = plot;
  stats.legend = where;
  return stats;
}

}  // namespace moments::plots
