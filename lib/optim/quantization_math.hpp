// optim/quantization_math.hpp — block-wise 8-bit quantization, per element: the nearest code of a
// normalised value and the value of a code. Shared by the CPU loops (quantization.cpp, adam8bit.cpp)
// and the CUDA kernels (cuda/quantization.cu, cuda/adam8bit.cu), so both round alike.
//
// A block of values x_1..x_B is stored as one float, its absmax a = max |x_i|, and B bytes: code c_i is
// the index of the map entry nearest x_i / a (the map is sorted, in [−1, 1]); x_i comes back as
// map[c_i] · a. The maps are bitsandbytes' "dynamic" ones (quantization.hpp builds them).
//
// Codes live in float32 tensors, four to an element: code i of a tensor is byte i of its storage
// (moments tensors are float32 only; a tensor of ⌈n/4⌉ floats holds n codes in exactly n bytes, rounded
// up to 4, which state_bytes() then counts truthfully). Read and write them only through code_bytes().
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

// A map of 256 sorted values; zero_code is the index of the value 0 (127 signed, 0 unsigned).
struct DynamicMap {
  float code[256];
  int zero_code;
};

// The codes behind a float buffer (any object's bytes may be read and written as unsigned char).
MOMENTS_HD inline uint8_t* code_bytes(float* packed) { return reinterpret_cast<uint8_t*>(packed); }
MOMENTS_HD inline const uint8_t* code_bytes(const float* packed) { return reinterpret_cast<const uint8_t*>(packed); }

// Nearest-code rounding as bitsandbytes' kernels do it (csrc/kernels.cu, dQuantize<0> and quantize_2D):
// a binary search of 7 halvings from the middle (index 127) leaves `pivot` and its neighbours on either side
// (lower_pivot below, upper_pivot above); x then goes to whichever is nearer, measured against the float
// midpoint (neighbour + map[pivot]) · 0.5f. A value exactly on that midpoint keeps `pivot`, the code the
// search ended on, which is always even (see v2 below): ties go to the even code of the two, the upper one
// or the lower one by turns along the map. NaN fails every comparison and ends on code 0.
// (dQuantize starts `lower` at −1 and quantize_2D at −1 or 0, where this starts at map[0]; the start is only
// read when the search never moved up, and then pivot = 0 and both answers are 0, so they agree.)
MOMENTS_HD inline uint8_t quantize_nearest(const DynamicMap& map, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = map.code[0], upper = map.code[255];
  float val = map.code[pivot];
  for (int i = 64; i > 0; i >>= 1) {   // steps 64, 32, ..., 1
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = map.code[pivot];
  }
  if (x > val) return static_cast<uint8_t>(x > (upper + val) * 0.5f ? upper_pivot : pivot);
  return static_cast<uint8_t>(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

// The same answer without data-dependent branches (v2, what the loops and kernels call; the test compares it
// with quantize_nearest on every code, every midpoint and their neighbouring floats, and 10M values). Two
// facts make the bookkeeping above unnecessary: the search's last pivot is always even (127 plus seven odd
// steps of ±2^k), and it is the end of x's interval (map[k], map[k+1]] that it reached; so the lower and
// upper neighbours are pivot − 1 and pivot + 1, and a tie on the midpoint of codes k, k + 1 goes to the
// even one of the two. Seven steps of pivot ± 2^k are plain arithmetic on the comparison, so the CPU runs
// them without mispredicted branches.
MOMENTS_HD inline uint8_t quantize_nearest_v2(const DynamicMap& map, float x) {
  int pivot = 127;
  for (int i = 64; i > 0; i >>= 1) pivot += (2 * static_cast<int>(x > map.code[pivot]) - 1) * i;
  const float val = map.code[pivot];
  const int above = pivot + 1 > 255 ? 255 : pivot + 1, below = pivot > 0 ? pivot - 1 : 0;
  const float upper_mid = (map.code[above] + val) * 0.5f, lower_mid = (map.code[below] + val) * 0.5f;
  const int up = x > val, to_upper = x > upper_mid, to_lower = x < lower_mid;
  return static_cast<uint8_t>(up ? (to_upper ? above : pivot) : (to_lower ? below : pivot));
}

// Rounders: what the loops call to round a normalised value to a code. The kernels search (v2); the CPU
// loops look up (NearestCodeTable, quantization.hpp: the same answer in a few instructions).
struct SearchRounder {
  const DynamicMap* map;
  MOMENTS_HD uint8_t operator()(float x) const { return quantize_nearest_v2(*map, x); }
};

MOMENTS_HD inline float dequantize_code(const DynamicMap& map, uint8_t c, float absmax) { return map.code[c] * absmax; }

// |x| folded into a running absmax; a NaN is skipped, as CUDA's fmaxf skips it.
MOMENTS_HD inline float absmax_fold(float peak, float x) {
  float a = fabsf(x);
  return a > peak ? a : peak;
}

// kQuantizeBlockwise's rounding of one value of a block: x · (1 / absmax), to the nearest code. With
// absmax = 0 (a block of zeros) that is 0 · ∞ = NaN, code 0; the value comes back as map[0] · 0 = 0.
template <class Rounder>
MOMENTS_HD inline uint8_t quantize_in_block(const Rounder& round, float x, float inverse_absmax) {
  return round(x * inverse_absmax);
}

// The CPU loops over flat arrays (quantization.cpp): n values in blocks of block_size (the last may be
// partial); absmax has ⌈n / block_size⌉ entries, codes n bytes.
void quantize_blockwise_cpu(const float* x, uint8_t* codes, float* absmax, int64_t n, int64_t block_size,
                            const DynamicMap& map);
void dequantize_blockwise_cpu(const uint8_t* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                              const DynamicMap& map);

}  // namespace moments
