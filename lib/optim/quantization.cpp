// optim/quantization.cpp — the dynamic maps and block-wise quantize / dequantize (quantization.hpp);
// the per-element rounding is in quantization_math.hpp, the CUDA mirror in cuda/quantization.cu.
#include "quantization.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "backend.hpp"
#include "parallel.hpp"

namespace moments {

namespace {

// torch.linspace(start, end, steps) in float32 as torch 1.13's CPU kernel computes it on x86-64 with AVX2
// (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp): step = (end − start)/(steps − 1); index i below
// steps/2 is start + step·i, the others end − step·(steps − 1 − i), each one fused multiply-add (the kernel
// is compiled with FMA); while 16 or more values remain, a vector of 8 is base + k·step for k = 0..7 (the
// product rounded, then the sum), base being the scalar formula at its first index.
std::vector<float> torch_linspace(float start, float end, int steps) {
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int half = steps / 2;
  auto at = [&](int i) {
    return i < half ? std::fma(step, static_cast<float>(i), start) : std::fma(-step, static_cast<float>(steps - 1 - i), end);
  };
  std::vector<float> out;
  int i = 0;
  while (i <= steps - 16) {
    for (int vector = 0; vector < 2; ++vector, i += 8) {
      float base = at(i);
      out.push_back(base);
      for (int k = 1; k < 8; ++k) {
        float offset = static_cast<float>(k) * step;
        out.push_back(base + offset);
      }
    }
  }
  for (; i < steps; ++i) out.push_back(at(i));
  return out;
}

}  // namespace

DynamicMap create_dynamic_map(bool is_signed) {
  constexpr int max_exponent_bits = 7, non_sign_bits = 7;  // total_bits = 8: no extra linear items
  std::vector<float> data;
  for (int i = 0; i < max_exponent_bits; ++i) {
    int items = is_signed ? (1 << (i + non_sign_bits - max_exponent_bits)) + 1      // 2^i + 1 boundaries
                          : (1 << (i + non_sign_bits - max_exponent_bits + 1)) + 1;  // 2^(i+1) + 1
    std::vector<float> boundaries = torch_linspace(0.1f, 1.0f, items);
    // Python's 10 ** (i − 6) is a double; torch multiplies a float32 tensor by it in float32.
    const float scale = static_cast<float>(std::pow(10.0, i - (max_exponent_bits - 1)));
    for (int k = 0; k + 1 < items; ++k) {
      float mean = (boundaries[k] + boundaries[k + 1]) / 2.0f;  // the midpoint of two boundaries
      data.push_back(scale * mean);
      if (is_signed) data.push_back(-scale * mean);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  if (data.size() != 256) fail("create_dynamic_map: built ", data.size(), " values, expected 256");
  std::sort(data.begin(), data.end());
  DynamicMap map{};
  std::copy(data.begin(), data.end(), map.code);
  map.zero_code = static_cast<int>(std::find(data.begin(), data.end(), 0.0f) - data.begin());
  return map;
}

const DynamicMap& dynamic_map(bool is_signed) {
  static const DynamicMap signed_map = create_dynamic_map(true);
  static const DynamicMap unsigned_map = create_dynamic_map(false);
  return is_signed ? signed_map : unsigned_map;
}

NearestCodeTable::NearestCodeTable(const DynamicMap& map) {
  for (int k = 0; k < 257; ++k) {
    mid_[k] = k < 255 ? (map.code[k] + map.code[k + 1]) * 0.5f : std::numeric_limits<float>::quiet_NaN();
    odd_[k] = k % 2 == 1;
  }
  auto count_below = [&](float x) { return static_cast<int>(std::lower_bound(mid_, mid_ + 255, x) - mid_); };
  auto count_at_most = [&](float x) { return static_cast<int>(std::upper_bound(mid_, mid_ + 255, x) - mid_); };
  for (uint32_t b = 0; b < 65536; ++b) {
    uint32_t first = b << 16, last = first | 0xFFFFu;
    float a, z;
    std::memcpy(&a, &first, sizeof a);
    std::memcpy(&z, &last, sizeof z);
    if (a != a || z != z) {  // NaNs share buckets with ±∞: take the ∞ end (the NaNs are answered apart)
      a = (b >> 15) ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
      z = a;
    }
    float lo = std::min(a, z), hi = std::max(a, z);
    int below = count_below(lo);
    if (count_at_most(hi) - below > 2)
      fail("NearestCodeTable: bucket ", b, " [", lo, ", ", hi, "] holds ", count_at_most(hi) - below,
           " midpoints, the look-up compares two");
    below_[b] = static_cast<uint8_t>(below);
  }
}

const NearestCodeTable& nearest_code_table(bool is_signed) {
  static const auto signed_table = std::make_unique<NearestCodeTable>(dynamic_map(true));
  static const auto unsigned_table = std::make_unique<NearestCodeTable>(dynamic_map(false));
  return is_signed ? *signed_table : *unsigned_table;
}

namespace {

template <class Rounder>
void quantize_blockwise_loop(const float* x, uint8_t* codes, float* absmax, int64_t n, int64_t block_size,
                             const Rounder& round) {
  for (int64_t begin = 0, b = 0; begin < n; begin += block_size, ++b) {
    int64_t end = std::min(n, begin + block_size);
    float peak = 0.0f;                                              // 1. the block's absmax
    for (int64_t i = begin; i < end; ++i) peak = absmax_fold(peak, x[i]);
    absmax[b] = peak;
    const float inverse = 1.0f / peak;                              // 2. normalise by it and round
    for (int64_t i = begin; i < end; ++i) codes[i] = quantize_in_block(round, x[i], inverse);
  }
}

}  // namespace

void quantize_blockwise_cpu(const float* x, uint8_t* codes, float* absmax, int64_t n, int64_t block_size,
                            const DynamicMap& map) {
  // The look-up rounder for the two dynamic maps, the search for any other map.
  const bool dynamic = std::memcmp(map.code, dynamic_map(map.zero_code != 0).code, sizeof map.code) == 0;
  if (dynamic) quantize_blockwise_loop(x, codes, absmax, n, block_size, nearest_code_table(map.zero_code != 0));
  else quantize_blockwise_loop(x, codes, absmax, n, block_size, SearchRounder{&map});
}

void dequantize_blockwise_cpu(const uint8_t* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                              const DynamicMap& map) {
  for (int64_t i = 0; i < n; ++i) out[i] = dequantize_code(map, codes[i], absmax[i / block_size]);
}

namespace {

void check_block_size(const char* who, int64_t block_size) {
  if (block_size < 1) fail(who, ": block_size must be at least 1, got ", block_size);
}

// Whole blocks per chunk, so that the split never cuts a block (and results do not depend on the threads).
int64_t blocks_per_chunk(int64_t block_size) { return std::max<int64_t>(1, kElementsPerChunk / block_size); }

}  // namespace

QuantizedTensor quantize_blockwise(const Tensor& x, const DynamicMap& map, int64_t block_size) {
  check_block_size("quantize_blockwise", block_size);
  if (!x.defined()) fail("quantize_blockwise: the tensor is undefined");
  const int64_t n = x.numel();
  QuantizedTensor q;
  q.shape = x.shape();
  q.block_size = block_size;
  q.is_signed = map.zero_code != 0;
  q.codes = Tensor::zeros({packed_code_floats(n)}, x.device());
  q.absmax = Tensor::zeros({block_count(n, block_size)}, x.device());
  if (x.device() == Device::cuda) {
    x.cuda_backend().quantize_blockwise(x.data(), q.codes.data(), q.absmax.data(), n, block_size, map);
    return q;
  }
  const float* in = x.data();
  uint8_t* codes = code_bytes(q.codes.data());
  float* absmax = q.absmax.data();
  const int64_t chunk = blocks_per_chunk(block_size);
  parallel_for(block_count(n, block_size), chunk, [&](int64_t first, int64_t last) {
    int64_t begin = first * block_size, end = std::min(n, last * block_size);
    quantize_blockwise_cpu(in + begin, codes + begin, absmax + first, end - begin, block_size, map);
  });
  return q;
}

Tensor dequantize_blockwise(const QuantizedTensor& q) {
  check_block_size("dequantize_blockwise", q.block_size);
  const int64_t n = shape_numel(q.shape);
  if (q.codes.numel() != packed_code_floats(n) || q.absmax.numel() != block_count(n, q.block_size))
    fail("dequantize_blockwise: ", n, " values in blocks of ", q.block_size, " need ", packed_code_floats(n),
         " code floats and ", block_count(n, q.block_size), " absmax values, got ", q.codes.numel(), " and ",
         q.absmax.numel());
  if (q.codes.device() != q.absmax.device()) fail("dequantize_blockwise: the codes and the absmax are on different devices");
  const DynamicMap& map = dynamic_map(q.is_signed);
  Tensor out = Tensor::empty(q.shape, q.codes.device(), "dequantize_blockwise");
  if (out.device() == Device::cuda) {
    out.cuda_backend().dequantize_blockwise(q.codes.data(), q.absmax.data(), out.data(), n, q.block_size, map);
    return out;
  }
  dequantize_blockwise_cpu(code_bytes(q.codes.data()), q.absmax.data(), out.data(), n, q.block_size, map);
  return out;
}

uint8_t code_at(const Tensor& packed, int64_t i) {
  if (packed.device() != Device::cpu) fail("code_at: the codes are on cuda; copy them to the cpu first");
  if (i < 0 || i >= 4 * packed.numel()) fail("code_at: code ", i, " of a tensor holding ", 4 * packed.numel());
  return code_bytes(packed.data())[i];
}

}  // namespace moments
