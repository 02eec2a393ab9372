// font.cpp — the chart font (chosen at configure time), text through it, and
// number labels typeset as a figure prints them (see font.hpp).
#include "font.hpp"

#include <atomic>
#include <charconv>
#include <cmath>
#include <iterator>

#include "bitmap_font.hpp"
#include "truetype_font.hpp"

namespace moments::plots {

namespace {

std::atomic<const Font*> g_chart_font{nullptr};  // set_chart_font's choice; nullptr: the configured font

const Font& configured_font() {
#ifdef MOMENTS_CHART_FONT
  // Read on first use; a file that is gone or is no font is a PlotError naming it
  // (and the next chart tries again).
  static const TrueTypeFont font(MOMENTS_CHART_FONT);
  return font;
#else
  return bitmap_font();
#endif
}

// "−" (U+2212) and the superscripts ⁰¹²³⁴⁵⁶⁷⁸⁹ ⁻ in UTF-8.
constexpr const char* kMinus = "\u2212";
constexpr const char* kTimes = "\u00d7";
std::string superscript(std::string_view digits) {
  static constexpr const char* kSup[] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                         "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
  std::string out;
  for (char c : digits) {
    if (c == '-') out += "\u207b";
    else if (c >= '0' && c <= '9') out += kSup[c - '0'];
  }
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// mantissa "1", exponent "-3" → "10⁻³"; "2.5", "-3" → "2.5×10⁻³".
std::string power_of_ten(std::string_view mantissa, std::string_view exponent) {
  std::string power = "10" + superscript(exponent);
  return mantissa == "1" ? power : std::string(mantissa) + kTimes + power;
}

}  // namespace

const Font& chart_font() {
  const Font* chosen = g_chart_font.load();
  return chosen ? *chosen : configured_font();
}

void set_chart_font(const Font* font) { g_chart_font.store(font); }

std::string configured_font_path() {
#ifdef MOMENTS_CHART_FONT
  return MOMENTS_CHART_FONT;
#else
  return "";
#endif
}

int text_width(std::string_view text, int scale) { return chart_font().width(text, scale); }
int text_height(int scale) { return chart_font().line_height(scale); }
Rect draw_text(Canvas& canvas, int x, int y, std::string_view text, const TextStyle& style) {
  return chart_font().draw(canvas, x, y, text, style);
}

std::string typeset_number(std::string_view label) {
  const bool negative = !label.empty() && label[0] == '-';
  std::string_view body = label.substr(negative ? 1 : 0);
  if (body.empty() || body[0] < '0' || body[0] > '9') return std::string(label);
  std::string sign = negative ? kMinus : "";
  // d[.ddd]e[-]d: scientific, as format_decimal writes small and huge numbers
  const size_t e = body.find('e');
  if (e != std::string_view::npos) {
    std::string_view mantissa = body.substr(0, e), exponent = body.substr(e + 1);
    std::string_view exponent_digits = exponent.substr(!exponent.empty() && exponent[0] == '-' ? 1 : 0);
    const size_t dot = mantissa.find('.');
    const bool mantissa_ok = dot == std::string_view::npos
                                 ? all_digits(mantissa)
                                 : all_digits(mantissa.substr(0, dot)) && all_digits(mantissa.substr(dot + 1));
    if (mantissa_ok && all_digits(exponent_digits)) return sign + power_of_ten(mantissa, exponent);
    return std::string(label);
  }
  return sign + std::string(body);
}

std::string tick_label_for_chart(std::string_view label, double value, bool log_axis) {
  if (label.empty() || !chart_font().typesets()) return std::string(label);
  if (log_axis && value > 0 && std::isfinite(value)) {
    // m × 10^k exactly, for one digit m: written as matplotlib's log axes write it.
    char text[32];
    auto written = std::to_chars(std::begin(text), std::end(text), value, std::chars_format::scientific, 0);
    double back = 0;
    std::from_chars(text, written.ptr, back);
    if (back == value) {
      std::string_view s(text, static_cast<size_t>(written.ptr - text));  // "2e-03", "1e+10"
      const size_t e = s.find('e');
      int exponent = 0;
      std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exponent);
      return power_of_ten(s.substr(0, e), std::to_string(exponent));
    }
  }
  return typeset_number(label);
}

}  // namespace moments::plots
