// canvas.cpp — pixels, blending and the anti-aliased rasterizer (see canvas.hpp).
#include "canvas.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "plot_error.hpp"

namespace moments::plots {

namespace {

// How much of the pixel interval [c - 0.5, c + 0.5] lies inside [lo, hi]: the
// coverage, in one direction, of a pixel whose centre sits at c.
double overlap(double c, double lo, double hi) { return std::max(0.0, std::min(c + 0.5, hi) - std::max(c - 0.5, lo)); }

// 0..255 alpha for a colour drawn with the given coverage, rounded to nearest.
int alpha_of(Color color, double coverage) {
  double a = color.a * std::clamp(coverage, 0.0, 1.0) + 0.5;
  return static_cast<int>(a);
}

// Source-over with straight alpha, in integers so that every machine gets the
// same bytes: out_a = a_s + a_d (1 - a_s), out_c = (c_s a_s + c_d a_d (1 - a_s)) / out_a.
void blend(Color& dst, Color src, int alpha) {
  if (alpha <= 0) return;
  if (alpha >= 255) {  // opaque paint covers whatever was there
    dst = {src.r, src.g, src.b, 255};
    return;
  }
  if (dst.a == 255) {  // opaque backdrop, the usual case: a plain mix
    auto mix = [&](uint8_t s, uint8_t d) { return static_cast<uint8_t>((s * alpha + d * (255 - alpha) + 127) / 255); };
    dst = {mix(src.r, dst.r), mix(src.g, dst.g), mix(src.b, dst.b), 255};
    return;
  }
  int below = dst.a * (255 - alpha);  // the backdrop's weight, in 255² units
  int total = alpha * 255 + below;    // out_a in 255² units; > 0 since alpha > 0
  auto mix = [&](uint8_t s, uint8_t d) {
    return static_cast<uint8_t>((s * alpha * 255 + d * below + total / 2) / total);
  };
  dst = {mix(src.r, dst.r), mix(src.g, dst.g), mix(src.b, dst.b), static_cast<uint8_t>((total + 127) / 255)};
}

bool finite(Point p) { return std::isfinite(p.x) && std::isfinite(p.y); }

}  // namespace

Color with_opacity(Color color, double opacity) {
  color.a = static_cast<uint8_t>(alpha_of(color, opacity));
  return color;
}

Rect Rect::intersect(const Rect& other) const {
  int left = std::max(x, other.x), top = std::max(y, other.y);
  int r = std::min(right(), other.right()), b = std::min(bottom(), other.bottom());
  if (r <= left || b <= top) return {left, top, 0, 0};
  return {left, top, r - left, b - top};
}

bool clip_segment(Point& a, Point& b, double x0, double y0, double x1, double y1) {
  // Points on the segment are a + t (b - a), t in [t0, t1]; each box edge is a
  // constraint p t <= q that may raise t0 or lower t1.
  double dx = b.x - a.x, dy = b.y - a.y, t0 = 0.0, t1 = 1.0;
  auto keep = [&](double p, double q) {
    if (p == 0.0) return q >= 0.0;  // parallel to this edge: all inside or all outside
    double t = q / p;
    if (p < 0.0) {
      if (t > t1) return false;
      t0 = std::max(t0, t);
    } else {
      if (t < t0) return false;
      t1 = std::min(t1, t);
    }
    return true;
  };
  if (!keep(-dx, a.x - x0) || !keep(dx, x1 - a.x) || !keep(-dy, a.y - y0) || !keep(dy, y1 - a.y)) return false;
  Point start = a;
  if (t1 < 1.0) b = {start.x + t1 * dx, start.y + t1 * dy};
  if (t0 > 0.0) a = {start.x + t0 * dx, start.y + t0 * dy};
  return true;
}

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  if (width <= 0 || height <= 0 || width > 32768 || height > 32768)
    throw PlotError("canvas: size " + std::to_string(width) + "x" + std::to_string(height) +
                    " is not in 1..32768 on each side");
  pixels_.assign(static_cast<size_t>(width) * height, background);
  clip_ = bounds();
}

Color Canvas::pixel(int x, int y) const {
  if (!bounds().contains(x, y))
    throw PlotError("canvas: pixel (" + std::to_string(x) + ", " + std::to_string(y) + ") is outside the " +
                    std::to_string(width_) + "x" + std::to_string(height_) + " canvas");
  return pixels_[static_cast<size_t>(y) * width_ + x];
}

void Canvas::set_pixel(int x, int y, Color color) {
  if (clip_.contains(x, y)) pixels_[static_cast<size_t>(y) * width_ + x] = color;
}

void Canvas::blend_pixel(int x, int y, Color color, double coverage) {
  if (clip_.contains(x, y)) blend(pixels_[static_cast<size_t>(y) * width_ + x], color, alpha_of(color, coverage));
}

void Canvas::fill(Color color) { std::fill(pixels_.begin(), pixels_.end(), color); }

void Canvas::paste(const Canvas& source, int x, int y) {
  Rect r = Rect{x, y, source.width(), source.height()}.intersect(clip_);
  for (int row = r.y; row < r.bottom(); ++row) {
    const Color* from = source.data() + static_cast<size_t>(row - y) * source.width() + (r.x - x);
    std::copy(from, from + r.width,
              pixels_.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(row) * width_ + r.x));
  }
}

void Canvas::fill_rect(const Rect& rect, Color color) {
  Rect r = rect.intersect(clip_);
  for (int y = r.y; y < r.bottom(); ++y) {
    auto row = pixels_.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y) * width_);
    if (color.a == 255)
      std::fill(row + r.x, row + r.right(), color);  // opaque: a plain copy
    else
      for (int x = r.x; x < r.right(); ++x) blend(row[x], color, color.a);
  }
}

void Canvas::stroke_rect(const Rect& rect, Color color) {
  if (rect.empty()) return;
  fill_rect({rect.x, rect.y, rect.width, 1}, color);
  if (rect.height > 1) fill_rect({rect.x, rect.bottom() - 1, rect.width, 1}, color);
  if (rect.height > 2) {
    fill_rect({rect.x, rect.y + 1, 1, rect.height - 2}, color);
    if (rect.width > 1) fill_rect({rect.right() - 1, rect.y + 1, 1, rect.height - 2}, color);
  }
}

// ---- the coverage mask ----------------------------------------------------

void Canvas::ensure_mask() {
  if (!mask_.empty()) return;  // allocated on first use: a canvas that only holds text needs none
  mask_.assign(pixels_.size(), 0.0f);
  mask_top_.assign(width_, height_);
  mask_bottom_.assign(width_, -1);
  mask_left_ = width_;
  mask_right_ = -1;
}

void Canvas::cover(int x, int y, double coverage) {
  float& m = mask_[static_cast<size_t>(y) * width_ + x];
  if (coverage <= m) return;
  if (m == 0.0f) {  // first touch of this pixel: remember where to look when blending
    mask_top_[x] = std::min(mask_top_[x], y);
    mask_bottom_[x] = std::max(mask_bottom_[x], y);
    mask_left_ = std::min(mask_left_, x);
    mask_right_ = std::max(mask_right_, x);
  }
  m = static_cast<float>(coverage);
}

void Canvas::blend_mask(Color color) {
  for (int x = mask_left_; x <= mask_right_; ++x) {
    for (int y = mask_top_[x]; y <= mask_bottom_[x]; ++y) {
      float& m = mask_[static_cast<size_t>(y) * width_ + x];
      if (m > 0.0f) blend(pixels_[static_cast<size_t>(y) * width_ + x], color, alpha_of(color, m));
      m = 0.0f;
    }
    mask_top_[x] = height_;
    mask_bottom_[x] = -1;
  }
  mask_left_ = width_;
  mask_right_ = -1;
}

// Adds one segment of the given width to the mask. The segment is first cut to
// the clip rectangle (grown by the line's reach, so cut ends stay out of sight);
// then we walk along its longer direction one pixel at a time and, at each step,
// visit only the few pixels across the line that it can touch.
void Canvas::add_segment(Point a, Point b, double width, bool round_ends) {
  if (!finite(a) || !finite(b) || !(width > 0.0) || clip_.empty()) return;
  ensure_mask();
  // A pixel is touched when its centre is less than half + 0.5 from the line.
  const double half = width / 2.0, reach = half + 0.5;
  if (!clip_segment(a, b, clip_.x - reach - 1, clip_.y - reach - 1, clip_.right() + reach + 1,
                    clip_.bottom() + reach + 1))
    return;
  const double dx = b.x - a.x, dy = b.y - a.y, length = std::sqrt(dx * dx + dy * dy);
  if (length < 1e-9 && !round_ends) return;
  const double ux = length > 0.0 ? dx / length : 1.0, uy = length > 0.0 ? dy / length : 0.0;

  // Coverage of the pixel centred at (px, py).
  auto coverage = [&](double px, double py) {
    double along = (px - a.x) * ux + (py - a.y) * uy;
    double across = std::fabs((px - a.x) * uy - (py - a.y) * ux);
    if (!round_ends) return overlap(across, -half, half) * overlap(along, 0.0, length);
    double distance = across;  // round ends: distance to the nearest point of the segment
    if (along < 0.0) distance = std::sqrt((px - a.x) * (px - a.x) + (py - a.y) * (py - a.y));
    if (along > length) distance = std::sqrt((px - b.x) * (px - b.x) + (py - b.y) * (py - b.y));
    return overlap(distance, -half, half);
  };

  const bool steep = std::fabs(dy) > std::fabs(dx);  // walk rows instead of columns
  const double major_a = steep ? a.y : a.x, major_d = steep ? dy : dx;
  const double minor_a = steep ? a.x : a.y, minor_d = steep ? dx : dy;
  // Across the walk, the line's reach spans reach / cos(angle) pixels. Pixel k
  // (centre k + 0.5) is visited when its centre is within that span.
  const double spread = std::fabs(major_d) > 1e-9 ? reach * length / std::fabs(major_d) : reach;
  const int major_clip_lo = steep ? clip_.y : clip_.x, major_clip_hi = steep ? clip_.bottom() : clip_.right();
  const int minor_clip_lo = steep ? clip_.x : clip_.y, minor_clip_hi = steep ? clip_.right() : clip_.bottom();
  auto first_centre_after = [](double v) { return static_cast<int>(std::floor(v - 0.5)) + 1; };
  auto last_centre_before = [](double v) { return static_cast<int>(std::ceil(v - 0.5)) - 1; };
  int first = std::max(major_clip_lo, first_centre_after(std::min(major_a, major_a + major_d) - reach));
  int last = std::min(major_clip_hi - 1, last_centre_before(std::max(major_a, major_a + major_d) + reach));
  for (int i = first; i <= last; ++i) {
    double t = std::fabs(major_d) > 1e-9 ? std::clamp((i + 0.5 - major_a) / major_d, 0.0, 1.0) : 0.0;
    double minor_centre = minor_a + t * minor_d;
    int lo = std::max(minor_clip_lo, first_centre_after(minor_centre - spread));
    int hi = std::min(minor_clip_hi - 1, last_centre_before(minor_centre + spread));
    for (int j = lo; j <= hi; ++j) {
      int x = steep ? j : i, y = steep ? i : j;
      double c = coverage(x + 0.5, y + 0.5);
      if (c > 0.0) cover(x, y, c);
    }
  }
}

// ---- lines and markers ----------------------------------------------------

void Canvas::draw_line(Point a, Point b, Color color, double width) {
  add_segment(a, b, width, /*round_ends=*/false);
  blend_mask(color);
}

void Canvas::draw_polyline(std::span<const Point> points, Color color, double width) {
  if (points.size() == 1) add_segment(points[0], points[0], width, /*round_ends=*/true);
  for (size_t i = 1; i < points.size(); ++i) add_segment(points[i - 1], points[i], width, /*round_ends=*/true);
  blend_mask(color);
}

void Canvas::draw_dashed_line(Point a, Point b, Color color, double width, double dash, double gap) {
  if (!finite(a) || !finite(b)) return;
  if (!(dash > 0.0) || !(gap > 0.0)) return draw_line(a, b, color, width);
  double dx = b.x - a.x, dy = b.y - a.y, length = std::sqrt(dx * dx + dy * dy);
  if (length < 1e-9) return;
  double ux = dx / length, uy = dy / length;
  // Only the visible part is walked, but the dashes keep the phase they have from a.
  Point from = a, to = b;
  double reach = width / 2.0 + 1.0;
  if (!clip_segment(from, to, clip_.x - reach, clip_.y - reach, clip_.right() + reach, clip_.bottom() + reach)) return;
  double start = (from.x - a.x) * ux + (from.y - a.y) * uy, end = (to.x - a.x) * ux + (to.y - a.y) * uy;
  double period = dash + gap;
  for (double s = std::floor(start / period) * period; s < end; s += period) {
    double e = std::min(s + dash, length);
    add_segment({a.x + s * ux, a.y + s * uy}, {a.x + e * ux, a.y + e * uy}, width, /*round_ends=*/false);
  }
  blend_mask(color);
}

void Canvas::draw_marker(Point centre, Marker marker, double size, Color color) {
  if (!finite(centre) || !(size > 0.0)) return;
  double r = size / 2.0;
  if (marker == Marker::cross) {  // an ×, strokes a fifth of its size thick
    double w = std::max(1.5, size / 5.0), d = r / std::sqrt(2.0) + w / 2.0;
    add_segment({centre.x - d, centre.y - d}, {centre.x + d, centre.y + d}, w, false);
    add_segment({centre.x - d, centre.y + d}, {centre.x + d, centre.y - d}, w, false);
    return blend_mask(color);
  }
  ensure_mask();
  Rect box = Rect{static_cast<int>(std::floor(centre.x - r - 1)), static_cast<int>(std::floor(centre.y - r - 1)),
                  static_cast<int>(std::ceil(size)) + 3, static_cast<int>(std::ceil(size)) + 3}
                 .intersect(clip_);
  for (int y = box.y; y < box.bottom(); ++y) {
    for (int x = box.x; x < box.right(); ++x) {
      double ox = std::fabs(x + 0.5 - centre.x), oy = std::fabs(y + 0.5 - centre.y), c = 0.0;
      if (marker == Marker::circle) c = overlap(std::sqrt(ox * ox + oy * oy), -r, r);
      if (marker == Marker::square) c = overlap(ox, -r, r) * overlap(oy, -r, r);
      if (marker == Marker::diamond) c = overlap((ox + oy) / std::sqrt(2.0), -r, r / std::sqrt(2.0));
      if (c > 0.0) cover(x, y, c);
    }
  }
  blend_mask(color);
}

}  // namespace moments::plots
