// optim/adam8bit_math.hpp — 8-bit Adam's per-element math, shared by the CPU loop (adam8bit.cpp) and the
// CUDA kernel (cuda/adam8bit.cu), in the order of bitsandbytes' kernels (csrc/kernels.cu):
//   kOptimizerStatic8bit2StateBlockwise<ADAM>  tensors of min_8bit_size elements and more (8-bit state)
//   kOptimizer32bit2State<ADAM>                smaller tensors (float32 state)
// One block of 256 is one step of the 8-bit kernel: (1) dequantize m, v and update them, for every element;
// (2) the block's new absmax of m and of v; (3) update θ from the float32 m, v; (4) quantize m, v with the
// new absmax (the sign fix keeps a negative m negative). adam8bit_update_block is that sequence for the CPU.
#pragma once
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"
#include "quantization_math.hpp"

namespace moments {

struct Adam8bitScalars {
  float beta1, one_minus_beta1;  // β1, 1 − β1 (the kernel's 1.0f − beta1)
  float beta2, one_minus_beta2;  // β2, 1 − β2
  float step_size;               // −α·√(1 − β2^t) / (1 − β1^t), both corrections folded into one factor
  float eps_c2;                  // ε·√(1 − β2^t): ε moved under the same factor (≡ √v̂ + ε)
  float l2;                      // Adam8bit: λ as L2 on the gradient (0 for AdamW8bit)
  bool decay_after;              // AdamW8bit with λ > 0: θ ← θ·(1 − αλ) AFTER the update
  float decay;                   // 1 − αλ
};

// The maps of the two moments, passed by value to kernels (2 KiB).
struct Adam8bitMaps {
  DynamicMap m;  // signed: the first moment
  DynamicMap v;  // unsigned: the second
};

// A gradient the 8-bit kernel takes: neither NaN nor ±∞.
MOMENTS_HD inline bool gradient_is_finite(float g) { return fabsf(g) <= 3.40282347e38f; }

// ---- the 32-bit kernel (kOptimizer32bit2State<ADAM>), one element ----------------------------------------
MOMENTS_HD inline void adam32bit_update_element(float& theta, float g, float& m, float& v, const Adam8bitScalars& s) {
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                          // Adam8bit: g ← g + λθ   (L2, ours)
  m = m * s.beta1 + s.one_minus_beta1 * g;                         // m_t ← β1 m + (1 − β1) g
  v = v * s.beta2 + s.one_minus_beta2 * (g * g);                   // v_t ← β2 v + (1 − β2) g²
  theta = theta + s.step_size * (m / (sqrtf(v) + s.eps_c2));       // θ ← θ − α m̂ / (√v̂ + ε)
  if (s.decay_after) theta = theta * s.decay;                      // AdamW8bit: θ ← θ (1 − αλ)
}

// ---- the 8-bit kernel, in its four parts -------------------------------------------------------------------
// (1) m and v from their codes, updated; a non-finite gradient restarts both at 0. Returns whether g was finite.
MOMENTS_HD inline bool adam8bit_moments(float g, float theta, uint8_t c_m, uint8_t c_v, float absmax_m, float absmax_v,
                                        const Adam8bitMaps& maps, const Adam8bitScalars& s, float& m, float& v) {
  if (!gradient_is_finite(g)) {  // NaN or ∞: this element's moments are dropped, its θ is left alone
    m = 0.0f;
    v = 0.0f;
    return false;
  }
  if (s.l2 != 0.0f) g = g + s.l2 * theta;                          // Adam8bit: g ← g + λθ   (L2, ours)
  v = dequantize_code(maps.v, c_v, absmax_v);                      // v_{t−1} from its code
  v = v * s.beta2 + s.one_minus_beta2 * g * g;                     // v_t ← β2 v + (1 − β2) g²
  m = dequantize_code(maps.m, c_m, absmax_m);                      // m_{t−1} from its code
  m = m * s.beta1 + s.one_minus_beta1 * g;                         // m_t ← β1 m + (1 − β1) g
  return true;
}

// The kernel pads a partial last block with g = 0 and codes 128 (m) and 0 (v); the padding takes part in
// the block's absmax. Every padded element has the same m (v is 0): this one.
MOMENTS_HD inline float adam8bit_padding_m(float absmax_m, const Adam8bitMaps& maps, const Adam8bitScalars& s) {
  float m = 0.0f, v = 0.0f;
  adam8bit_moments(0.0f, 0.0f, 128, 0, absmax_m, 0.0f, maps, s, m, v);
  return m;
}

// (3) θ from the float32 m_t and v_t (before they are quantized).
MOMENTS_HD inline void adam8bit_param(float& theta, float m, float v, const Adam8bitScalars& s) {
  theta = theta + s.step_size * (m / (sqrtf(v) + s.eps_c2));       // θ ← θ − α m̂ / (√v̂ + ε)
  if (s.decay_after) theta = theta * s.decay;                      // AdamW8bit: θ ← θ (1 − αλ)
}

// (4) the codes of m_t and v_t in a block whose new absmax are absmax_m, absmax_v.
// round_m, round_v: the maps' rounders (quantization_math.hpp), all giving bitsandbytes' nearest code.
template <class Rounder>
MOMENTS_HD inline void adam8bit_codes(float m, float v, float absmax_m, float absmax_v, const Adam8bitMaps& maps,
                                      const Rounder& round_m, const Rounder& round_v, uint8_t& c_m, uint8_t& c_v) {
  int k = absmax_m > 0.0f ? round_m(m / absmax_m) : maps.m.zero_code;
  // The sign fix, by sign bits: if m's code has the other sign (or is +0 for a negative m), step one code
  // toward m's side, so a small negative m does not become 0. A small positive m that rounds to +0 keeps it
  // (the sign bits agree): the fix is asymmetric, as in the kernel.
  bool code_negative = copysignf(1.0f, maps.m.code[k]) < 0.0f, m_negative = copysignf(1.0f, m) < 0.0f;
  if (code_negative != m_negative) k += m > 0.0f ? 1 : -1;
  c_m = static_cast<uint8_t>(k);  // (as the kernel's unsigned char: −1 would wrap to 255)
  c_v = absmax_v > 0.0f ? round_v(v / absmax_v) : static_cast<uint8_t>(maps.v.zero_code);
}

// One block of `count` ≤ 256 elements on the CPU: the kernel's four parts in order. m_t, v_t: scratch of 256.
template <class Rounder>
MOMENTS_HD inline void adam8bit_update_block(float* theta, const float* grad, uint8_t* c_m, uint8_t* c_v,
                                             float& absmax_m, float& absmax_v, int64_t count, const Adam8bitMaps& maps,
                                             const Rounder& round_m, const Rounder& round_v, const Adam8bitScalars& s,
                                             float* m_t, float* v_t, bool* finite) {
  float peak_m = 0.0f, peak_v = 0.0f;
  for (int64_t j = 0; j < count; ++j) {                            // (1) the moments
    finite[j] = adam8bit_moments(grad[j], theta[j], c_m[j], c_v[j], absmax_m, absmax_v, maps, s, m_t[j], v_t[j]);
    peak_m = absmax_fold(peak_m, m_t[j]);                          // (2) the new absmax
    peak_v = absmax_fold(peak_v, v_t[j]);
  }
  if (count < 256) peak_m = absmax_fold(peak_m, adam8bit_padding_m(absmax_m, maps, s));
  absmax_m = peak_m;
  absmax_v = peak_v;
  for (int64_t j = 0; j < count; ++j) {
    if (finite[j]) adam8bit_param(theta[j], m_t[j], v_t[j], s);    // (3) the parameter
    adam8bit_codes(m_t[j], v_t[j], absmax_m, absmax_v, maps, round_m, round_v, c_m[j], c_v[j]);  // (4) the codes
  }
}

// The CPU loops over flat arrays (adam8bit.cpp): n elements, codes n bytes each, absmax ⌈n/256⌉ each.
void adam8bit_update(float* theta, const float* grad, uint8_t* c_m, uint8_t* c_v, float* absmax_m, float* absmax_v,
                     int64_t n, const Adam8bitMaps& maps, const Adam8bitScalars& s);
void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n, const Adam8bitScalars& s);

}  // namespace moments
