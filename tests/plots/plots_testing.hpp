// plots_testing.hpp — helpers shared by the plots suite: pixel comparisons that
// say where and by how much, the test data folder, a checksum of a canvas, and
// moments-plot run as a command.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plots.hpp"

namespace plots_testing {
using namespace moments::plots;

inline const Color kWhite = rgb(0xffffff), kBlack = rgb(0x000000);

// Where tests/plots/ is (meson passes it in PLOTS_TEST_DATA), for fixtures and
// the reference chart.
inline std::string data_dir() {
  const char* dir = std::getenv("PLOTS_TEST_DATA");
  REQUIRE_MESSAGE(dir != nullptr, "PLOTS_TEST_DATA is not set (run the tests through meson test)");
  return dir;
}

// moments-plot run as a user would (meson passes its path in MOMENTS_PLOT).
struct Outcome {
  int status = -1;     // the exit status, or -1 if it did not exit normally (a crash)
  std::string output;  // stdout and stderr together
};

// Runs moments-plot with arguments (each quoted for the shell: none may hold a ').
inline Outcome run(const std::vector<std::string>& args) {
  const char* program = std::getenv("MOMENTS_PLOT");
  REQUIRE_MESSAGE(program != nullptr, "MOMENTS_PLOT is not set (run the tests through meson test)");
  std::string command = std::string("'") + program + "'";
  for (const std::string& arg : args) command += " '" + arg + "'";
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Outcome outcome;
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) outcome.output.append(buffer, n);
  int status = pclose(pipe);
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

// Runs moments-plot and checks it fails with `status` and a message holding every piece.
inline void check_fails(const std::vector<std::string>& args, int status, const std::vector<std::string>& pieces) {
  Outcome outcome = run(args);
  INFO("output: ", outcome.output);
  CHECK(outcome.status == status);
  CHECK(outcome.output.rfind("moments-plot: ", 0) == 0);
  for (const std::string& piece : pieces)
    CHECK_MESSAGE(outcome.output.find(piece) != std::string::npos, "missing '", piece, "'");
}

// Writes `text` to the file at `path` (a log for a test to read).
inline void write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE_MESSAGE(f != nullptr, "cannot write ", path);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// The plots suite draws with the bitmap font unless a test says otherwise, so
// that its pixel tests and the bitmap golden hold whichever font the build found.
inline const bool kBitmapFontByDefault = (set_chart_font(&bitmap_font()), true);

// Charts drawn in this scope use `font`; then the bitmap font again.
struct UseFont {
  explicit UseFont(const Font& font) { set_chart_font(&font); }
  ~UseFont() { set_chart_font(&bitmap_font()); }
  UseFont(const UseFont&) = delete;
  UseFont& operator=(const UseFont&) = delete;
};

// The TrueType font the build was configured with (-Dchart_font), or nullptr
// when it found none (tests of the TrueType path then say so and skip).
inline const TrueTypeFont* configured_truetype() {
  static const std::unique_ptr<TrueTypeFont> font =
      configured_font_path().empty() ? nullptr : std::make_unique<TrueTypeFont>(configured_font_path());
  return font.get();
}

inline std::string color_str(Color c) {
  return "(" + std::to_string(c.r) + ", " + std::to_string(c.g) + ", " + std::to_string(c.b) + ", " +
         std::to_string(c.a) + ")";
}

// Channels within `tolerance` of each other.
inline bool close(Color a, Color b, int tolerance) {
  auto near = [&](int u, int v) { return u - v <= tolerance && v - u <= tolerance; };
  return near(a.r, b.r) && near(a.g, b.g) && near(a.b, b.b) && near(a.a, b.a);
}

// Every pixel of the canvas must be expected(x, y); reports the first that is not.
inline void check_pixels(const Canvas& canvas, const std::function<Color(int, int)>& expected,
                         const std::string& what) {
  INFO(what);
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x)
      if (canvas.pixel(x, y) != expected(x, y)) {
        FAIL_CHECK("pixel (", x, ", ", y, ") is ", color_str(canvas.pixel(x, y)), ", expected ",
                   color_str(expected(x, y)));
        return;
      }
}

// FNV-1a (64 bit) over the RGBA bytes, row by row: a fingerprint of a picture.
inline uint64_t fnv1a(const Canvas& canvas) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto* bytes = reinterpret_cast<const uint8_t*>(canvas.data());
  const size_t count = static_cast<size_t>(canvas.width()) * canvas.height() * 4;
  for (size_t i = 0; i < count; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  return hash;
}

// The message of the PlotError that f throws ("" if it throws none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PlotError& e) {
    return e.what();
  }
  return "";
}

inline void check_error(const std::function<void()>& f, const std::string& piece) {
  std::string message = error_of(f);
  INFO("message: ", message);
  REQUIRE_MESSAGE(!message.empty(), "expected a PlotError");
  CHECK_MESSAGE(message.find(piece) != std::string::npos, "missing '", piece, "'");
}

}  // namespace plots_testing
