// png_io.hpp — writing a canvas as PNG. The encoding is stb_image_write's (from
// Debian's libstb); everything drawn before it is ours.
//
// A canvas whose pixels are all opaque is written as RGB, otherwise as RGBA. The
// same canvas always gives the same bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "canvas.hpp"

namespace moments::plots {

std::vector<uint8_t> encode_png(const Canvas& canvas);
void save_png(const Canvas& canvas, const std::string& path);  // throws PlotError naming the path

}  // namespace moments::plots
