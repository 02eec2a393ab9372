// test_canvas.cpp — the rasterizer, the bitmap font and PNG files, pixel by pixel.
// Run: meson test -C build --suite plots
#include <stb/stb_image.h>

#include <set>

#include "plots_testing.hpp"

using namespace plots_testing;

TEST_CASE("a new canvas is its background; pixels outside it are an error") {
  Canvas canvas(4, 3, rgb(0x123456));
  check_pixels(
      canvas, [](int, int) { return rgb(0x123456); }, "background");
  check_error([&] { canvas.pixel(4, 0); }, "outside the 4x3 canvas");
  check_error([] { Canvas(0, 10); }, "size 0x10");
}

TEST_CASE("blending is source-over in integers") {
  Canvas canvas(3, 1);
  canvas.blend_pixel(0, 0, rgb(0xff0000), 0.5);                 // alpha 128 over white
  canvas.blend_pixel(1, 0, with_opacity(rgb(0x0000ff), 0.25));  // alpha 64
  canvas.blend_pixel(2, 0, rgb(0x000000), 1.0);
  CHECK(canvas.pixel(0, 0) == Color{255, 127, 127, 255});
  CHECK(canvas.pixel(1, 0) == Color{191, 191, 255, 255});
  CHECK(canvas.pixel(2, 0) == kBlack);

  Canvas clear(1, 1, Color{0, 0, 0, 0});  // onto transparency the colour keeps its own alpha
  clear.blend_pixel(0, 0, with_opacity(rgb(0x00ff00), 0.5));
  CHECK(clear.pixel(0, 0) == Color{0, 255, 0, 128});
}

TEST_CASE("filled and outlined rectangles cover exactly their pixels") {
  Canvas canvas(6, 5);
  canvas.fill_rect({1, 1, 3, 2}, kBlack);
  check_pixels(
      canvas, [](int x, int y) { return x >= 1 && x <= 3 && y >= 1 && y <= 2 ? kBlack : kWhite; }, "fill_rect");
  Canvas outline(5, 4);
  outline.stroke_rect({0, 0, 5, 4}, kBlack);
  check_pixels(
      outline, [](int x, int y) { return x == 0 || x == 4 || y == 0 || y == 3 ? kBlack : kWhite; }, "stroke_rect");
}

TEST_CASE("horizontal and vertical lines on pixel centres are exact") {
  Canvas canvas(6, 3);
  canvas.draw_line({1, 1.5}, {4, 1.5}, kBlack);  // along row 1, from x = 1 to x = 4: pixels 1, 2, 3
  check_pixels(
      canvas, [](int x, int y) { return y == 1 && x >= 1 && x <= 3 ? kBlack : kWhite; }, "1-pixel line");

  Canvas thick(5, 3);
  thick.draw_line({2, 0}, {2, 3}, kBlack, 2.0);  // 2 wide around x = 2: columns 1 and 2
  check_pixels(
      thick, [](int x, int) { return x == 1 || x == 2 ? kBlack : kWhite; }, "2-pixel line");

  Canvas between(3, 4);
  between.draw_line({0, 2}, {3, 2}, kBlack);  // on the edge between rows 1 and 2: half of each
  check_pixels(
      between,
      [](int, int y) {
        return y == 1 || y == 2 ? Color{127, 127, 127, 255} : kWhite;
      },
      "line between rows");
}

TEST_CASE("an anti-aliased diagonal is symmetric and as heavy as its width") {
  Canvas canvas(20, 20);
  canvas.draw_line({2, 2}, {18, 18}, kBlack, 1.5);
  double ink = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      CHECK(canvas.pixel(x, y) == canvas.pixel(y, x));                    // mirror about the diagonal
      CHECK(close(canvas.pixel(x, y), canvas.pixel(19 - y, 19 - x), 1));  // and end for end (to rounding)
      ink += (255 - canvas.pixel(x, y).r) / 255.0;
    }
  double area = 1.5 * 16 * std::sqrt(2.0);  // width × length
  CHECK(ink == doctest::Approx(area).epsilon(0.03));
  CHECK(canvas.pixel(10, 10) == kBlack);  // on the line: full
  CHECK(canvas.pixel(10, 13) == kWhite);  // 2 pixels off it: none
}

TEST_CASE("a faint polyline is blended once per pixel, joints included") {
  Canvas canvas(8, 8);
  Point corner[] = {{1.5, 1.5}, {6.5, 1.5}, {6.5, 6.5}};
  canvas.draw_polyline(corner, with_opacity(kBlack, 0.5), 1.0);
  const Color half{127, 127, 127, 255};
  CHECK(canvas.pixel(6, 1) == half);  // the joint
  CHECK(canvas.pixel(3, 1) == half);
  CHECK(canvas.pixel(6, 4) == half);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) CHECK(canvas.pixel(x, y).r >= 127);  // nothing darker: no double blending
}

TEST_CASE("dashes start at the first point and keep their length") {
  Canvas canvas(20, 1);
  canvas.draw_dashed_line({0, 0.5}, {20, 0.5}, kBlack, 1.0, 4.0, 3.0);
  check_pixels(
      canvas, [](int x, int) { return x % 7 < 4 ? kBlack : kWhite; }, "4 on, 3 off");
}

TEST_CASE("everything stays inside the clip rectangle") {
  Canvas canvas(6, 6);
  canvas.set_clip({2, 1, 2, 3});
  canvas.fill_rect({0, 0, 6, 6}, kBlack);
  canvas.draw_line({0, 4.5}, {6, 4.5}, kBlack, 3.0);
  canvas.draw_marker({5, 5}, Marker::circle, 4, kBlack);
  check_pixels(
      canvas, [](int x, int y) { return x >= 2 && x <= 3 && y >= 1 && y <= 3 ? kBlack : kWhite; }, "clip");
  canvas.reset_clip();
  CHECK(canvas.clip() == canvas.bounds());
}

TEST_CASE("lines far outside the canvas cost nothing and draw nothing; NaN draws nothing") {
  Canvas canvas(10, 10);
  canvas.draw_line({-1e12, -5}, {1e12, -5}, kBlack, 2.0);
  canvas.draw_line({5, 5}, {std::nan(""), 5}, kBlack);
  Point points[] = {{1, 1}, {std::numeric_limits<double>::infinity(), 3}};
  canvas.draw_polyline(points, kBlack);
  check_pixels(
      canvas, [](int, int) { return kWhite; }, "nothing drawn");
}

TEST_CASE("markers are centred and symmetric") {
  Canvas square(10, 10);
  square.draw_marker({5, 5}, Marker::square, 2, kBlack);  // exactly pixels 4..5 × 4..5
  check_pixels(
      square, [](int x, int y) { return (x == 4 || x == 5) && (y == 4 || y == 5) ? kBlack : kWhite; }, "square");
  for (Marker marker : {Marker::circle, Marker::diamond, Marker::cross}) {
    Canvas canvas(12, 12);
    canvas.draw_marker({6, 6}, marker, 7, kBlack);
    for (int y = 0; y < 12; ++y)
      for (int x = 0; x < 12; ++x) {
        CHECK(close(canvas.pixel(x, y), canvas.pixel(11 - x, y), 1));
        CHECK(close(canvas.pixel(x, y), canvas.pixel(x, 11 - y), 1));
      }
    CHECK(canvas.pixel(0, 0) == kWhite);
  }
}

TEST_CASE("glyphs are exact, printable ASCII is complete and every glyph is different") {
  // 'L': a stem in column 0 from row 2 to row 9, a foot across row 10.
  auto rows = glyph_rows('L');
  for (int r = 0; r < kGlyphHeight; ++r) CHECK(rows[r] == (r >= 2 && r <= 9 ? 0b10000 : r == 10 ? 0b11111 : 0));
  Canvas canvas(5, 13);
  draw_text(canvas, 0, 0, "L", {.color = kBlack});
  check_pixels(
      canvas, [](int x, int y) { return (x == 0 && y >= 2 && y <= 10) || y == 10 ? kBlack : kWhite; }, "the glyph L");

  std::set<std::array<uint8_t, kGlyphHeight>> seen;
  for (int c = 33; c < 127; ++c) {
    auto g = glyph_rows(static_cast<char>(c));
    bool inked = false;
    for (uint8_t row : g) inked = inked || row != 0;
    CHECK_MESSAGE(inked, "glyph ", c, " is empty");
    CHECK_MESSAGE(seen.insert(g).second, "glyph ", c, " looks like another one");
  }
  CHECK(glyph_rows('\x01') == glyph_rows('?'));  // outside printable ASCII
  CHECK(text_width("\xE2\x80\x96g\xE2\x80\x96") == text_width("?g?"));  // "‖g‖": one '?' per UTF-8 character
  CHECK(glyph_rows(' ') == std::array<uint8_t, kGlyphHeight>{});
}

TEST_CASE("text is proportionally spaced, digits are all the same width") {
  CHECK(glyph_advance('1') == 6);
  CHECK(glyph_advance('8') == 6);
  CHECK(glyph_advance('.') == 4);
  CHECK(glyph_advance(' ') == 4);
  CHECK(glyph_advance('i') == 5);
  CHECK(text_width("") == 0);
  CHECK(text_width("8") == 5);
  CHECK(text_width("10") == 11);
  CHECK(text_width("2.5") == 15);
  CHECK(text_width("10", 2) == 22);
  CHECK(text_height(2) == 26);
}

TEST_CASE("text aligns on its anchor, scales by whole numbers and turns for y labels") {
  Canvas canvas(60, 40);
  Rect right = draw_text(canvas, 50, 20, "1.5k", {.halign = HAlign::right, .valign = VAlign::middle});
  CHECK(right.right() == 50);
  CHECK(right.y == 20 - 13 / 2);
  Rect centred = draw_text(canvas, 30, 0, "ab", {.halign = HAlign::center});
  CHECK(centred.x == 30 - text_width("ab") / 2);

  Canvas big(10, 26);
  draw_text(big, 0, 0, "L", {.color = kBlack, .scale = 2});
  check_pixels(
      big, [](int x, int y) { return (x <= 1 && y >= 4 && y <= 21) || (y >= 20 && y <= 21) ? kBlack : kWhite; },
      "L at scale 2");

  // Turned 90° counter-clockwise: the stem of the L runs along a row, its foot up the right.
  Canvas turned(13, 5);
  Rect box = draw_text(turned, 0, 0, "L", {.color = kBlack, .vertical = true});
  CHECK(box == Rect{0, 0, 13, 5});
  check_pixels(
      turned, [](int x, int y) { return (y == 4 && x >= 2 && x <= 10) || x == 10 ? kBlack : kWhite; }, "L turned");
}

TEST_CASE("PNG round trip: stb_image decodes exactly what was drawn") {
  Canvas canvas(37, 23);
  canvas.draw_line({1, 2}, {35, 20}, rgb(0x0072b2), 1.75);
  canvas.draw_marker({10, 15}, Marker::circle, 6, with_opacity(rgb(0xd55e00), 0.6));
  draw_text(canvas, 2, 2, "Ab1", {.color = rgb(0x222222)});
  for (bool transparent : {false, true}) {
    if (transparent) canvas.set_pixel(0, 0, Color{10, 20, 30, 40});
    std::vector<uint8_t> png = encode_png(canvas);
    CHECK(png == encode_png(canvas));  // the same bytes every time
    int w = 0, h = 0, channels = 0;
    uint8_t* pixels = stbi_load_from_memory(png.data(), static_cast<int>(png.size()), &w, &h, &channels, 4);
    REQUIRE(pixels != nullptr);
    CHECK(w == 37);
    CHECK(h == 23);
    CHECK(channels == (transparent ? 4 : 3));  // opaque canvases are written as RGB
    size_t differ = 0;
    for (int i = 0; i < w * h; ++i) {
      Color c = canvas.data()[i];
      differ +=
          pixels[4 * i] != c.r || pixels[4 * i + 1] != c.g || pixels[4 * i + 2] != c.b || pixels[4 * i + 3] != c.a;
    }
    CHECK(differ == 0);
    stbi_image_free(pixels);
  }
}

TEST_CASE("save_png names the path it cannot write") {
  Canvas canvas(2, 2);
  check_error([&] { save_png(canvas, "/nonexistent-dir/chart.png"); }, "cannot write /nonexistent-dir/chart.png");
}
