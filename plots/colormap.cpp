// colormap.cpp — viridis as three polynomials (see colormap.hpp).
#include "colormap.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "plot_error.hpp"

namespace moments::plots {

namespace {

// Coefficients of t^0 .. t^7 per channel, from tests/reference/make_viridis_fit.py.
constexpr double kRed[] = {0.256623497, 1.16177983, -14.7894414, 76.3145757,
                           -217.080063, 326.813784, -238.180554, 66.4995649};
constexpr double kGreen[] = {0.00395448269, 1.50366714, -1.25597002, 2.47064307,
                             -8.5536549,    19.0037716, -19.0285918, 6.76290374};
constexpr double kBlue[] = {0.322928152, 1.9622639,  -7.8039765, 24.8852294,
                            -65.2503558, 110.515797, -100.801995, 36.3068864};

// Horner's rule, highest power first; one rounding per operation on every machine
// (plots/ is compiled without floating-point contraction).
uint8_t channel(const double (&c)[8], double t) {
  double v = c[7];
  for (int k = 6; k >= 0; --k) v = v * t + c[k];
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
}

double linear(uint8_t channel) {  // sRGB decoding
  double c = channel / 255.0;
  return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}

}  // namespace

Color viridis(double t) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  return {channel(kRed, t), channel(kGreen, t), channel(kBlue, t), 255};
}

void check_color_range_ends(const std::string& who, Scale scale, std::optional<double> z_min,
                            std::optional<double> z_max) {
  for (auto [name, end] : {std::pair{"z_min", z_min}, std::pair{"z_max", z_max}})
    if (end && (!std::isfinite(*end) || (scale == Scale::log && *end <= 0.0)))
      throw PlotError(who + ": " + name + " must be finite" + (scale == Scale::log ? " and > 0" : "") + ", got " +
                      format_number(*end));
}

double relative_luminance(Color c) { return 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b); }

}  // namespace moments::plots
