// cuda/adam_mini.cu — Adam-mini's step as kernels: the CUDA mirror of AdamMini::update in
// lib/optim/adam_mini.cpp, running the same functions of lib/optim/adam_mini_math.hpp.
//
// Kernels rather than Tensor ops (a reshape to (blocks, block_size), a row mean, a broadcast
// multiply): those would allocate temporaries, pass over the gradient several times and sum g² in
// float32 in their own order, so v_b would differ from the CPU's in its last bits. Here:
//   block_scale_kernel     eight threads per block, one per lane of adam_mini_sum_squares (8 double
//                          lanes: the CPU's order, so vmean matches bit for bit), then v_b and the
//                          block's scale. The lanes' order bounds the parallelism: a block is summed in
//                          block_size / 8 dependent adds (a tensor-rule block, one per tensor, too); a
//                          tree over more threads would add in another order and change v_b's bits.
//   block_element_kernel   per element (a grid-stride loop): decay, m, θ with its block's scale.
//   adam_kernel            the Adam rule (biases), a Rule of tensor_list.hpp (a list launch in a step).
#include "device_buffer.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adam_mini_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// grad: (blocks · block_size,); vmean, scale: (blocks,). Eight threads per block, thread k summing lane k
// of adam_mini_sum_squares (the elements i ≡ k mod 8, in order, in double) and reading with its seven
// neighbours 32 contiguous bytes at a time; lane 0 then adds the eight lanes in order, as the CPU does,
// so Σ g², v_b and the scale are the CPU's bits. 256 threads hold 32 blocks' lanes (2 KiB of shared).
__global__ void adam_mini_block_scale_kernel(const float* __restrict__ grad, float* __restrict__ vmean,
                                             float* __restrict__ scale, int64_t blocks, int64_t block_size,
                                             const AdamMiniScalars s) {
  MOMENTS_SHARED(double[kThreads], lanes);
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t b = t / kSumLanes;
  const int k = static_cast<int>(t % kSumLanes);
  double lane = 0.0;
  if (b < blocks) {
    const float* g = grad + b * block_size;
    for (int64_t i = k; i < block_size; i += kSumLanes) lane += static_cast<double>(g[i]) * g[i];
  }
  lanes[threadIdx.x] = lane;
  __syncthreads();  // every thread arrives: the bound checks are around the work, not the barrier
  if (b >= blocks || k != 0) return;
  double sum_g2 = 0.0;  // Σ_{i ∈ b} g_i², the lanes in order
  for (int j = 0; j < kSumLanes; ++j) sum_g2 += lanes[threadIdx.x + j];
  float v_b = vmean[b];
  scale[b] = adam_mini_block_scale(v_b, sum_g2, block_size, s);  // v_b ← β2 v_b + (1 − β2) mean(g²)
  vmean[b] = v_b;
}

// theta, grad, m: (n,); scale: (n / block_size,).
__global__ void adam_mini_block_element_kernel(float* __restrict__ theta, const float* __restrict__ grad,
                                               float* __restrict__ m, const float* __restrict__ scale, int64_t n,
                                               int64_t block_size, const AdamMiniScalars s) {
  for (int64_t i : grid_stride(n)) {
    float x = theta[i];
    float m_i = m[i];
    adam_mini_block_element(x, grad[i], m_i, scale[i / block_size], s);
    theta[i] = x;
    m[i] = m_i;
  }
}

// b: θ, g, m, v.
using AdamMiniAdamRule = TwoStateRule<AdamMiniScalars, adam_mini_adam_element>;

void adam_mini_block_update(float* theta, const float* grad, float* m, float* vmean, int64_t blocks, int64_t block_size,
                            const AdamMiniScalars& s) {
  const int64_t n = blocks * block_size;
  if (n == 0) return;
  DeviceBuffer<float> scale(blocks);  // (1/(1 − β1^t)) / (√v̂_b + ε) per block
  static_assert(kThreads % kSumLanes == 0, "a block's eight lanes share one CUDA block");
  launch("adam_mini_block_scale_kernel", adam_mini_block_scale_kernel, blocks_for(blocks * kSumLanes, kThreads), kThreads,
         0, grad, vmean, scale.data(), blocks, block_size, s);
  launch("adam_mini_block_element_kernel", adam_mini_block_element_kernel, element_blocks(n, kThreads), kThreads, 0, theta,
         grad, m, static_cast<const float*>(scale.data()), n, block_size, s);
}

void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<AdamMiniAdamRule>("adam_mini_adam_kernel", b, n, s);  // one launch, or a place in the step's list
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
