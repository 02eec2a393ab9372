// truetype_font.hpp — text from a TrueType font file (DejaVu Sans by default),
// rasterized by stb_truetype: anti-aliased, placed at fractions of a pixel along
// the line, kerned.
//
//   TrueTypeFont font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");  // PlotError if it is no font
//   set_chart_font(&font);            // every chart draws with it from now on (font.hpp)
//   double w = font.advance("AV", 1);  // 10 pt at 100 dpi: pixels, kerning included
//
// SIZE: scale s (font.hpp) is 10 pt × 1.2^(s − 1) at kDpi = 100 dots per inch,
// so an em is 10 / 72 × 100 ≈ 13.9 pixels at scale 1 (stbtt_ScaleForMappingEmToPixels:
// the em, not the ascent-to-descent height, is what a point size measures).
//
// LAYOUT of a line: the pen starts at the left edge of the box, advances by each
// glyph's advance width plus the kerning of each pair, all in fractions of a
// pixel (a glyph is rasterized at the fraction where its pen stands, so "1.0"
// and "1.5" are spaced as the font says, not as whole pixels allow). The box is
// as tall as the font's ascent − descent; the baseline sits at the ascent,
// rounded to a whole row so that every line has crisp bottoms. Ink may reach a
// pixel or two past the box (the left bearing of a "j"); it is drawn.
//
// A line is first rasterized into a coverage buffer as it reads and then laid on
// the canvas, turned 90° for vertical text, with coverage as opacity.
//
// FILES are checked before stb_truetype reads them (stb trusts its input): the
// table directory, every table inside the file, the tables it needs (cmap, head,
// hhea, hmtx, maxp, loca, glyf), their sizes, the glyph offsets (loca) inside glyf,
// and the cmap subtables inside cmap. A file that fails is a PlotError naming the
// file and what is wrong. (The outlines themselves and the kerning data are
// trusted as they are in every renderer that uses stb_truetype: read font files you
// trust.)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "font.hpp"

namespace moments::plots {

class TrueTypeFont final : public Font {
 public:
  static constexpr double kDpi = 100.0;
  static constexpr double kBasePoints = 10.0;  // the size at scale 1

  // Reads and checks the file; PlotError naming it if it cannot be read or is no font.
  explicit TrueTypeFont(const std::string& path);
  // The same from bytes in memory; `name` stands for the file in messages.
  TrueTypeFont(std::vector<uint8_t> bytes, const std::string& name);
  ~TrueTypeFont() override;
  TrueTypeFont(const TrueTypeFont&) = delete;
  TrueTypeFont& operator=(const TrueTypeFont&) = delete;

  std::string name() const override { return name_; }
  int width(std::string_view text, int scale) const override;
  int line_height(int scale) const override;
  Rect draw(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style) const override;
  bool typesets() const override { return typesets_; }

  // Points and pixels per em at a scale.
  static double points(int scale);
  static double pixels_per_em(int scale);
  // The exact width of a line in pixels (advances plus kerning), before rounding up.
  double advance(std::string_view text, int scale) const;
  // In font units (units_per_em() to an em), as the font's tables say:
  int units_per_em() const;
  int advance_units(char32_t c) const;                 // hmtx advance width
  int kerning_units(char32_t left, char32_t right) const;  // kern / GPOS pair adjustment
  bool has_glyph(char32_t c) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
  bool typesets_ = false;
};

// The code points of UTF-8 text; a malformed byte becomes U+FFFD.
std::u32string decode_utf8(std::string_view text);

}  // namespace moments::plots
