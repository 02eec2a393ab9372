// bitmap_font.hpp — moments' own bitmap font for printable ASCII, and text drawing.
//
// Every glyph was drawn by hand for this project in a box 5 pixels wide and 13
// tall (bitmap_font.cpp shows them all as pictures):
//   rows 0-1   space above capitals (brackets and parentheses reach into row 1)
//   rows 2-10  capitals and digits, 9 pixels tall; lower case starts at row 5
//   rows 11-12 descenders (g j p q y , ;)
// Text is proportionally spaced: a glyph advances by its inked width plus a
// one-pixel gap, except digits, which are all 6 wide so that numbers line up.
// Characters outside ' '..'~' are drawn as '?' (one '?' per UTF-8 character).
//
// Text can be scaled by whole numbers (titles) and turned 90° counter-clockwise to
// read bottom to top (a y-axis label). Glyph pixels are solid: text is crisp at
// every scale. (There is no bold: at 5 pixels wide, m and w would close up.)
// It implements Font (font.hpp): charts draw with it when no TrueType font was
// configured, and tests draw their bitmap goldens with it.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "canvas.hpp"
#include "font.hpp"

namespace moments::plots {

inline constexpr int kGlyphWidth = 5;    // pixels, at scale 1
inline constexpr int kGlyphHeight = 13;  // the height of a line of text, at scale 1

class BitmapFont final : public Font {
 public:
  std::string name() const override { return "moments bitmap font 5x13"; }
  int width(std::string_view text, int scale) const override;
  int line_height(int scale) const override { return kGlyphHeight * scale; }
  Rect draw(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style) const override;
};
const Font& bitmap_font();  // the one instance

// A glyph's 13 rows as bits, bit 4 the leftmost column (for tests and the curious),
// and how far it advances the pen at scale 1.
std::array<uint8_t, kGlyphHeight> glyph_rows(char c);
int glyph_advance(char c);

}  // namespace moments::plots
