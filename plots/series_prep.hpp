// series_prep.hpp — turning a logged series into what a line chart draws:
// restarts resolved, smoothed, and thinned to what a pixel column can show.
//
//   keep_latest   a restarted run logs steps it has logged before; the later
//                 points win (TensorBoard drops such "orphaned" points too)
//   smooth_ema    TensorBoard's debiased exponential moving average
//   decimate_min_max  per pixel column, keep the lowest and the highest point:
//                 the min/max envelope. Drawn in time order, a line through them
//                 covers the same pixels as a line through all the points, up to
//                 a pixel where neighbouring columns join, so 1M points draw as
//                 fast as 2 per column. (Jugel, Jerzak, Hackenbroich & Markl, "M4:
//                 A Visualization-Oriented Time Series Data Aggregation", VLDB
//                 2014, keep each column's first and last point too, which makes
//                 the joins exact for 1-pixel lines; with anti-aliased lines
//                 1.75 pixels wide the difference does not show, and it costs
//                 twice the points.)
//   quantile      for y-ranges that ignore outliers
#pragma once
#include <cstddef>
#include <span>
#include <vector>

namespace moments::plots {

struct XYSeries {
  std::vector<double> x, y;
};

struct KeepLatestCounts {
  size_t non_finite_x = 0;  // points dropped because x was NaN or inf
  size_t replaced = 0;      // points superseded by a later point at the same or an earlier x
};

// True when every x is finite and greater than the one before: a log of one
// run, which keep_latest would return unchanged.
bool rises_throughout(std::span<const double> x);

// Walks the points in the order they were logged. A point whose x is not beyond
// the last kept x supersedes every kept point at or after its x, so the result
// has strictly increasing x, and a repeated x keeps its latest y. O(n).
XYSeries keep_latest(std::span<const double> x, std::span<const double> y, KeepLatestCounts* counts = nullptr);

// s_t = (w s_{t-1} + (1 - w) y_t), starting from s_0 = 0, divided by (1 - w^t) so
// the first points are not pulled towards 0 (the same debiasing as Adam's).
// t counts finite points only: a NaN or inf passes through unchanged, leaving a
// gap, and does not disturb the average. A constant series is returned as is.
// weight in [0, 1); 0 returns y.
std::vector<double> smooth_ema(std::span<const double> y, double weight);

// Indices (ascending) of the points the min/max envelope keeps. px holds each
// point's x in pixels, non-decreasing; points whose floor(px) is equal share a
// column.
std::vector<size_t> decimate_min_max(std::span<const double> px, std::span<const double> y);

// The q-quantile (q in [0, 1]) of values, interpolating between neighbours like
// numpy's default. values must not be empty. Finite values give a finite
// quantile, even when their differences overflow.
double quantile(std::vector<double> values, double q);

}  // namespace moments::plots
