// optim/update_sums.hpp — the sums a monitor needs about one step's update, and the fast passes that
// compute them: used inside the optimizer loops by the monitor's hook (optimizer.hpp, THE MONITOR'S
// HOOK) and, where there is no hook, by the monitor itself over a snapshot of θ (monitor/monitor.cpp).
//
// USAGE
//   UpdateSums s;
//   add_update_sums(theta_after, theta_before, grad, n, s);   // s.delta2 = Σ(θ_t − θ_{t−1})², ...
//   auto [abs_sum, abs_max] = abs_sum_and_max(m, n);           // Σ|m|, max |m|
//
// The passes must cost a few percent of a training step, so they use the vector unit: `Lanes` is
// eight floats handled as one value (GCC's vector extension), `a += b * c` on Lanes is eight independent
// float operations, one AVX2 instruction. Each quantity is summed in eight float partial sums (lane k
// gets elements k, k+8, k+16, ...), combined in double at the end: the order is fixed by the code,
// never by the processor, and float partial sums are precise enough for monitoring (relative error
// ~1e-6 per thousand elements per lane). Plain loops over float sums do not vectorize without
// -ffast-math, which we do not use.
#pragma once
#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace moments {

// What one parameter tensor's loop sums for a watching monitor during one step (optimizer.hpp, THE
// MONITOR'S HOOK): over its elements, θ after the step, g as the loop read it (param.grad(), before any
// sign flip or decay term the update adds), and every state buffer of θ's size (exp_avg, exp_avg_sq, ...)
// after the step. Float partial sums per block of kUpdateBlock elements, added in double in a fixed
// order, so the figures do not depend on the thread count.
struct UpdateSums {
  static constexpr int kMaxBuffers = 4;
  double theta2 = 0;      // Σ θ_t²
  double grad2 = 0;       // Σ g_t²
  double delta2 = 0;      // Σ (θ_t − θ_{t−1})²
  double delta_grad = 0;  // Σ (θ_t − θ_{t−1}) g_t
  int buffers = 0;        // state arrays summed below (at most kMaxBuffers)
  const float* buffer_data[kMaxBuffers] = {};                   // which: their data(), to find them by name
  double abs_sum[kMaxBuffers] = {}, abs_max[kMaxBuffers] = {};  // Σ|x| and max |x| of each
  bool filled = false;    // this step's loop filled it (false: not stepped, or stepped without the hook)
};
// The float partial sums of a watched loop go into the double totals every kUpdateBlock elements.
inline constexpr int64_t kUpdateBlock = 1024;

typedef float UpdateLanes __attribute__((vector_size(8 * sizeof(float))));  // eight floats as one value
typedef int32_t UpdateLaneBits __attribute__((vector_size(8 * sizeof(int32_t))));  // their bit patterns

// |x| of eight floats: the sign bits cleared, one AND (a compare and a blend for x < 0 ? −x : x cost two
// more instructions in a loop that is bound by how many it issues). −0 becomes +0, a NaN stays a NaN.
// In place, by reference: a function that returns a 32-byte vector by value changes the ABI between
// builds with and without AVX (GCC's -Wpsabi), and this header is installed for projects built either way.
inline void clear_sign_bits(UpdateLanes& x) {
  x = reinterpret_cast<UpdateLanes>(reinterpret_cast<UpdateLaneBits>(x) & 0x7fffffff);
}

// watched_loop's update of eight elements, one by one, on copies in registers (Lanes, not memory: so the
// compiler sees no aliasing and vectorizes the eight calls as one). s[k] holds state array k.
template <class Element, size_t... k>
inline void update8(const Element& element, UpdateLanes& th, const UpdateLanes& g, UpdateLanes* s,
                    std::index_sequence<k...>) {
  for (int l = 0; l < 8; ++l) {
    float theta_l = th[l], state_l[sizeof...(k) > 0 ? sizeof...(k) : 1] = {s[k][l]...};
    element(theta_l, g[l], state_l[k]...);
    th[l] = theta_l;
    ((s[k][l] = state_l[k]), ...);
  }
}

// THE MONITOR'S HOOK, its loop (optimizer.hpp): runs element(θ_i, g_i, s1_i, s2_i, ...), an optimizer's
// per-element update as it is, over elements [begin, end) of θ, g and the state arrays `state...` (base
// pointers), eight elements at a time copied into locals; the sums of UpdateSums are taken from those
// locals after the eight calls. The compiler vectorizes the eight calls as it vectorizes the plain loop,
// and the sums ride along almost free: an optimizer step waits on its divisions and square roots, not on
// additions. Every element goes through the same operations as in the plain loop, so θ and the state come
// out bit for bit the same. The sums of [begin, end) are added to `sums`.
template <class Element, class... State>
inline void watched_loop(float* theta, const float* grad, int64_t begin, int64_t end, UpdateSums& sums,
                         const Element& element, State*... state) {
  constexpr int K = static_cast<int>(sizeof...(State));
  static_assert(K <= UpdateSums::kMaxBuffers, "UpdateSums holds at most kMaxBuffers state arrays");
  using Lanes = UpdateLanes;
  float* arrays[K > 0 ? K : 1] = {state...};
  double abs_max[K > 0 ? K : 1] = {};
  for (int64_t block = begin; block < end; block += kUpdateBlock) {
    const int64_t block_end = std::min(end, block + kUpdateBlock);
    Lanes t2 = {}, g2 = {}, d2 = {}, dg = {}, x_sum[K > 0 ? K : 1] = {}, x_max[K > 0 ? K : 1] = {};
    int64_t i = block;
    for (; i + 8 <= block_end; i += 8) {
      Lanes th, g, s[K > 0 ? K : 1];  // θ, g and the state of eight elements
      std::memcpy(&th, theta + i, sizeof th);
      std::memcpy(&g, grad + i, sizeof g);
      if constexpr (K > 0)  // (the test keeps -O0 builds from seeing copies from a null array)
        for (int k = 0; k < K; ++k) std::memcpy(&s[k], arrays[k] + i, sizeof s[k]);
      const Lanes before = th;
      update8(element, th, g, s, std::make_index_sequence<K>{});
      std::memcpy(theta + i, &th, sizeof th);
      if constexpr (K > 0)
        for (int k = 0; k < K; ++k) std::memcpy(arrays[k] + i, &s[k], sizeof s[k]);
      const Lanes delta = th - before;  // Δθ
      t2 += th * th, g2 += g * g, d2 += delta * delta, dg += delta * g;
      for (int k = 0; k < K; ++k) {
        Lanes x = s[k];
        clear_sign_bits(x);  // |x|
        x_sum[k] += x;
        x_max[k] = x_max[k] > x ? x_max[k] : x;
      }
    }
    for (; i < block_end; ++i) {  // the last n mod 8 elements: the same call on memory, sums in lane 0
      const float before = theta[i];
      element(theta[i], grad[i], state[i]...);
      const float delta = theta[i] - before;
      t2[0] += theta[i] * theta[i], g2[0] += grad[i] * grad[i], d2[0] += delta * delta, dg[0] += delta * grad[i];
      const float x[K > 0 ? K : 1] = {std::fabs(state[i])...};
      for (int k = 0; k < K; ++k) x_sum[k][0] += x[k], x_max[k][0] = std::max(x_max[k][0], x[k]);
    }
    for (int lane = 0; lane < 8; ++lane) {
      sums.theta2 += t2[lane], sums.grad2 += g2[lane], sums.delta2 += d2[lane], sums.delta_grad += dg[lane];
      for (int k = 0; k < K; ++k) sums.abs_sum[k] += x_sum[k][lane], abs_max[k] = std::max<double>(abs_max[k], x_max[k][lane]);
    }
  }
  sums.buffers = K;
  for (int k = 0; k < K; ++k) sums.buffer_data[k] = arrays[k], sums.abs_max[k] = std::max(sums.abs_max[k], abs_max[k]);
}

// The sums of two chunks, in parallel_update's chunk order (so the figures do not depend on the threads).
UpdateSums add_chunk_sums(UpdateSums a, const UpdateSums& b);

// Adds Σθ², Σg², Σ(θ − before)², Σ(θ − before)·g over n elements to `out`, in one pass. A null
// `before` or `grad` counts as zeros.
void add_update_sums(const float* theta, const float* before, const float* grad, int64_t n, UpdateSums& out);
// Σ|x| and max |x| over n elements, in one pass.
std::pair<double, double> abs_sum_and_max(const float* x, int64_t n);

}  // namespace moments
