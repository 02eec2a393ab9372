// cuda/adam_mini.cu — Adam-mini's step as kernels: the CUDA mirror of AdamMini::update in
// lib/optim/adam_mini.cpp, running the same functions of lib/optim/adam_mini_math.hpp.
//
// Kernels rather than Tensor ops (a reshape to (blocks, block_size), a row mean, a broadcast
// multiply): those would allocate temporaries, pass over the gradient several times and sum g² in
// float32 in their own order, so v_b would differ from the CPU's in its last bits. Here:
//   block_scale_kernel     one thread per block: Σ g² with adam_mini_sum_squares (8 double lanes, the
//                          CPU's order, so vmean matches bit for bit), then v_b and the block's scale.
//                          Simple, not the fastest: a tensor-rule block (one per tensor) is summed by a
//                          single thread; a block-per-CUDA-block tree sum would be a labelled _v2.
//   block_element_kernel   one thread per element: decay, m, θ with its block's scale.
//   adam_kernel            the Adam rule (biases), a Rule of tensor_list.hpp (a list launch in a step).
#include "device_buffer.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adam_mini_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// grad: (blocks · block_size,); vmean, scale: (blocks,).
__global__ void adam_mini_block_scale_kernel(const float* __restrict__ grad, float* __restrict__ vmean,
                                             float* __restrict__ scale, int64_t blocks, int64_t block_size,
                                             const AdamMiniScalars s) {
  int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= blocks) return;
  double sum_g2 = adam_mini_sum_squares(grad + b * block_size, block_size);  // Σ_{i ∈ b} g_i²
  float v_b = vmean[b];
  scale[b] = adam_mini_block_scale(v_b, sum_g2, block_size, s);  // v_b ← β2 v_b + (1 − β2) mean(g²)
  vmean[b] = v_b;
}

// theta, grad, m: (n,); scale: (n / block_size,).
__global__ void adam_mini_block_element_kernel(float* __restrict__ theta, const float* __restrict__ grad,
                                               float* __restrict__ m, const float* __restrict__ scale, int64_t n,
                                               int64_t block_size, const AdamMiniScalars s) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = theta[i];
  float m_i = m[i];
  adam_mini_block_element(x, grad[i], m_i, scale[i / block_size], s);
  theta[i] = x;
  m[i] = m_i;
}

// b: θ, g, m, v.
using AdamMiniAdamRule = TwoStateRule<AdamMiniScalars, adam_mini_adam_element>;

void adam_mini_block_update(float* theta, const float* grad, float* m, float* vmean, int64_t blocks, int64_t block_size,
                            const AdamMiniScalars& s) {
  const int64_t n = blocks * block_size;
  if (n == 0) return;
  DeviceBuffer<float> scale(blocks);  // (1/(1 − β1^t)) / (√v̂_b + ε) per block
  launch("adam_mini_block_scale_kernel", adam_mini_block_scale_kernel, blocks_for(blocks, kThreads), kThreads, 0, grad,
         vmean, scale.data(), blocks, block_size, s);
  launch("adam_mini_block_element_kernel", adam_mini_block_element_kernel, blocks_for(n, kThreads), kThreads, 0, theta,
         grad, m, static_cast<const float*>(scale.data()), n, block_size, s);
}

void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<AdamMiniAdamRule>("adam_mini_adam_kernel", b, n, s);  // one launch, or a place in the step's list
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
