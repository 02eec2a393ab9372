// optim/update_sums.cpp — the vectorized passes behind UpdateSums (see update_sums.hpp).
#include "update_sums.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../host_device.hpp"

namespace moments {

namespace {
typedef float Lanes __attribute__((vector_size(8 * sizeof(float))));
constexpr int64_t kLanes = 8;
}  // namespace

UpdateSums add_chunk_sums(UpdateSums a, const UpdateSums& b) {
  a.theta2 += b.theta2, a.grad2 += b.grad2, a.delta2 += b.delta2, a.delta_grad += b.delta_grad;
  for (int k = 0; k < a.buffers; ++k) a.abs_sum[k] += b.abs_sum[k], a.abs_max[k] = std::max(a.abs_max[k], b.abs_max[k]);
  return a;
}

MOMENTS_CPU_CLONES void add_update_sums(const float* theta, const float* before, const float* grad, int64_t n,
                                        UpdateSums& out) {
  const Lanes zero = {};
  for (int64_t block = 0; block < n; block += kUpdateBlock) {  // float partial sums per block, as the hook's
    const int64_t block_end = std::min(n, block + kUpdateBlock);
    Lanes t2 = {}, g2 = {}, d2 = {}, dg = {};
    int64_t i = block;
    for (; i + kLanes <= block_end; i += kLanes) {
      Lanes t, b = zero, g = zero;
      std::memcpy(&t, theta + i, sizeof t);  // an unaligned load of 8 floats
      if (before) std::memcpy(&b, before + i, sizeof b);
      if (grad) std::memcpy(&g, grad + i, sizeof g);
      Lanes d = before ? t - b : zero;  // Δθ
      t2 += t * t;
      g2 += g * g;
      d2 += d * d;
      dg += d * g;
    }
    for (; i < block_end; ++i) {  // the last n mod 8 elements go to lane 0
      float t = theta[i], g = grad ? grad[i] : 0.0f, d = before ? t - before[i] : 0.0f;
      t2[0] += t * t;
      g2[0] += g * g;
      d2[0] += d * d;
      dg[0] += d * g;
    }
    for (int lane = 0; lane < kLanes; ++lane)
      out.theta2 += t2[lane], out.grad2 += g2[lane], out.delta2 += d2[lane], out.delta_grad += dg[lane];
  }
}

// Four Lanes per quantity (32 partial sums) so consecutive additions do not wait for each other: this
// pass is then limited by the cache, not by the adder's latency (1.6x faster).
// Float partial sums per block of kUpdateBlock, as add_update_sums.
MOMENTS_CPU_CLONES std::pair<double, double> abs_sum_and_max(const float* x, int64_t n) {
  constexpr int kUnroll = 4;
  double total = 0, largest = 0;
  for (int64_t block = 0; block < n; block += kUpdateBlock) {
    const int64_t block_end = std::min(n, block + kUpdateBlock);
    Lanes sum[kUnroll] = {}, peak[kUnroll] = {};
    int64_t i = block;
    for (; i + kUnroll * kLanes <= block_end; i += kUnroll * kLanes)
      for (int u = 0; u < kUnroll; ++u) {
        Lanes a;
        std::memcpy(&a, x + i + u * kLanes, sizeof a);
        clear_sign_bits(a);  // |x|
        sum[u] += a;
        peak[u] = peak[u] > a ? peak[u] : a;
      }
    for (int u = 0; u < kUnroll; ++u)
      for (int lane = 0; lane < kLanes; ++lane) total += sum[u][lane], largest = std::max<double>(largest, peak[u][lane]);
    for (; i < block_end; ++i) total += std::fabs(x[i]), largest = std::max<double>(largest, std::fabs(x[i]));
  }
  return {total, largest};
}

}  // namespace moments
