// chart_frame.hpp — what line and bar charts share: what draw() reports, the
// house style (colours and spacing), the frame around a plot area (title, axes,
// ticks, grid, labels), and the legend.
//
// A chart lays itself out in two steps. First it measures the text that will
// sit around the plot (Decor) and plot_area() turns that into the plot
// rectangle, so that margins fit their labels and nothing overlaps. Then, with
// the data mapped into that rectangle, it draws the frame around it.
//
//   +--------------------------------------------------+
//   |                   Title (scale 2)                |
//   |           [legend band, when no corner is free]  |
//   |  y  1.5 -|..........................             |
//   |  l       |        plot area                      |
//   |  a  1.0 -|..........................             |
//   |  b       +----+--------+--------+---             |
//   |  e            0       10k      20k               |
//   |  l                   x label                     |
//   |  notes (points dropped ...)                      |
//   +--------------------------------------------------+
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "font.hpp"
#include "ticks.hpp"
#include "png_io.hpp"

namespace moments::plots {

// What a chart drew, where, and what it had to leave out (every draw() returns one).
struct DrawStats {
  size_t points = 0;        // points or bars drawn (line charts: before thinning)
  size_t non_finite = 0;    // NaN or inf: not drawn (a line has a gap there)
  size_t non_positive = 0;  // <= 0 on a log axis: not drawn
  size_t outliers = 0;      // outside a y-range chosen with ignore_outliers (cut off at the plot's edge)
  size_t replaced = 0;      // superseded by a later point with the same or an earlier x (a restart)
  Rect plot;                // where the plot area went
  Rect legend;              // where the legend went (empty: no legend)
};

// Okabe & Ito, "Color Universal Design" (2008): eight colours that stay distinct under
// the common forms of colour blindness, then eight more (tab10's others, darker hues) for
// charts with more series, such as a memory chart of every optimizer's buffers. Index i
// wraps around after sixteen.
Color palette_color(size_t index);

namespace theme {
inline constexpr Color background = rgb(0xffffff);
inline constexpr Color title = rgb(0x111111);
inline constexpr Color text = rgb(0x333333);  // axis labels, legend
inline constexpr Color tick_label = rgb(0x444444);
inline constexpr Color axis = rgb(0x444444);       // spines and tick marks
inline constexpr Color grid = rgb(0xd4d4d4);       // dashed grid lines
inline constexpr Color reference = rgb(0x555555);  // dashed reference lines
inline constexpr Color note = rgb(0xa33a00);       // "points dropped" notes
inline constexpr Color legend_border = rgb(0xcccccc);

inline constexpr int pad = 12;        // space inside a chart's area, all round
inline constexpr int tick = 4;        // tick mark length, outside the plot
inline constexpr int tick_gap = 4;    // tick mark to its label
inline constexpr int label_gap = 8;   // tick labels to the axis label
inline constexpr int title_gap = 10;  // title to what is below it
inline constexpr int line_gap = 3;    // between lines of text
}  // namespace theme

// render() and save_png() for any chart with options.width, options.height and
// draw(Canvas&, Rect): a canvas of the chart's size, drawn whole, then encoded.
template <class Chart>
Canvas render_chart(const Chart& chart, DrawStats* stats) {
  Canvas canvas(chart.options.width, chart.options.height, theme::background);
  DrawStats drawn = chart.draw(canvas, canvas.bounds());
  if (stats) *stats = drawn;
  return canvas;
}
template <class Chart>
DrawStats save_chart_png(const Chart& chart, const std::string& path) {
  DrawStats stats;
  save_png(render_chart(chart, &stats), path);
  return stats;
}

// Distances from the edges of a chart's area to its plot area.
struct Margins {
  int left = 0, top = 0, right = 0, bottom = 0;
};

// The text around a plot area, measured.
struct Decor {
  std::string title{};
  int title_scale = 2;
  std::string x_label{}, y_label{};
  int y_tick_width = 0;     // the widest y tick label
  int x_tick_lines = 1;     // lines of text under each x tick (2 for wrapped category names)
  int x_tick_overhang = 0;  // how far the last x tick label may reach past the plot's right edge
  int legend_band = 0;      // height of a legend above the plot (0: inside it, or none)
  int note_lines = 0;
  Margins at_least;  // margins no smaller than these (to line up the panels of a figure)
};

Rect plot_area(const Rect& area, const Decor& decor);
Margins margins_of(const Rect& area, const Rect& plot);
// A title's scale: `requested`, or 2 when that is 0 (automatic; a Figure sets
// its panels' automatic scale to 1, below its own title at 2).
inline int title_scale_for(int requested) { return requested > 0 ? requested : 2; }

// A tick already placed: its position in pixels along its axis.
struct PlacedTick {
  double pixel = 0;
  std::string label{};  // may hold '\n' between lines (category names)
  bool major = true;
};

// Ticks of an axis at their pixels, labelled for the chart font
// (tick_label_for_chart: 10⁻³ on log axes, − for minus, when the font can).
std::vector<PlacedTick> place_ticks(const std::vector<Tick>& ticks, const ScaleMap& map);

// Dashed grid lines at the major ticks.
void draw_grid(Canvas& canvas, const Rect& plot, const std::vector<PlacedTick>& x_ticks,
               const std::vector<PlacedTick>& y_ticks);
// Left and bottom spines, tick marks, tick labels, axis labels and the title.
// x ticks may be left without marks (categories).
void draw_frame(Canvas& canvas, const Rect& area, const Rect& plot, const Decor& decor,
                const std::vector<PlacedTick>& x_ticks, const std::vector<PlacedTick>& y_ticks,
                bool x_tick_marks = true);
// Notes under everything, in the note colour, one per line.
void draw_notes(Canvas& canvas, const Rect& area, const std::vector<std::string>& notes);
// A message in the middle of an empty plot.
void draw_empty_message(Canvas& canvas, const Rect& plot, const std::string& message);

// Ticks that fit: the largest count of ticks (at most `most`) whose labels, laid
// side by side along an axis of `length` pixels, keep `gap` pixels apart.
// make(count) returns the ticks and their pixel positions for a count.
template <class Make>
std::vector<PlacedTick> fitting_ticks(int most, int gap, bool horizontal, Make make) {
  std::vector<PlacedTick> ticks;
  for (int count = std::max(most, 2); count >= 2; --count) {
    ticks = make(count);
    bool fits = true;
    const PlacedTick* previous = nullptr;
    for (const PlacedTick& t : ticks) {
      if (t.label.empty()) continue;
      if (previous) {
        double extent = horizontal ? (text_width(previous->label) + text_width(t.label)) / 2.0 : text_height();
        if (std::abs(t.pixel - previous->pixel) < extent + gap) fits = false;
      }
      previous = &t;
    }
    if (fits) break;
  }
  return ticks;
}

// ---- legend ---------------------------------------------------------------

struct LegendEntry {
  std::string name{};
  Color color{};
  bool swatch_box = false;  // a filled square (bars) rather than a line (series)
};

// A box of entries, one per row, for a corner of the plot.
int legend_box_width(const std::vector<LegendEntry>& entries);
int legend_box_height(const std::vector<LegendEntry>& entries);
void draw_legend_box(Canvas& canvas, const Rect& box, const std::vector<LegendEntry>& entries);
// The four candidate boxes of that size: upper right, upper left, lower left, lower right.
std::vector<Rect> legend_corners(const Rect& plot, int width, int height);
// Entries in rows across `width` pixels, for a band above the plot.
int legend_band_height(const std::vector<LegendEntry>& entries, int width);
void draw_legend_band(Canvas& canvas, const Rect& band, const std::vector<LegendEntry>& entries);
// The last layer of every chart, and what its draw() returns: the legend in `corner_box` when the layout
// found one, else (when there are entries) in a band above the plot; the notes; `empty_message` in the
// middle of the plot unless it is empty; then the canvas's clip goes back to `saved_clip`, and `stats`
// is returned with where the plot and the legend (empty: none) went.
DrawStats finish_chart(Canvas& canvas, const Rect& area, const Rect& plot, const Decor& decor, const Rect& corner_box,
                       const std::vector<LegendEntry>& legend, const std::vector<std::string>& notes,
                       const std::string& empty_message, const Rect& saved_clip, DrawStats stats);

}  // namespace moments::plots
