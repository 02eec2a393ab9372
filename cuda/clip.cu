// cuda/clip.cu — gradient clipping on the device: the CUDA mirror of clip_grad_norm and
// clip_grad_value in lib/optim/schedule.cpp. Nothing comes back to the host unless asked for:
// the norm and the scale stay in device memory between the three steps.
//   1. sum_squares_chunks_kernel: one block per chunk of kNormChunk elements; thread t sums
//      g_t², g_{t+256}², ... in double, then the block's tree (grad_norm_math.hpp's order);
//   2. clip_scale_kernel: one thread adds the chunk sums in order, takes the root and the scale;
//   3. apply_clip_kernel: every gradient times the scale (skipped when the scale is 1).
#include "device_buffer.hpp"
#include "device_memory.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/grad_norm_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

// g: (n,), n ≤ chunks · kNormChunk; partials: one double per chunk (this gradient's part).
__global__ void sum_squares_chunks_kernel(const float* __restrict__ g, int64_t n, double* __restrict__ partials) {
  MOMENTS_SHARED(double[kNormLanes], lane);
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kNormChunk;
  const int64_t end = begin + kNormChunk < n ? begin + kNormChunk : n;
  const unsigned int t = threadIdx.x;
  double sum = 0.0;
  for (int64_t i = begin + t; i < end; i += kNormLanes) sum += static_cast<double>(g[i]) * g[i];  // lane t
  lane[t] = sum;
  __syncthreads();
  for (unsigned int half = kNormLanes / 2; half > 0; half /= 2) {  // lane t += lane t + half
    if (t < half) lane[t] += lane[t + half];
    __syncthreads();
  }
  if (t == 0) partials[blockIdx.x] = lane[0];
}

// partials: (count,) in order; result[0] = ‖g‖, result[1] = the scale; norm_out: ‖g‖ as a float.
__global__ void clip_scale_kernel(const double* __restrict__ partials, int64_t count, double max_norm,
                                  double* __restrict__ result, float* __restrict__ norm_out) {
  double total = 0.0;
  for (int64_t k = 0; k < count; ++k) total += partials[k];  // chunk by chunk, gradient by gradient
  double norm = 0.0;
  const float scale = clip_scale(total, max_norm, norm);
  result[0] = norm;
  result[1] = scale;
  if (norm_out) norm_out[0] = static_cast<float>(norm);
}

// g: (n,), g ← g · scale, the scale read from result[1] (written by clip_scale_kernel).
__global__ void apply_clip_kernel(float* __restrict__ g, int64_t n, const double* __restrict__ result) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const float scale = static_cast<float>(result[1]);
  if (i < n && scale != 1.0f) g[i] = g[i] * scale;
}

// g: (n,), clamped into [−c, c].
__global__ void clip_value_kernel(float* __restrict__ g, int64_t n, float c) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = g[i];
  g[i] = x < -c ? -c : (x > c ? c : x);  // std::clamp(x, −c, c): a NaN stays NaN
}

void clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm, float* norm_out,
                    double* norm_host) {
  int64_t chunks = 0;
  for (int64_t k = 0; k < count; ++k) chunks += norm_chunks(sizes[k]);
  DeviceBuffer<double> partials(chunks), result(2);
  int64_t offset = 0;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t blocks = norm_chunks(sizes[k]);
    if (blocks > 0)
      launch("sum_squares_chunks_kernel", sum_squares_chunks_kernel, static_cast<unsigned int>(blocks), kNormLanes, 0,
             grads[k], sizes[k], partials.data() + offset);
    offset += blocks;
  }
  launch("clip_scale_kernel", clip_scale_kernel, 1, 1, 0, partials.data(), chunks, max_norm, result.data(), norm_out);
  for (int64_t k = 0; k < count; ++k)
    if (sizes[k] > 0)
      launch("apply_clip_kernel", apply_clip_kernel, blocks_for(sizes[k], kThreads), kThreads, 0, grads[k], sizes[k],
             static_cast<const double*>(result.data()));
  if (norm_host) copy_device_to_host(norm_host, result.data(), sizeof(double));  // the one wait, when asked
}

void clip_grad_value(float* g, int64_t n, float c) {
  if (n > 0) launch("clip_value_kernel", clip_value_kernel, blocks_for(n, kThreads), kThreads, 0, g, n, c);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
