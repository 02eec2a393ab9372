// cuda/block_reduce.hpp — sums and maxima over the threads of one block, through
// __shared__ memory and __syncthreads() (no warp shuffles, so the CPU emulator runs
// them as a GPU would). Included by the kernel files that reduce rows: reduce.cu,
// softmax.cu, nn_ops.cu.
//
// The tree: with T threads (a power of two), thread t adds partial[t + T/2] into
// partial[t], then T/4, ... down to partial[0]. So a block adds its values in a
// different order from a CPU loop, and results differ in the last bits; tests state
// their tolerances for it.
#pragma once
#include "runtime.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr unsigned int kMaxRowThreads = 256;  // threads per block for a row reduction

// Threads for a block that reduces a row of n: a power of two, at most 256, no more
// than the row needs (a 10-class softmax row gets 16 threads, not 256).
inline unsigned int row_threads(int64_t n) {
  unsigned int threads = 1;
  while (threads < kMaxRowThreads && threads < n) threads *= 2;
  return threads;
}

// How two partial results combine.
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Larger {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// Every thread of the block calls it with its value and gets the block's result.
// partial: blockDim.x floats of __shared__ memory; blockDim.x a power of two.
template <class Combine>
__device__ inline float block_reduce(float value, float* partial, Combine combine) {
  unsigned int t = threadIdx.x;
  partial[t] = value;
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) partial[t] = combine(partial[t], partial[t + half]);
    __syncthreads();
  }
  float result = partial[0];
  __syncthreads();  // everyone has read partial[0] before the next call overwrites it
  return result;
}

__device__ inline float block_sum(float value, float* partial) { return block_reduce(value, partial, Add{}); }
__device__ inline float block_max(float value, float* partial) { return block_reduce(value, partial, Larger{}); }

}  // namespace moments::cuda::MOMENTS_EXECUTOR
