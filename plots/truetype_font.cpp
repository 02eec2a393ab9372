// truetype_font.cpp — the font file checked, then laid out and rasterized by
// stb_truetype (see truetype_font.hpp). libstb ships stb_truetype's
// implementation, so no *_IMPLEMENTATION macro is defined here.
#include "truetype_font.hpp"

#include <stb/stb_truetype.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "plot_error.hpp"

namespace moments::plots {

namespace {

// ---- checking the file before stb reads it --------------------------------

struct Table {
  uint32_t offset = 0, length = 0;
  bool found = false;
};

class FontChecker {
 public:
  FontChecker(const std::vector<uint8_t>& bytes, const std::string& name) : b_(bytes), name_(name) {}

  // Returns the offset of head, for units per em.
  uint32_t check() {
    if (b_.size() < 12) fail("is " + std::to_string(b_.size()) + " bytes, too short for a font's header (12)");
    uint32_t version = u32(0);
    if (version == 0x74746366) fail("is a font collection (ttcf); name one font file");
    if (version != 0x00010000 && version != 0x74727565)  // TrueType outlines: 1.0 or 'true'
      fail("is not a TrueType font (its first four bytes are " + hex(version) + ", expected 00010000)");
    const uint32_t tables = u16(4);
    if (12 + 16ull * tables > b_.size())
      fail("lists " + std::to_string(tables) + " tables, but the file ends inside the table directory");
    for (uint32_t i = 0; i < tables; ++i) {
      const size_t at = 12 + 16 * i;
      Table t{u32(at + 8), u32(at + 12), true};
      const std::string tag(reinterpret_cast<const char*>(b_.data() + at), 4);
      if (static_cast<uint64_t>(t.offset) + t.length > b_.size())
        fail("table '" + printable(tag) + "' (" + std::to_string(t.length) + " bytes at " + std::to_string(t.offset) +
             ") reaches past the end of the file (" + std::to_string(b_.size()) + " bytes)");
      for (auto& [name, table] : needed_)
        if (tag == name) table = t;
    }
    for (auto& [name, table] : needed_)
      if (!table.found) fail("has no '" + std::string(name) + "' table, which a TrueType font needs");

    const Table head = get("head"), hhea = get("hhea"), maxp = get("maxp"), hmtx = get("hmtx");
    const Table loca = get("loca"), glyf = get("glyf"), cmap = get("cmap");
    at_least(head, "head", 54), at_least(hhea, "hhea", 36), at_least(maxp, "maxp", 6), at_least(cmap, "cmap", 4);
    if (u16(head.offset + 18) < 16 || u16(head.offset + 18) > 16384)
      fail("says an em is " + std::to_string(u16(head.offset + 18)) + " units (head), expected 16..16384");
    const uint32_t glyphs = u16(maxp.offset + 4), metrics = u16(hhea.offset + 34);
    if (glyphs == 0) fail("has no glyphs (maxp)");
    if (metrics == 0 || metrics > glyphs)
      fail("has " + std::to_string(metrics) + " horizontal metrics for " + std::to_string(glyphs) + " glyphs (hhea)");
    at_least(hmtx, "hmtx", 4ull * metrics + 2ull * (glyphs - metrics));

    const uint32_t long_offsets = u16(head.offset + 50);  // indexToLocFormat
    if (long_offsets > 1) fail("has an unknown glyph offset format " + std::to_string(long_offsets) + " (head)");
    at_least(loca, "loca", (glyphs + 1ull) * (long_offsets ? 4 : 2));
    uint64_t previous = 0;
    for (uint32_t g = 0; g <= glyphs; ++g) {
      uint64_t offset = long_offsets ? u32(loca.offset + 4 * g) : 2ull * u16(loca.offset + 2 * g);
      if (offset < previous || offset > glyf.length)
        fail("glyph " + std::to_string(g) + " starts at " + std::to_string(offset) +
             " (loca), outside the glyph table (" + std::to_string(glyf.length) + " bytes) or before glyph " +
             std::to_string(g > 0 ? g - 1 : 0));
      previous = offset;
    }

    const uint32_t subtables = u16(cmap.offset + 2);
    at_least(cmap, "cmap", 4ull + 8ull * subtables);
    for (uint32_t i = 0; i < subtables; ++i) {
      const uint32_t offset = u32(cmap.offset + 4 + 8 * i + 4);  // after platform and encoding
      if (static_cast<uint64_t>(offset) + 8 > cmap.length) fail("has a character map outside its cmap table");
      const uint32_t at = cmap.offset + offset, format = u16(at);
      const uint64_t length = format >= 8 ? u32(at + 4) : u16(at + 2);
      if (offset + length > cmap.length)
        fail("has a character map (format " + std::to_string(format) + ", " + std::to_string(length) +
             " bytes) reaching past its cmap table");
    }
    return head.offset;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw PlotError("font " + name_ + ": the file " + what); }
  uint32_t u16(uint64_t at) const {
    if (at + 2 > b_.size()) fail("ends at byte " + std::to_string(b_.size()) + ", inside a table");
    return static_cast<uint32_t>(b_[at] << 8 | b_[at + 1]);
  }
  uint32_t u32(uint64_t at) const { return u16(at) << 16 | u16(at + 2); }
  Table get(const char* name) const {
    for (auto& [n, table] : needed_)
      if (std::string(n) == name) return table;
    return {};
  }
  void at_least(const Table& t, const char* name, uint64_t bytes) const {
    if (t.length < bytes)
      fail("has a '" + std::string(name) + "' table of " + std::to_string(t.length) + " bytes, expected at least " +
           std::to_string(bytes));
  }
  static std::string hex(uint32_t v) {
    char text[16];
    std::snprintf(text, sizeof text, "%08x", v);
    return text;
  }
  static std::string printable(const std::string& tag) {
    std::string out;
    for (char c : tag) out += (c >= ' ' && c <= '~') ? c : '?';
    return out;
  }

  const std::vector<uint8_t>& b_;
  const std::string& name_;
  std::pair<const char*, Table> needed_[7] = {{"cmap", {}}, {"head", {}}, {"hhea", {}}, {"hmtx", {}},
                                              {"maxp", {}}, {"loca", {}}, {"glyf", {}}};
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PlotError("font " + path + ": cannot open it: " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw PlotError("font " + path + ": cannot read it");
  return bytes;
}

// A line rasterized as it reads: coverage 0..255, the box's top-left at (pad, pad).
struct Coverage {
  int width = 0, height = 0;
  std::vector<uint8_t> values;
  void add(int x, int y, uint8_t v) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    uint8_t& c = values[static_cast<size_t>(y) * width + x];
    c = static_cast<uint8_t>(std::min(255, c + v));  // overlapping ink (rare) saturates
  }
};
constexpr int kPad = 4;  // ink may reach this far past the box

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    char32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1f : extra == 2 ? c & 0x0f : c & 0x07;
    bool ok = extra >= 0 && i + extra < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto d = static_cast<unsigned char>(text[i + k]);
      ok = (d & 0xC0) == 0x80;
      cp = cp << 6 | (d & 0x3f);
    }
    if (!ok) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

struct TrueTypeFont::Impl {
  std::vector<uint8_t> bytes;
  stbtt_fontinfo info{};
  int units_per_em = 0, ascent = 0, descent = 0;  // font units

  int glyph(char32_t c) const { return stbtt_FindGlyphIndex(&info, static_cast<int>(c)); }
  float scale(int s) const { return stbtt_ScaleForMappingEmToPixels(&info, static_cast<float>(pixels_per_em(s))); }
  // Pen positions in pixels of each glyph, and the pen after the last.
  std::vector<double> pens(const std::u32string& cps, int s, double* end) const {
    std::vector<double> at;
    const double k = scale(s);
    double pen = 0;
    int previous = -1;
    for (char32_t c : cps) {
      int g = glyph(c), advance = 0, bearing = 0;
      if (previous >= 0) pen += k * stbtt_GetGlyphKernAdvance(&info, previous, g);
      at.push_back(pen);
      stbtt_GetGlyphHMetrics(&info, g, &advance, &bearing);
      pen += k * advance;
      previous = g;
    }
    *end = pen;
    return at;
  }
};

TrueTypeFont::TrueTypeFont(const std::string& path) : TrueTypeFont(read_file(path), path) {}

TrueTypeFont::TrueTypeFont(std::vector<uint8_t> bytes, const std::string& name)
    : impl_(std::make_unique<Impl>()), name_(name) {
  const uint32_t head = FontChecker(bytes, name).check();
  impl_->bytes = std::move(bytes);
  const uint8_t* data = impl_->bytes.data();
  if (!stbtt_InitFont(&impl_->info, data, 0))
    throw PlotError("font " + name + ": stb_truetype could not read it as a TrueType font");
  impl_->units_per_em = data[head + 18] << 8 | data[head + 19];
  int line_gap = 0;
  stbtt_GetFontVMetrics(&impl_->info, &impl_->ascent, &impl_->descent, &line_gap);
  if (impl_->ascent <= impl_->descent)
    throw PlotError("font " + name + ": its ascent (" + std::to_string(impl_->ascent) + ") is not above its descent (" +
                    std::to_string(impl_->descent) + ")");
  if (!has_glyph(U'0')) throw PlotError("font " + name + ": it has no digits");
  typesets_ = has_glyph(U'\u2212') && has_glyph(U'\u00d7') && has_glyph(U'\u207b') && has_glyph(U'\u00b9') &&
              has_glyph(U'\u00b2') && has_glyph(U'\u00b3') && has_glyph(U'\u2070') && has_glyph(U'\u2074');
}

TrueTypeFont::~TrueTypeFont() = default;

double TrueTypeFont::points(int scale) { return kBasePoints * std::pow(1.2, std::max(1, scale) - 1); }
double TrueTypeFont::pixels_per_em(int scale) { return points(scale) / 72.0 * kDpi; }

int TrueTypeFont::units_per_em() const { return impl_->units_per_em; }
bool TrueTypeFont::has_glyph(char32_t c) const { return impl_->glyph(c) != 0; }
int TrueTypeFont::advance_units(char32_t c) const {
  int advance = 0, bearing = 0;
  stbtt_GetGlyphHMetrics(&impl_->info, impl_->glyph(c), &advance, &bearing);
  return advance;
}
int TrueTypeFont::kerning_units(char32_t left, char32_t right) const {
  return stbtt_GetGlyphKernAdvance(&impl_->info, impl_->glyph(left), impl_->glyph(right));
}

double TrueTypeFont::advance(std::string_view text, int scale) const {
  double end = 0;
  impl_->pens(decode_utf8(text), scale, &end);
  return end;
}

int TrueTypeFont::width(std::string_view text, int scale) const {
  return static_cast<int>(std::ceil(advance(text, scale) - 1e-9));
}

int TrueTypeFont::line_height(int scale) const {
  return static_cast<int>(std::ceil(impl_->scale(scale) * (impl_->ascent - impl_->descent) - 1e-9));
}

Rect TrueTypeFont::draw(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style) const {
  const std::u32string cps = decode_utf8(text);
  double along_exact = 0;
  const std::vector<double> pens = impl_->pens(cps, style.scale, &along_exact);
  const int along = static_cast<int>(std::ceil(along_exact - 1e-9)), across = line_height(style.scale);
  const int box_w = style.vertical ? across : along, box_h = style.vertical ? along : across;
  // The box, aligned on its anchor as the bitmap font aligns its boxes.
  int left = style.halign == HAlign::left ? x : style.halign == HAlign::center ? x - box_w / 2 : x - box_w;
  const int top = style.valign == VAlign::top ? y : style.valign == VAlign::middle ? y - box_h / 2 : y - box_h;
  // Horizontal text starts at a fraction of a pixel: right-aligned text ends
  // exactly at its anchor, centred text is centred on it exactly. (Turned text, a
  // y label, starts at the bottom edge of its box.)
  double start_frac = 0;
  if (!style.vertical) {
    const double start = style.halign == HAlign::left     ? x
                         : style.halign == HAlign::center ? x - along_exact / 2
                                                          : x - along_exact;
    left = static_cast<int>(std::floor(start));
    start_frac = start - left;
  }

  // Rasterize as the line reads: u along it from the start, v down from the box's top.
  const float k = impl_->scale(style.scale);
  const int baseline = static_cast<int>(std::lround(k * impl_->ascent));
  Coverage cover{along + 2 * kPad + 2, across + 2 * kPad, {}};
  cover.values.assign(static_cast<size_t>(cover.width) * cover.height, 0);
  std::vector<uint8_t> glyph_pixels;
  for (size_t i = 0; i < cps.size(); ++i) {
    const int g = impl_->glyph(cps[i]);
    const double pen = start_frac + pens[i];
    const int pen_px = static_cast<int>(std::floor(pen));
    const auto shift = static_cast<float>(pen - pen_px);
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetGlyphBitmapBoxSubpixel(&impl_->info, g, k, k, shift, 0.0f, &x0, &y0, &x1, &y1);
    const int w = x1 - x0, h = y1 - y0;
    if (w <= 0 || h <= 0) continue;  // a space
    glyph_pixels.assign(static_cast<size_t>(w) * h, 0);
    stbtt_MakeGlyphBitmapSubpixel(&impl_->info, glyph_pixels.data(), w, h, w, k, k, shift, 0.0f, g);
    for (int gy = 0; gy < h; ++gy)
      for (int gx = 0; gx < w; ++gx)
        if (uint8_t v = glyph_pixels[static_cast<size_t>(gy) * w + gx])
          cover.add(kPad + pen_px + x0 + gx, kPad + baseline + y0 + gy, v);
  }

  // Lay it on the canvas; turned text reads bottom to top, its first column at the box's bottom.
  for (int v = 0; v < cover.height; ++v)
    for (int u = 0; u < cover.width; ++u) {
      const uint8_t c = cover.values[static_cast<size_t>(v) * cover.width + u];
      if (c == 0) continue;
      const int du = u - kPad, dv = v - kPad;  // relative to the box's start and top
      const int px = style.vertical ? left + dv : left + du;
      const int py = style.vertical ? top + box_h - 1 - du : top + dv;
      canvas.blend_pixel(px, py, style.color, c / 255.0);
    }
  return {left, top, box_w, box_h};
}

}  // namespace moments::plots
