// optim/quantization.hpp — block-wise 8-bit quantization with bitsandbytes' dynamic maps: what 8-bit
// optimizers store their moments in (adam8bit.hpp).
//
// T. Dettmers, M. Lewis, S. Shleifer, L. Zettlemoyer, "8-bit Optimizers via Block-wise Quantization",
// ICLR 2022, §2.1–2.2 (block-wise quantization, dynamic quantization); canonical code:
// bitsandbytes-foundation/bitsandbytes, bitsandbytes/functional.py (create_dynamic_map,
// quantize_blockwise, dequantize_blockwise) and csrc/kernels.cu (kQuantizeBlockwise, dQuantize,
// kDequantizeBlockwise).
//
// USAGE
//   QuantizedTensor q = quantize_blockwise(x, dynamic_map(/*is_signed=*/true));   // blocks of 256
//   Tensor back = dequantize_blockwise(q);           // x's shape; |back − x| ≤ half a map gap · absmax
//   q.codes   // ⌈n/4⌉ floats holding n one-byte codes (quantization_math.hpp says how)
//   q.absmax  // ⌈n/256⌉ floats: max |x| of each block
//
// THE DYNAMIC MAP (create_dynamic_map): 256 sorted values in [−1, 1], dense near 0 and coarse near ±1, so a
// block's small entries keep their relative precision. For exponent i = 0..6 it takes the midpoints of
// linspace(0.1, 1, k + 1) and scales them by 10^(i − 6): k = 2^i values per sign (signed map: 1 + 2 + ... +
// 64 = 127 positive, 127 negative) or k = 2^(i+1) (unsigned map: 254 non-negative), then adds 0 and 1.
// The signed map is for Adam's m, the unsigned one for v ≥ 0, which then gets twice the resolution.
//   signed:   map[0] = −0.99297, map[127] = 0, map[128] = 5.5e-7, map[254] = 0.99297, map[255] = 1
//   unsigned: map[0] = 0, map[1] = 3.25e-7, ..., map[254] = 0.99648, map[255] = 1
//
// BLOCK-WISE: one absmax per block of 256 (bitsandbytes' optimizers; its quantize_blockwise defaults to
// 4096), so one outlier costs precision in its own block only.
//
// CONVENTIONS AND DEVIATIONS
//   - The maps are built as the canonical Python builds them, including torch.linspace's float32 rounding
//     as Debian's torch 1.13 computes it on x86-64 (AVX2 kernel: one fused multiply-add per scalar value,
//     8 lanes of base + k·step while 16 or more values remain): another torch build can differ from these in
//     the last bit of some values. tests/reference/make_quantization_golden.py checks that restatement against
//     torch.linspace and prints the 256 values the tests compare with.
//   - Rounding is bitsandbytes' deterministic nearest-code search (quantization_math.hpp: quantize_nearest),
//     ties to the code the search ended on, which is always the even one; the loops and kernels run
//     quantize_nearest_v2, the same answer without branches (tested). Stochastic rounding is not provided.
//   - Values are normalised as x · (1/absmax), as kQuantizeBlockwise does; a NaN is skipped by the absmax
//     (fmaxf) and stored as code 0; an ∞ makes its block's absmax ∞, so every finite value of that block
//     comes back as 0 and the ∞ as map[0] · ∞ (as the canonical kernel). A block of zeros has absmax 0 and
//     codes 0, and comes back as zeros.
//   - block_size is any positive integer (bitsandbytes allows powers of two from 32 or 64 to 4096).
#pragma once
#include <cstdint>
#include <cstring>

#include "../tensor.hpp"
#include "quantization_math.hpp"

namespace moments {

inline constexpr int64_t kQuantizationBlock = 256;  // bitsandbytes' 8-bit optimizer block

// create_dynamic_map(signed, max_exponent_bits = 7, total_bits = 8), restated (see above).
DynamicMap create_dynamic_map(bool is_signed);
// The two maps, built once.
const DynamicMap& dynamic_map(bool is_signed);

// The CPU's rounder (v3): bitsandbytes' nearest code by table look-up, the same answer as quantize_nearest
// (tested on every code, midpoint and their neighbours, and 10M values). The count of midpoints below x is
// the answer (ties: on the midpoint of codes k, k + 1 the even one wins); the top 16 bits of x (sign,
// exponent, 7 bits of mantissa) pick a bucket, whose entry counts the midpoints below it, and at most two
// midpoints lie inside a bucket (the maps' relative spacing is at least 0.7%, a bucket's 2^−7 = 0.78%), so
// two comparisons finish it. The kernels search instead (quantize_nearest_v2): this is 64 KiB per map.
class NearestCodeTable {
 public:
  explicit NearestCodeTable(const DynamicMap& map);
  uint8_t operator()(float x) const {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int j = below_[bits >> 16];
    const int code = j + (x > mid_[j] || (x == mid_[j] && odd_[j])) + (x > mid_[j + 1] || (x == mid_[j + 1] && odd_[j + 1]));
    return static_cast<uint8_t>(x == x ? code : 0);  // NaN: code 0, as the search ends
  }

 private:
  uint8_t below_[65536];  // per bucket: how many midpoints are below all of its values
  float mid_[257];        // the 255 float midpoints (map[k] + map[k+1]) · 0.5f, then two NaN (never below)
  bool odd_[257];         // whether k is odd: a tie on mid_[k] goes up to the even k + 1
};
const NearestCodeTable& nearest_code_table(bool is_signed);

// Floats needed to hold n one-byte codes, four to a float.
inline int64_t packed_code_floats(int64_t n) { return (n + 3) / 4; }
inline int64_t block_count(int64_t n, int64_t block_size) { return (n + block_size - 1) / block_size; }

struct QuantizedTensor {
  Shape shape;                // of the original tensor
  Tensor codes;               // (⌈n/4⌉,): n codes, byte i of the storage is code i
  Tensor absmax;              // (⌈n/block_size⌉,)
  int64_t block_size = kQuantizationBlock;
  bool is_signed = true;      // which dynamic map
};

// On x's device (cpu, or cuda through cuda/quantization.cu). block_size ≥ 1.
QuantizedTensor quantize_blockwise(const Tensor& x, const DynamicMap& map, int64_t block_size = kQuantizationBlock);
Tensor dequantize_blockwise(const QuantizedTensor& q);

// Code i of a packed tensor (cpu only; for tests and tutorials).
uint8_t code_at(const Tensor& packed, int64_t i);

}  // namespace moments
