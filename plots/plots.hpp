// plots.hpp — moments' charts: trend lines and bars, drawn by our own rasterizer
// and saved as PNG. Include this one header.
//
// ABOUT
//   plots/ draws every chart moments shows with no plotting library: its own
//   canvas and anti-aliased lines; text in DejaVu Sans (matplotlib's face) through
//   stb_truetype when the font file was found at configure time, else in its own
//   hand-drawn bitmap font; the PNG encoding is stb_image_write's. It depends on
//   the C++ standard library and stb only,
//   knows nothing of tensors, and can be read on its own, bottom up:
//     canvas.hpp       pixels, blending, lines of any width, markers, clipping
//     font.hpp         text, one interface for both fonts; the chart font; typeset labels
//     bitmap_font.hpp  the bitmap font (every glyph drawn in the source)
//     truetype_font.hpp  a TrueType font through stb_truetype (sizes in points at 100 dpi)
//     ticks.hpp        nice 1-2-5 ticks, log decades, compact labels, scales
//     series_prep.hpp  restarts, TensorBoard's EMA smoothing, min/max thinning
//     chart_frame.hpp  layout, axes, grid, legend, the palette
//     line_chart.hpp   trend charts        bar_chart.hpp  grouped/stacked bars
//     colormap.hpp     viridis             field_chart.hpp  heat maps, filled contours, paths
//     heatmap_chart.hpp  layers × steps heat maps and per-layer small multiples of a log
//     figure.hpp       small multiples     csv_log.hpp    reading a CSV log
//     png_io.hpp       PNG through stb_image_write
//     report.hpp       a static HTML report of logs: summary table, every chart as a PNG
//   The command-line tool moments-plot (moments_plot.cpp) turns a CSV log into
//   a chart, or logs into an HTML report (--report DIR).
//
// USAGE
//   #include "plots.hpp"
//   using namespace moments::plots;
//
//   std::vector<double> step, adam, sgd;           // e.g. read from a log
//   ...
//   LineChart chart({.title = "Training loss", .y_label = "loss",
//                    .y_scale = Scale::log,         // decades: 0.1, 1, 10
//                    .smoothing = 0.9});            // TensorBoard-style EMA; raw drawn faint
//   chart.add_series("Adam", step, adam);
//   chart.add_series("SGD", step, sgd);
//   chart.add_reference_line(0.1, "target");
//   DrawStats stats = chart.save_png("loss.png");  // 800x500; throws PlotError if it cannot
//   // stats.non_finite: NaN/inf points left as gaps (the chart says so too);
//   // stats.non_positive: points <= 0 a log scale could not show.
//
//   Several charts in one PNG, two per row:
//   Figure figure({.title = "run 7", .columns = 2});
//   figure.add(chart).add(LineChart({.title = "learning rate"}).add_series("lr", step, lr));
//   figure.save_png("run7.png");
//
//   Bars, e.g. optimizer-state memory in bytes:
//   BarChart bars({.title = "Optimizer state", .layout = BarLayout::stacked,
//                  .y_format = NumberFormat::bytes});
//   bars.set_categories({"SGD", "Adam"}).add_series("exp_avg", {0, 4.2e6}).add_series("exp_avg_sq", {0, 4.2e6});
//   bars.save_png("state.png");
//
//   A loss surface as filled contours, an optimizer's path over it:
//   FieldChart surface({.title = "Rosenbrock", .z_scale = Scale::log, .levels = 20});
//   surface.set_field(sample_field(-2, 2, -1, 3, 201, 201, rosenbrock));   // f(x, y) on a grid
//   surface.add_path("Adam", xs, ys);                                       // start dot, end cross
//   surface.save_png("rosenbrock.png");
//
// CONVENTIONS
//   Same inputs, same PNG bytes, on every machine: integer blending, no locale,
//   labels printed from exact decimals, no floating-point contraction.
//   Errors are PlotError (a std::runtime_error) whose message names the file,
//   line, column, series or option at fault.
#pragma once

#include "bar_chart.hpp"
#include "bitmap_font.hpp"
#include "canvas.hpp"
#include "csv_log.hpp"
#include "colormap.hpp"
#include "field_chart.hpp"
#include "heatmap_chart.hpp"
#include "figure.hpp"
#include "font.hpp"
#include "line_chart.hpp"
#include "plot_error.hpp"
#include "png_io.hpp"
#include "report.hpp"
#include "series_prep.hpp"
#include "ticks.hpp"
#include "truetype_font.hpp"
