// font.hpp — the one way chart code draws text, whatever font draws it.
//
// Two fonts implement Font: the hand-drawn bitmap font (bitmap_font.hpp, always
// there) and a TrueType font read with stb_truetype (truetype_font.hpp), by
// default DejaVu Sans, matplotlib's face. Which one charts use is decided when
// the project is configured: meson's `chart_font` option names a font file, and
// when that file exists the charts draw with it; otherwise (or with
// -Dchart_font=) they draw with the bitmap font, and nothing is said to be wrong.
//
//   draw_text(canvas, x, y, "loss", {.halign = HAlign::right, .valign = VAlign::middle});
//   int w = text_width("1.5k"), h = text_height();   // to lay out before drawing
//
// SIZES: a style's `scale` is a step on one ladder for both fonts. The bitmap
// font multiplies its pixels by it; a TrueType font sets its size to
// 10 pt × 1.2^(scale − 1) at 100 dpi, matplotlib's "medium", "large", "x-large"
// (10 pt at 100 dpi is 13.9 pixels per em).
//
// TYPESETTING: tick labels are made in ASCII ("1e-3", "-0.5"). When the chart
// font has the characters (Font::typesets(): DejaVu Sans has them, the bitmap
// font not), the charts rewrite them as a figure prints them before measuring
// and drawing (tick_label_for_chart, through place_ticks in chart_frame.hpp): a
// leading hyphen as the minus sign U+2212, "1e-3" as 10⁻³, "2.5e-3" as 2.5×10⁻³,
// and every m × 10^k tick of a log axis as 10⁻³ or 2×10⁻³.
//
// The chart font is chosen once per process; set_chart_font changes it for every
// chart drawn afterwards (tests draw the same chart with both fonts). Do not call
// it while charts are being drawn.
#pragma once
#include <string>
#include <string_view>

#include "canvas.hpp"

namespace moments::plots {

enum class HAlign { left, center, right };
enum class VAlign { top, middle, bottom };

struct TextStyle {
  Color color = rgb(0x222222);
  int scale = 1;                 // the size step: 1 body text (10 pt), 2 titles (12 pt), ...
  HAlign halign = HAlign::left;  // is x the left edge, the centre or the right edge of the text?
  VAlign valign = VAlign::top;   // is y the top, the middle or the bottom of the line?
  bool vertical = false;         // turned 90° counter-clockwise; the alignments still refer to x and y
};

// A font that lays out and draws one line of UTF-8 text.
class Font {
 public:
  virtual ~Font() = default;
  virtual std::string name() const = 0;  // for messages and the configure summary
  // Width of the line as it reads (before any turn), in whole pixels (rounded up).
  virtual int width(std::string_view text, int scale) const = 0;
  // Height of a line: the distance from the top of its box to the bottom.
  virtual int line_height(int scale) const = 0;
  // Draws the line anchored at (x, y) as the style's alignments say; returns its box.
  virtual Rect draw(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style) const = 0;
  // True when the font has the minus sign, superscript digits and × (see TYPESETTING).
  virtual bool typesets() const { return false; }
};

// The font every chart draws with (see above); throws PlotError when the
// configured font file cannot be read or is not a font.
const Font& chart_font();
// Replaces the chart font (nullptr: back to the configured one). The font must
// outlive every chart drawn with it.
void set_chart_font(const Font* font);
// The font file chosen at configure time ("" when the bitmap font is the default).
std::string configured_font_path();

// Text through the chart font.
int text_width(std::string_view text, int scale = 1);
int text_height(int scale = 1);
Rect draw_text(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style = {});

// A number label as a figure prints it: "-0.5" → "−0.5", "1e-3" → "10⁻³",
// "2.5e-3" → "2.5×10⁻³", "1e18" → "10¹⁸"; anything else is returned as it is.
std::string typeset_number(std::string_view label);
// A tick label for the chart font: typeset_number when the font typesets, the
// label unchanged otherwise. On a log axis a font that typesets labels every tick
// m × 10^k (m = 1..9) as matplotlib does, 10⁻³ or 2×10⁻³, whatever the label said.
std::string tick_label_for_chart(std::string_view label, double value, bool log_axis);

}  // namespace moments::plots
