// test_quantization.cpp — block-wise 8-bit quantization (lib/optim/quantization.*): the dynamic maps against
// bitsandbytes' create_dynamic_map, the rounding against a restatement of its kernels (both from
// reference/make_quantization_golden.py), and the round-trip error bound each block must meet.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "reference/quantization_golden.hpp"
#include "testing.hpp"

using namespace testing;

namespace {

std::vector<uint8_t> codes_of(const QuantizedTensor& q, int64_t n) {
  Tensor host = q.codes.to(Device::cpu);
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = code_at(host, i);
  return out;
}

// The largest error nearest-code rounding may leave for x in a block of absmax a: half the gap between the two
// map values around x / a, times a, plus the float rounding of x · (1/a) and of code · a (a few ulps of x).
float round_trip_bound(const DynamicMap& map, float x, float a) {
  if (a == 0.0f) return 0.0f;
  float r = x / a;
  const float* begin = map.code;
  const float* end = map.code + 256;
  const float* upper = std::lower_bound(begin, end, r);
  float gap = 0.0f;
  if (upper == begin) gap = 0.0f;                      // at or below map[0]: the nearest is map[0] itself
  else if (upper == end) gap = 0.0f;
  else gap = *upper - *(upper - 1);
  float below_min = r < map.code[0] ? (map.code[0] - r) : 0.0f;  // the unsigned map cannot hold a negative
  return (gap / 2.0f + below_min) * a + 4.0f * std::nextafter(std::fabs(x), INFINITY) - 4.0f * std::fabs(x) + 1e-30f;
}

}  // namespace

TEST_CASE("the dynamic maps equal bitsandbytes' create_dynamic_map, value for value") {
  for (bool is_signed : {true, false}) {
    CAPTURE(is_signed);
    const DynamicMap& map = dynamic_map(is_signed);
    const std::vector<float>& expected = is_signed ? golden::dynamic_map_signed : golden::dynamic_map_unsigned;
    REQUIRE(expected.size() == 256);
    int differing = 0;
    for (int k = 0; k < 256; ++k)
      if (std::memcmp(&map.code[k], &expected[static_cast<size_t>(k)], sizeof(float)) != 0) {
        if (differing++ < 5) {
          INFO("code ", k, ": ours ", map.code[k], ", bitsandbytes' ", expected[static_cast<size_t>(k)]);
          CHECK(false);
        }
      }
    CHECK(differing == 0);
    CHECK(std::is_sorted(map.code, map.code + 256));
    CHECK(map.code[255] == 1.0f);
    CHECK(map.code[map.zero_code] == 0.0f);
    CHECK(map.zero_code == (is_signed ? 127 : 0));
  }
  // The signed map is symmetric (127 values each side of 0, then 1): m = ±x round alike.
  const DynamicMap& s = dynamic_map(true);
  for (int k = 0; k < 127; ++k) CHECK(s.code[k] == -s.code[254 - k]);
  // Dense near 0, coarse near 1: the gaps grow by about 10 per decade.
  CHECK(s.code[128] == doctest::Approx(5.5e-7).epsilon(1e-6));
  CHECK(s.code[254] - s.code[253] == doctest::Approx(0.0140625).epsilon(1e-5));
}

TEST_CASE("quantize_blockwise gives bitsandbytes' codes and absmax, including ties, zeros and non-finite values") {
  for (const golden::QuantizeCase& c : golden::quantize_cases) {
    CAPTURE(c.name);
    const int64_t n = static_cast<int64_t>(c.input.size());
    QuantizedTensor q = quantize_blockwise(Tensor::from(c.input), dynamic_map(c.is_signed), c.block_size);
    CHECK(q.codes.numel() == packed_code_floats(n));
    std::vector<uint8_t> codes = codes_of(q, n);
    for (int64_t i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(static_cast<int>(codes[static_cast<size_t>(i)]) == c.codes[static_cast<size_t>(i)]);
    }
    std::vector<float> absmax = q.absmax.to_vector();
    REQUIRE(absmax.size() == c.absmax.size());
    for (size_t b = 0; b < absmax.size(); ++b) CHECK(absmax[b] == c.absmax[b]);
  }
}

TEST_CASE("quantize_nearest_v2 (the kernels' branch-free search) and NearestCodeTable (the CPU's look-up) equal the canonical search") {
  for (bool is_signed : {true, false}) {
    CAPTURE(is_signed);
    const DynamicMap& map = dynamic_map(is_signed);
    int64_t checked = 0, differing = 0;
    auto check = [&](float x) {
      ++checked;
      const NearestCodeTable& table = nearest_code_table(is_signed);
      const uint8_t search = quantize_nearest(map, x);
      if ((search != quantize_nearest_v2(map, x) || search != table(x)) && differing++ < 5) {
        INFO("x = ", x, ": search ", int(search), ", v2 ", int(quantize_nearest_v2(map, x)), ", table ", int(table(x)));
        CHECK(false);
      }
    };
    // Every code and every float midpoint, with the 8 floats either side of each.
    for (int k = 0; k < 256; ++k) {
      std::vector<float> centres = {map.code[k]};
      if (k < 255) centres.push_back((map.code[k] + map.code[k + 1]) * 0.5f);
      for (float c : centres) {
        float up = c, down = c;
        check(c);
        for (int u = 0; u < 8; ++u) check(up = std::nextafter(up, 2.0f)), check(down = std::nextafter(down, -2.0f));
      }
    }
    for (float x : {0.0f, -0.0f, 1.0f, -1.0f, 1.5f, -1.5f, 1e-30f, -1e-30f, INFINITY, -INFINITY, NAN}) check(x);
    Generator gen(7);
    for (int i = 0; i < 10'000'000; ++i) {
      float u = gen.uniform();
      check(i % 2 ? 2.04f * u - 1.02f : std::pow(10.0f, -8.0f * u) * (i % 4 == 1 ? 1.0f : -1.0f));
    }
    CHECK(differing == 0);
    MESSAGE(checked, " values checked, ", differing, " differ");
  }
}

TEST_CASE("a tie on the float midpoint keeps the code the binary search ended on: the even one") {
  const DynamicMap& map = dynamic_map(true);
  // On the midpoint of codes k and k + 1 the answer is the search's last pivot, which is always even: k or
  // k + 1 by turns (the golden case signed_midpoint_tie pins one of them against the restatement).
  int to_lower = 0, to_upper = 0;
  for (int k = 128; k < 254; ++k) {
    float mid = (map.code[k] + map.code[k + 1]) * 0.5f;
    uint8_t c = quantize_nearest(map, mid);
    CHECK(c == (k % 2 == 0 ? k : k + 1));
    (c == k ? to_lower : to_upper) += 1;
    // Just off the float midpoint, rounding goes to the nearer code whichever way the search went.
    CHECK(quantize_nearest(map, std::nextafter(mid, 2.0f)) == k + 1);
    CHECK(quantize_nearest(map, std::nextafter(mid, -2.0f)) == k);
  }
  // Neither "always down" nor "always up": the tie follows the search path.
  CHECK(to_lower > 0);
  CHECK(to_upper > 0);
  MESSAGE("midpoint ties between codes 128..254: ", to_lower, " to the lower code, ", to_upper, " to the upper");
}

TEST_CASE("round trips stay within half a map gap times the block's absmax, block by block") {
  Generator gen(19);
  const int64_t n = 256 * 9 + 77;  // nine full blocks and a partial last one
  for (bool is_signed : {true, false}) {
    CAPTURE(is_signed);
    Tensor x = Tensor::empty({n});
    for (int64_t i = 0; i < n; ++i) {
      float r = gen.normal() * std::pow(10.0f, static_cast<float>(i / 256 % 5) - 3.0f);  // blocks of 1e-3 .. 10
      x.data()[i] = is_signed ? r : r * r;
    }
    x.data()[256 * 3 + 10] = 1000.0f;  // an outlier: it costs precision in its own block only
    QuantizedTensor q = quantize_blockwise(x, dynamic_map(is_signed));
    Tensor back = dequantize_blockwise(q);
    CHECK(back.shape() == x.shape());
    std::vector<float> absmax = q.absmax.to_vector();
    REQUIRE(absmax.size() == 10);
    double worst_ratio = 0;  // the largest error / bound seen
    for (int64_t i = 0; i < n; ++i) {
      float a = absmax[static_cast<size_t>(i / 256)];
      float err = std::fabs(back.data()[i] - x.data()[i]);
      float bound = round_trip_bound(dynamic_map(is_signed), x.data()[i], a);
      if (err > bound) {
        INFO("element ", i, " x = ", x.data()[i], " back = ", back.data()[i], " absmax ", a, " bound ", bound);
        CHECK(err <= bound);
      }
      worst_ratio = std::max(worst_ratio, bound > 0 ? static_cast<double>(err) / bound : 0.0);
    }
    CHECK(worst_ratio <= 1.0);
    // The absmax of every block is its largest |x|; a positive largest element comes back exactly (code 255 = 1).
    for (int64_t b = 0; b < 10; ++b) {
      int64_t begin = b * 256, end = std::min(n, begin + 256);
      float peak = 0;
      int64_t at = begin;
      for (int64_t i = begin; i < end; ++i)
        if (std::fabs(x.data()[i]) > peak) peak = std::fabs(x.data()[i]), at = i;
      CHECK(absmax[static_cast<size_t>(b)] == peak);
      if (x.data()[at] > 0) CHECK(back.data()[at] == x.data()[at]);
    }
    // The relative error of the outlier's neighbours is large, the other blocks' is not.
    double rel_outlier_block = 0, rel_other = 0;
    for (int64_t i = 0; i < n; ++i) {
      double rel = std::fabs(back.data()[i] - x.data()[i]) / (std::fabs(x.data()[i]) + 1e-30);
      (i / 256 == 3 ? rel_outlier_block : rel_other) += rel / (i / 256 == 3 ? 256.0 : static_cast<double>(n - 256));
    }
    CHECK(rel_outlier_block > 3 * rel_other);
    MESSAGE(std::string(is_signed ? "signed" : "unsigned"), " map: mean relative round-trip error ", rel_other,
            " (blocks without the outlier), ", rel_outlier_block, " (the outlier's block)");
  }
}

TEST_CASE("zeros, tiny values, all-equal blocks and a partial last block") {
  const DynamicMap& s = dynamic_map(true);
  SUBCASE("a block of zeros has absmax 0, and comes back as zeros") {
    QuantizedTensor q = quantize_blockwise(Tensor::zeros({300}), s);
    std::vector<float> absmax = q.absmax.to_vector();
    CHECK(absmax == std::vector<float>{0.0f, 0.0f});
    for (float v : dequantize_blockwise(q).to_vector()) CHECK(v == 0.0f);
  }
  SUBCASE("all-equal blocks come back exactly (x / absmax = ±1)") {
    std::vector<float> x(256, 0.3f);
    x.resize(512, -2.5f);
    x.resize(600, 7.0f);
    Tensor back = dequantize_blockwise(quantize_blockwise(Tensor::from(x), s));
    std::vector<float> b = back.to_vector();
    for (size_t i = 0; i < 256; ++i) CHECK(b[i] == 0.3f);
    // −1 is not in the signed map: its most negative value is −0.99297, so a negative all-equal block loses 0.7%.
    for (size_t i = 256; i < 512; ++i) CHECK(b[i] == doctest::Approx(-2.5 * 0.99296875).epsilon(1e-6));
    for (size_t i = 512; i < 600; ++i) CHECK(b[i] == 7.0f);
  }
  SUBCASE("tiny values next to a large one vanish; alone in their block they keep their precision") {
    std::vector<float> x = {1.0f, 1e-8f, -1e-8f, 3e-7f};
    Tensor together = dequantize_blockwise(quantize_blockwise(Tensor::from(x), s));
    CHECK(together.to_vector()[1] == 0.0f);  // 1e-8 is below half of map[128] = 5.5e-7: it rounds to 0
    CHECK(together.to_vector()[3] == doctest::Approx(5.5e-7).epsilon(1e-6));
    Tensor apart = dequantize_blockwise(quantize_blockwise(Tensor::from(x), s, /*block_size=*/1));
    for (size_t i = 0; i < 4; ++i) CHECK(apart.to_vector()[i] == doctest::Approx(x[i]).epsilon(1e-6));
  }
  SUBCASE("the partial last block has its own absmax") {
    Tensor x = pattern({256 + 5}, 3);
    for (int64_t i = 256; i < 261; ++i) x.data()[i] *= 0.001f;
    QuantizedTensor q = quantize_blockwise(x, s);
    std::vector<float> absmax = q.absmax.to_vector();
    REQUIRE(absmax.size() == 2);
    CHECK(absmax[0] == 2.0f);
    CHECK(absmax[1] == doctest::Approx(0.002f));
    std::vector<float> back = dequantize_blockwise(q).to_vector();
    for (int64_t i = 256; i < 261; ++i) CHECK(back[static_cast<size_t>(i)] == doctest::Approx(x.data()[i]).epsilon(0.01));
  }
}

TEST_CASE("the codes take one byte per value: ⌈n/4⌉ floats") {
  for (int64_t n : {1, 4, 5, 256, 1001}) {
    QuantizedTensor q = quantize_blockwise(pattern({n}, 1), dynamic_map(true));
    CHECK(q.codes.numel() == (n + 3) / 4);
    CHECK(q.absmax.numel() == (n + 255) / 256);
    CHECK(q.codes.impl()->storage->bytes() == 4 * ((n + 3) / 4));
  }
}

TEST_CASE("quantize_blockwise gives the same codes on 1, 2 and 3 threads") {
  Generator gen(3);
  Tensor x = Tensor::empty({kElementsPerChunk * 3 + 999});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = gen.normal();
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    QuantizedTensor q = quantize_blockwise(x, dynamic_map(true));
    std::vector<float> codes = q.codes.to_vector(), absmax = q.absmax.to_vector();
    codes.insert(codes.end(), absmax.begin(), absmax.end());
    runs.push_back(codes);
  }
  set_num_threads(1);
  CHECK(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)) == 0);
  CHECK(std::memcmp(runs[0].data(), runs[2].data(), runs[0].size() * sizeof(float)) == 0);
}

TEST_CASE("bad input is refused with the op and the values") {
  check_error([] { quantize_blockwise(Tensor::ones({4}), dynamic_map(true), 0); },
              {"quantize_blockwise", "block_size", "0"});
  QuantizedTensor q = quantize_blockwise(Tensor::ones({10}), dynamic_map(true), 4);
  q.absmax = Tensor::zeros({2});
  check_error([&] { dequantize_blockwise(q); }, {"dequantize_blockwise", "10 values", "blocks of 4", "3 absmax", "got 3 and 2"});
  check_error([&] { code_at(q.codes, 12); }, {"code_at", "12"});
}
