// png_io.cpp — PNG through stb_image_write (libstb ships the implementation, so
// no *_IMPLEMENTATION macro is defined here).
#include "png_io.hpp"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "plot_error.hpp"

namespace moments::plots {

std::vector<uint8_t> encode_png(const Canvas& canvas) {
  const Color* pixels = canvas.data();
  const size_t count = static_cast<size_t>(canvas.width()) * canvas.height();
  bool opaque = std::all_of(pixels, pixels + count, [](Color c) { return c.a == 255; });
  std::vector<uint8_t> bytes;  // packed RGB or RGBA, row-major
  if (opaque) {
    bytes.reserve(count * 3);
    for (size_t i = 0; i < count; ++i) bytes.insert(bytes.end(), {pixels[i].r, pixels[i].g, pixels[i].b});
  } else {
    const auto* raw = reinterpret_cast<const uint8_t*>(pixels);
    bytes.assign(raw, raw + count * 4);
  }
  const int channels = opaque ? 3 : 4;
  std::vector<uint8_t> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    const auto* begin = static_cast<const uint8_t*>(data);
    out->insert(out->end(), begin, begin + size);
  };
  if (!stbi_write_png_to_func(append, &png, canvas.width(), canvas.height(), channels, bytes.data(),
                              canvas.width() * channels))
    throw PlotError("png: stb_image_write could not encode a " + std::to_string(canvas.width()) + "x" +
                    std::to_string(canvas.height()) + " image");
  return png;
}

void save_png(const Canvas& canvas, const std::string& path) {
  std::vector<uint8_t> png = encode_png(canvas);
  std::ofstream out(path, std::ios::binary);
  if (out) out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  if (out) out.close();
  if (!out) throw PlotError("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace moments::plots
