// cuda/adam8bit.cu — 8-bit Adam's step as kernels: the CUDA mirror of adam8bit_update and adam32bit_update in
// lib/optim/adam8bit.cpp, running the same functions of lib/optim/adam8bit_math.hpp.
//   adam8bit_kernel: one CUDA block of 256 threads per quantization block, one thread per element, in the
//     four parts of the bitsandbytes kernel: (1) moments, (2) the block's new absmax (a max through
//     __shared__ memory: block_reduce.hpp; a max does not depend on its order, so it equals the CPU loop's),
//     (3) θ, (4) codes. Threads past n stand for the kernel's padding (g = 0, m code 128, v code 0).
//   adam32bit_kernel: per element, for tensors under min_8bit_size; a Rule of tensor_list.hpp.
#include "block_reduce.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adam8bit_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr unsigned int kBlock = 256;  // = kQuantizationBlock: one thread per element of a quantization block

// theta, grad: (n,); codes_m, codes_v: n bytes inside (⌈n/4⌉,) floats; absmax_m, absmax_v: (⌈n/256⌉,).
__global__ void adam8bit_kernel(float* __restrict__ theta, const float* __restrict__ grad,
                                float* __restrict__ codes_m, float* __restrict__ codes_v,
                                float* __restrict__ absmax_m, float* __restrict__ absmax_v, int64_t n,
                                const Adam8bitMaps maps, const Adam8bitScalars s) {
  MOMENTS_SHARED(float[kBlock], partial);
  const int64_t b = blockIdx.x;
  const int64_t i = b * kBlock + threadIdx.x;
  const bool valid = i < n;
  uint8_t* c_m = code_bytes(codes_m);
  uint8_t* c_v = code_bytes(codes_v);
  const float old_absmax_m = absmax_m[b], old_absmax_v = absmax_v[b];
  float x = valid ? theta[i] : 0.0f;
  float m = 0.0f, v = 0.0f;
  bool finite = adam8bit_moments(valid ? grad[i] : 0.0f, x, valid ? c_m[i] : 128, valid ? c_v[i] : 0, old_absmax_m,
                                 old_absmax_v, maps, s, m, v);                           // (1) the moments
  const float new_absmax_m = block_max(fabsf(m), partial);                               // (2) the new absmax
  const float new_absmax_v = block_max(fabsf(v), partial);
  if (threadIdx.x == 0) {  // every thread has read the old absmax before block_max's first __syncthreads
    absmax_m[b] = new_absmax_m;
    absmax_v[b] = new_absmax_v;
  }
  if (!valid) return;
  if (finite) adam8bit_param(x, m, v, s);                                                 // (3) the parameter
  theta[i] = x;
  adam8bit_codes(m, v, new_absmax_m, new_absmax_v, maps, SearchRounder{&maps.m}, SearchRounder{&maps.v}, c_m[i],
                 c_v[i]);                                                                  // (4) the codes
}

// The 32-bit path of small tensors. b: θ, g, m, v.
using Adam32bitRule = TwoStateRule<Adam8bitScalars, adam32bit_update_element>;

void adam8bit_update(float* theta, const float* grad, float* codes_m, float* codes_v, float* absmax_m, float* absmax_v,
                     int64_t n, const Adam8bitMaps& maps, const Adam8bitScalars& s) {
  if (n > 0)
    launch("adam8bit_kernel", adam8bit_kernel, blocks_for(n, kBlock), kBlock, 0, theta, grad, codes_m, codes_v, absmax_m,
           absmax_v, n, maps, s);
}

void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n, const Adam8bitScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<Adam32bitRule>("adam32bit_kernel", b, n, s);  // one launch, or a place in the step's list
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
