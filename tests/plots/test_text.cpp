// test_text.cpp — the TrueType text path: metrics are what the font says (FreeType's
// numbers for DejaVu Sans, printed by tests/reference/plot_with_matplotlib.py
// --metrics), pens at fractions of a pixel, anti-aliased ink, alignment, turned
// text, typeset labels, and font files that are not fonts (truncated, garbage).
// Run: meson test -C build plots_text
// Tests that need the configured font file skip, saying so, when the build has none.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

// DejaVu Sans 2.37 (Debian fonts-dejavu-core 2.37-6), in font units, from FreeType
// (matplotlib's ft2font, hinting_factor=1): plot_with_matplotlib.py --metrics.
constexpr int kUnitsPerEm = 2048, kAscent = 1901, kDescent = -483;
constexpr int kAdvanceA = 1401, kAdvanceV = 1401, kAdvanceT = 1251, kAdvanceO = 1253, kAdvanceMinus = 1716;
constexpr int kKernAV = -131, kKernTo = -348;

// The configured font, or nullptr after saying why the test skips.
const TrueTypeFont* font_or_skip() {
  const TrueTypeFont* font = configured_truetype();
  if (!font) MESSAGE("no TrueType font in this build (-Dchart_font found no file): skipped");
  return font;
}
bool is_dejavu_sans(const TrueTypeFont& font) {
  return font.units_per_em() == kUnitsPerEm && font.advance_units(U'A') == kAdvanceA &&
         font.name().find("DejaVuSans.ttf") != std::string::npos;
}

// Coverage of ink in a canvas drawn black on white: 1 − red/255 per pixel.
double ink(const Canvas& c, int x, int y) { return 1.0 - c.pixel(x, y).r / 255.0; }
double ink_sum(const Canvas& c) {
  double s = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) s += ink(c, x, y);
  return s;
}
// The ink-weighted mean column.
double ink_centre_x(const Canvas& c) {
  double s = 0, sx = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) s += ink(c, x, y), sx += ink(c, x, y) * (x + 0.5);
  return sx / s;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("sizes are points at 100 dpi: 10 pt is 13.9 pixels per em") {
  CHECK(TrueTypeFont::pixels_per_em(1) == doctest::Approx(10.0 / 72.0 * 100.0));
  CHECK(TrueTypeFont::points(2) == doctest::Approx(12.0));  // matplotlib's "large", its title size
  CHECK(TrueTypeFont::points(3) == doctest::Approx(14.4));  // "x-large"
}

TEST_CASE("advance widths and kerning are what the font says (FreeType's numbers)") {
  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  if (!is_dejavu_sans(*font)) {
    MESSAGE("the configured font is not DejaVu Sans 2.37: its numbers are not checked here");
    return;
  }
  CHECK(font->units_per_em() == kUnitsPerEm);
  CHECK(font->advance_units(U'A') == kAdvanceA);
  CHECK(font->advance_units(U'V') == kAdvanceV);
  CHECK(font->advance_units(U'T') == kAdvanceT);
  CHECK(font->advance_units(U'o') == kAdvanceO);
  CHECK(font->advance_units(U'\u2212') == kAdvanceMinus);  // the minus sign, as wide as '+'
  CHECK(font->kerning_units(U'A', U'V') == kKernAV);
  CHECK(font->kerning_units(U'T', U'o') == kKernTo);
  CHECK(font->kerning_units(U'V', U'A') == kKernAV);

  // A line's width is the sum of advances and kerning, scaled, in fractions of a pixel.
  const double px = TrueTypeFont::pixels_per_em(1) / kUnitsPerEm;
  CHECK(font->advance("AV", 1) == doctest::Approx((kAdvanceA + kKernAV + kAdvanceV) * px).epsilon(1e-6));
  CHECK(font->advance("To", 1) == doctest::Approx((kAdvanceT + kKernTo + kAdvanceO) * px).epsilon(1e-6));
  CHECK(font->advance("AV", 1) < font->advance("A", 1) + font->advance("V", 1));  // kerned closer
  CHECK(font->width("AV", 1) == static_cast<int>(std::ceil((kAdvanceA + kKernAV + kAdvanceV) * px)));
  CHECK(font->line_height(1) == static_cast<int>(std::ceil((kAscent - kDescent) * px)));
  CHECK(font->line_height(2) > font->line_height(1));
}

TEST_CASE("pens stand at fractions of a pixel: a glyph after a space moves by the space's width") {
  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  Canvas alone(30, 20), after_space(30, 20);
  font->draw(alone, 2, 0, "l", {.color = kBlack});
  font->draw(after_space, 2, 0, " l", {.color = kBlack});
  const double shift = ink_centre_x(after_space) - ink_centre_x(alone);
  INFO("space advance ", font->advance(" ", 1), " px, ink moved ", shift, " px");
  // Whole-pixel pens would move it by a whole number of pixels; the space is 4.41 px.
  // (stb's coverage of a 1.3-pixel stem shifts its centre by up to about 0.1 px
  // between pen fractions, so the centre follows the pen to within 0.15.)
  CHECK(std::fabs(shift - font->advance(" ", 1)) < 0.15);
  CHECK(std::fabs(shift - std::round(shift)) > 0.2);
  CHECK(ink_sum(after_space) == doctest::Approx(ink_sum(alone)).epsilon(0.03));  // the same glyph, moved
}

TEST_CASE("text is anti-aliased: ink with partial coverage, in the text's colour blended over the background") {
  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  Canvas canvas(60, 20);
  font->draw(canvas, 1, 1, "Adam 0.5", {.color = kBlack});
  int full = 0, partial = 0;
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x) {
      Color c = canvas.pixel(x, y);
      CHECK((c.r == c.g && c.g == c.b));  // grey: black over white
      full += c.r == 0;
      partial += c.r > 0 && c.r < 255;
    }
  CHECK(full > 10);
  CHECK(partial > full);  // 10-pt text is mostly edges
}

TEST_CASE("right-aligned text ends at its anchor; centred text is centred; turned text reads upward") {
  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  Canvas canvas(80, 40);
  Rect box = font->draw(canvas, 60, 20, "1.5", {.color = kBlack, .halign = HAlign::right, .valign = VAlign::middle});
  int rightmost = -1;
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x)
      if (ink(canvas, x, y) > 0.1) rightmost = std::max(rightmost, x);
  CHECK(rightmost <= 59);  // ink stops before the anchor (the 5 has a right bearing)
  CHECK(rightmost >= 57);
  CHECK(box.y == 20 - font->line_height(1) / 2);
  CHECK(box.width == font->width("1.5", 1));

  Canvas centred(80, 20);
  font->draw(centred, 40, 0, "oo", {.color = kBlack, .halign = HAlign::center});
  CHECK(ink_centre_x(centred) == doctest::Approx(40.0).epsilon(0.01));  // "oo" is symmetric

  // Turned: the box swaps its sides, the same ink, and the first glyph at the bottom.
  Canvas flat(60, 30), turned(30, 60);
  font->draw(flat, 0, 0, "L.", {.color = kBlack});
  Rect t = font->draw(turned, 0, 0, "L.", {.color = kBlack, .vertical = true});
  CHECK(t == Rect{0, 0, font->line_height(1), font->width("L.", 1)});
  CHECK(ink_sum(turned) == doctest::Approx(ink_sum(flat)).epsilon(1e-9));
  double lower = 0, upper = 0;
  for (int y = 0; y < t.height; ++y)
    for (int x = 0; x < t.width; ++x) (y >= t.height / 2 ? lower : upper) += ink(turned, x, y);
  CHECK(lower > 2 * upper);  // the L (heavy) is at the bottom, the period (light) above it
}

TEST_CASE("labels are typeset: the minus sign, powers of ten with superscripts") {
  CHECK(typeset_number("-0.5") == "\u22120.5");
  CHECK(typeset_number("1e-3") == "10\u207b\u00b3");
  CHECK(typeset_number("2.5e-3") == "2.5\u00d710\u207b\u00b3");
  CHECK(typeset_number("-1e18") == "\u221210\u00b9\u2078");
  CHECK(typeset_number("1.5k") == "1.5k");
  CHECK(typeset_number("nan") == "nan");
  CHECK(typeset_number("2 KiB") == "2 KiB");
  CHECK(typeset_number("1e") == "1e");  // not a number: left alone

  // Through the chart font: the bitmap font cannot, so its labels stay ASCII.
  CHECK(tick_label_for_chart("0.01", 0.01, true) == "0.01");
  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  REQUIRE(font->typesets());
  UseFont use(*font);
  CHECK(tick_label_for_chart("0.01", 0.01, true) == "10\u207b\u00b2");  // decades as matplotlib's log axes
  CHECK(tick_label_for_chart("1", 1.0, true) == "10\u2070");
  CHECK(tick_label_for_chart("2k", 2000.0, true) == "2\u00d710\u00b3");
  CHECK(tick_label_for_chart("0.25", 0.25, true) == "0.25");  // not one digit times a power of ten
  CHECK(tick_label_for_chart("0.01", 0.01, false) == "0.01");  // linear axes keep their decimals
  CHECK(tick_label_for_chart("-5", -5.0, false) == "\u22125");
  CHECK(text_width("\u22125") == font->width("\u22125", 1));
}

TEST_CASE("font files that are not fonts are a PlotError naming the file, never a crash") {
  CHECK(error_of([] { TrueTypeFont("/nonexistent/font.ttf"); }).find("/nonexistent/font.ttf") != std::string::npos);
  check_error([] { TrueTypeFont(std::vector<uint8_t>{}, "empty.ttf"); }, "empty.ttf: the file is 0 bytes");
  check_error([] { TrueTypeFont(std::vector<uint8_t>(100, 'x'), "x.ttf"); }, "is not a TrueType font");
  std::vector<uint8_t> collection = {'t', 't', 'c', 'f', 0, 1, 0, 0, 0, 0, 0, 1};
  check_error([&] { TrueTypeFont(collection, "c.ttc"); }, "font collection");

  // Garbage of every small size and a few large ones, from a fixed-seed generator.
  uint64_t state = 20;
  auto next = [&] { return static_cast<uint8_t>((state = state * 6364136223846793005ull + 1442695040888963407ull) >> 56); };
  for (size_t size : {1, 11, 12, 13, 64, 300, 4096, 100000}) {
    std::vector<uint8_t> bytes(size);
    for (uint8_t& b : bytes) b = next();
    if (size >= 4) bytes[0] = 0, bytes[1] = 1, bytes[2] = 0, bytes[3] = 0;  // past the first check
    CHECK_MESSAGE(!error_of([&] { TrueTypeFont(bytes, "garbage.ttf"); }).empty(), size, " bytes of garbage");
  }

  const TrueTypeFont* font = font_or_skip();
  if (!font) return;
  const std::vector<uint8_t> good = file_bytes(configured_font_path());
  REQUIRE(good.size() > 1000);
  // Truncated anywhere: the directory, inside a table, one byte short.
  size_t errors = 0, cuts = 0;
  for (size_t cut = 0; cut < good.size(); cut += cut < 600 ? 7 : 9973) {
    ++cuts;
    std::string message = error_of([&] { TrueTypeFont(std::vector<uint8_t>(good.begin(), good.begin() + cut), "cut.ttf"); });
    INFO("cut at ", cut, ": ", message);
    CHECK(message.find("cut.ttf") != std::string::npos);
    errors += !message.empty();
  }
  CHECK(errors == cuts);
  CHECK_FALSE(error_of([&] { TrueTypeFont(std::vector<uint8_t>(good.begin(), good.end() - 1), "short.ttf"); }).empty());
  // A table directory pointing past the end, and a loca entry past its glyph table.
  std::vector<uint8_t> bad = good;
  bad[12 + 8] = 0xff;  // the first table's offset, high byte
  check_error([&] { TrueTypeFont(bad, "moved.ttf"); }, "reaches past the end of the file");
  // And the good bytes read as the file does.
  TrueTypeFont copy(good, "copy.ttf");
  CHECK(copy.advance("AV", 1) == font->advance("AV", 1));
}
