// colormap.hpp — colour maps for charts that colour a value: heat maps, filled
// contours and their colour bars.
//
// viridis(t) is matplotlib's default map (van der Walt & Smith, 2015): dark blue
// through green to yellow, with lightness rising steadily from one end to the
// other, so equal steps in t look like equal steps, it prints readably in grey,
// and it stays ordered under the common colour-vision deficiencies. plots/ does not
// carry matplotlib's table of 256 colours: each sRGB channel is a polynomial of
// degree 7 in t, fitted to that table by tests/reference/make_viridis_fit.py and
// within 2.7/255 of it everywhere. Its lightness rises monotonically, as the
// table's does, up to the 8-bit rounding of the channels (tested).
#pragma once
#include <optional>
#include <string>

#include "canvas.hpp"
#include "ticks.hpp"

namespace moments::plots {

// t in [0, 1] (clamped; NaN gives the t = 0 colour) to an opaque colour.
Color viridis(double t);

// The relative luminance of an sRGB colour (WCAG 2.x), in [0, 1]: how light it
// looks, used by the tests and to pick readable text over a colour.
double relative_luminance(Color color);

// The pinned ends of a colour range (a chart's z_min / z_max) must be finite, and
// > 0 on a log scale: throws PlotError "WHO: z_min must be finite and > 0, got -1".
void check_color_range_ends(const std::string& who, Scale scale, std::optional<double> z_min,
                            std::optional<double> z_max);

}  // namespace moments::plots
