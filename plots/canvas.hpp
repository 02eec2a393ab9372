// canvas.hpp — an RGBA image and the drawing primitives every chart is made of:
// pixels, alpha blending, rectangles, anti-aliased lines of any width, polylines,
// dashed lines, point markers, and clipping.
//
// COORDINATES are pixels, x to the right and y DOWN, origin at the top-left
// corner. Pixel (i, j) is the unit square [i, i+1) × [j, j+1), so its centre is
// (i + 0.5, j + 0.5): a 1-pixel horizontal line through row j runs along
// y = j + 0.5 and covers exactly that row, nothing above or below.
//
// ANTI-ALIASING: the coverage of a pixel is the fraction of its square inside the
// shape (a box filter). For a line it is measured across and along the line from
// the pixel's centre, which is exact for horizontal and vertical lines and a close
// estimate at other angles. A colour is blended "source over" with alpha × coverage.
//
// Shapes with overlapping parts (the segments of a polyline meeting at a joint,
// the strokes of a marker) are first collected as a coverage mask, keeping the
// largest coverage per pixel, and blended once: a faint line stays evenly faint
// instead of showing darker dots at every joint.
//
// CLIPPING: every primitive draws only inside the clip rectangle (the whole
// canvas unless set_clip says otherwise); charts clip their data to the plot area.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace moments::plots {

// A colour with straight (not premultiplied) alpha: a = 255 is opaque.
struct Color {
  uint8_t r = 0, g = 0, b = 0, a = 255;
  friend bool operator==(const Color&, const Color&) = default;
};
static_assert(sizeof(Color) == 4, "a canvas is handed to the PNG encoder as packed RGBA bytes");

// An opaque colour from 0xRRGGBB.
constexpr Color rgb(uint32_t hex) {
  return {static_cast<uint8_t>(hex >> 16), static_cast<uint8_t>(hex >> 8), static_cast<uint8_t>(hex), 255};
}
// The same colour with its alpha multiplied by opacity in [0, 1].
Color with_opacity(Color color, double opacity);

struct Point {
  double x = 0, y = 0;
};

// Whole pixels: columns x .. x + width - 1, rows y .. y + height - 1.
struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
  int right() const { return x + width; }    // one past the last column
  int bottom() const { return y + height; }  // one past the last row
  bool empty() const { return width <= 0 || height <= 0; }
  bool contains(int px, int py) const { return px >= x && px < right() && py >= y && py < bottom(); }
  Rect intersect(const Rect& other) const;
  Rect grow(int by) const { return {x - by, y - by, width + 2 * by, height + 2 * by}; }  // negative shrinks
  friend bool operator==(const Rect&, const Rect&) = default;
};

enum class Marker { circle, square, diamond, cross };

class Canvas {
 public:
  Canvas(int width, int height, Color background = rgb(0xffffff));

  int width() const { return width_; }
  int height() const { return height_; }
  Rect bounds() const { return {0, 0, width_, height_}; }
  Color pixel(int x, int y) const;                      // throws PlotError outside the canvas
  const Color* data() const { return pixels_.data(); }  // row-major, width × height

  // Drawing stays inside the clip rectangle (clipped to the canvas).
  void set_clip(const Rect& clip) { clip_ = clip.intersect(bounds()); }
  void reset_clip() { clip_ = bounds(); }
  Rect clip() const { return clip_; }

  // One pixel: set_pixel replaces it, blend_pixel lays colour over it with
  // alpha × coverage. Both ignore pixels outside the clip.
  void set_pixel(int x, int y, Color color);
  void blend_pixel(int x, int y, Color color, double coverage = 1.0);

  void fill(Color color);  // every pixel, replaced (ignores the clip)
  // Copies another canvas in, its top-left corner at (x, y), replacing pixels.
  void paste(const Canvas& source, int x, int y);
  void fill_rect(const Rect& rect, Color color);
  void stroke_rect(const Rect& rect, Color color);  // a 1-pixel outline just inside rect

  // A straight line with square ("butt") ends exactly at a and b.
  void draw_line(Point a, Point b, Color color, double width = 1.0);
  // Segments joined with round joins and round ends; every pixel is blended once.
  void draw_polyline(std::span<const Point> points, Color color, double width = 1.0);
  // Dashes of length `dash` separated by `gap`, starting with a dash at a.
  void draw_dashed_line(Point a, Point b, Color color, double width = 1.0, double dash = 4.0, double gap = 3.0);
  // A marker centred on `centre`, `size` pixels across.
  void draw_marker(Point centre, Marker marker, double size, Color color);

 private:
  // The coverage mask: add shapes (keeping the largest coverage per pixel), then
  // blend the mask with one colour and clear it.
  void ensure_mask();
  void add_segment(Point a, Point b, double width, bool round_ends);
  void cover(int x, int y, double coverage);
  void blend_mask(Color color);

  int width_, height_;
  std::vector<Color> pixels_;
  Rect clip_;
  std::vector<float> mask_;    // width × height coverage in [0, 1], all 0 between uses
  std::vector<int> mask_top_;  // per column: the rows touched, [top, bottom]
  std::vector<int> mask_bottom_;
  int mask_left_ = 0, mask_right_ = -1;  // the columns touched
};

// Cuts the segment a-b down to its part inside the box [x0, x1] × [y0, y1]
// (Liang–Barsky); returns false when no part is inside.
bool clip_segment(Point& a, Point& b, double x0, double y0, double x1, double y1);

}  // namespace moments::plots
