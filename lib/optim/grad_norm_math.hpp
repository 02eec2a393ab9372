// optim/grad_norm_math.hpp — the order in which clip_grad_norm sums ‖g‖², shared by the CPU
// (schedule.cpp) and the CUDA kernels (cuda/clip.cu), so both give the same bits.
//
// Each gradient is cut into chunks of kNormChunk elements (the last one shorter). A chunk has
// kNormLanes lanes: lane t sums g_t², g_{t+256}², g_{t+512}², ... in double, one after another;
// the lanes then combine as a tree (lane t += lane t + 128, then + 64, ..., + 1), which is how one
// GPU block of 256 threads reduces through shared memory. The chunk sums of all gradients are
// added in order, gradient by gradient, chunk by chunk. Every g² is exact in double; only the
// additions round, and they round the same way on every device and thread count.
//
// The clip itself (both devices): scale = float(min(1, max_norm / (‖g‖ + 1e-6))), and every
// gradient is multiplied by it (a no-op when scale is 1), as torch.nn.utils.clip_grad_norm_.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../host_device.hpp"

namespace moments {

constexpr int64_t kNormChunk = 65536;  // elements per chunk: one GPU block each
constexpr int kNormLanes = 256;        // lanes per chunk: the block's threads

inline int64_t norm_chunks(int64_t n) { return (n + kNormChunk - 1) / kNormChunk; }

// The clip coefficient from the summed squares, as a float; `norm` receives ‖g‖.
MOMENTS_HD inline float clip_scale(double sum_of_squares, double max_norm, double& norm) {
  norm = sqrt(sum_of_squares);
  double coefficient = max_norm / (norm + 1e-6);
  if (!(coefficient < 1.0)) coefficient = 1.0;  // min(1, ·), with a NaN norm giving 1 as std::min(1.0, NaN) does
  return static_cast<float>(coefficient);
}

// One chunk's Σ g² in the order above (the CPU's version of the kernel's block).
inline double chunk_sum_of_squares(const float* g, int64_t n) {
  double lane[kNormLanes] = {};
  for (int64_t base = 0; base < n; base += kNormLanes) {
    const int64_t count = std::min<int64_t>(kNormLanes, n - base);
    for (int64_t t = 0; t < count; ++t) lane[t] += static_cast<double>(g[base + t]) * g[base + t];
  }
  for (int half = kNormLanes / 2; half > 0; half /= 2)
    for (int t = 0; t < half; ++t) lane[t] += lane[t + half];
  return lane[0];
}

}  // namespace moments
