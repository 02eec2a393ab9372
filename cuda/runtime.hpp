// cuda/runtime.hpp — the CUDA runtime for kernel files, whichever executor compiles them.
//
// Every file in cuda/ that has kernels includes this header (and launch.hpp) and
// puts its code in `namespace moments::cuda::MOMENTS_EXECUTOR { ... }`:
//   - compiled by nvcc (__CUDACC__): the real <cuda_runtime.h>, namespace `gpu`;
//   - compiled by g++ for the emulator: cuda/emulator/emulator.hpp, namespace `emu`.
// So the two copies of the same .cu file link into one program without clashing:
// moments::cuda::gpu::adam_update runs on the GPU, moments::cuda::emu::adam_update
// on the CPU emulator. The Meson list `kernel_sources` in cuda/meson.build names the
// files compiled both ways.
#pragma once

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define MOMENTS_EXECUTOR gpu
#define MOMENTS_EXECUTOR_NAME "gpu"
// Dynamic shared memory (the launch's shared_bytes), seen as an array of `type`.
#define MOMENTS_DYNAMIC_SHARED(type, name)                         \
  extern __shared__ alignas(16) unsigned char moments_dynamic_shared_[]; \
  type* name = reinterpret_cast<type*>(moments_dynamic_shared_)
// A static __shared__ array: MOMENTS_SHARED(float[256], partial); declares `float partial[256]` in shared memory.
#define MOMENTS_SHARED(type, name) \
  using name##_shared_type = type; \
  __shared__ name##_shared_type name
#else
#include "emulator/emulator.hpp"
#define MOMENTS_EXECUTOR emu
#define MOMENTS_EXECUTOR_NAME "emulator"
#define MOMENTS_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::moments::cuda::emu::dynamic_shared_memory())
// The block's copy, poisoned at its start (emulator.hpp); `name` is a reference to the array.
#define MOMENTS_SHARED(type, name)   \
  using name##_shared_type = type;   \
  static char name##_shared_key = 0; \
  auto& name = *static_cast<name##_shared_type*>(                                     \
      ::moments::cuda::emu::static_shared_memory(&name##_shared_key, sizeof(name##_shared_type)))
#endif

#include <cstdint>

#include "error.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

// "gpu" or "emulator": which executor this copy of the code runs on.
inline const char* executor_name() { return MOMENTS_EXECUTOR_NAME; }

// Turns a failed CUDA call into moments::Error naming the call and the runtime's
// words for the error (plus the emulator's reason, when it gave one).
inline void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  // Reset the runtime's last-error slot, so that the next check does not report this call again. A
  // sticky error (a fault inside a kernel: an illegal address, a trap) is NOT cleared by this: the
  // context stays broken and every later call fails with it until the process exits.
  cudaGetLastError();
#if defined(__CUDACC__)
  fail(call, ": ", cudaGetErrorString(status), " (CUDA error ", static_cast<int>(status), ")");
#else
  fail(call, ": ", cudaGetErrorString(status), " (CUDA error ", static_cast<int>(status), "; emulator: ",
       last_error_detail(), ")");
#endif
}

// Blocks of `threads_per_block` threads covering n elements, one element per thread. A grid's x holds
// at most 2^31 - 1 blocks: a larger count is an error here, never a count cut to 32 bits (the kernels
// that can meet one walk a capped grid instead: row_blocks, element_blocks below).
constexpr int64_t kMaxGridX = 2147483647;  // 2^31 - 1: the most blocks a grid's x holds
inline unsigned int blocks_for(int64_t n, unsigned int threads_per_block) {
  const int64_t blocks = (n + threads_per_block - 1) / threads_per_block;
  if (blocks > kMaxGridX)
    fail("CUDA launch: ", n, " elements need ", blocks, " blocks of ", threads_per_block,
         " threads; a grid holds at most 2^31 - 1");
  return static_cast<unsigned int>(blocks);
}

// Row kernels give each row a block, on a grid of at most kMaxGridBlocks blocks: block b takes rows
// b, b + gridDim.x, b + 2 gridDim.x, ... (`for (int64_t r : rows_of_block(rows))`), so any row count
// runs (a grid of one block per row would stop at 2^31 - 1 rows, and a count cast to unsigned would
// skip rows past 2^32). Every thread of a block walks the same rows, so a __syncthreads() inside the
// loop stays in uniform control flow. A GPU runs a few blocks per multiprocessor at once; 65,535
// keep any of today's GPUs full. The row a block handles changes no bits: each row is reduced by
// one block, in the same order, whichever block it is.
constexpr int64_t kMaxGridBlocks = 65535;  // the cap of every capped grid: row and element-wise kernels
inline unsigned int capped_blocks(int64_t blocks) {
  return static_cast<unsigned int>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks);
}
inline unsigned int row_blocks(int64_t rows) { return capped_blocks(rows); }

// first, first + step, ... below limit: the loops of grid-stride kernels.
struct StrideRange {
  int64_t first, limit, step;
  struct Iterator {
    int64_t value, step;
    __device__ int64_t operator*() const { return value; }
    __device__ Iterator& operator++() {
      value += step;
      return *this;
    }
    // Only ever compared with end(): "not yet past the end".
    __device__ bool operator!=(const Iterator& end) const { return value < end.value; }
  };
  __device__ Iterator begin() const { return {first, step}; }
  __device__ Iterator end() const { return {limit, step}; }
};

// Element-wise kernels walk their n elements in a grid-stride loop (`for (int64_t i : grid_stride(n))`)
// over at most kMaxGridBlocks blocks: 16.7 million threads at 256 per block, more than a GPU holds
// at once, so a larger grid would only add block launches.
inline unsigned int element_blocks(int64_t n, unsigned int threads_per_block) {
  return capped_blocks((n + threads_per_block - 1) / threads_per_block);
}

// The rows of a row kernel's block (see row_blocks).
__device__ inline StrideRange rows_of_block(int64_t rows) {
  return {static_cast<int64_t>(blockIdx.x), rows, static_cast<int64_t>(gridDim.x)};
}

// This thread's elements of an element-wise kernel (see element_blocks).
__device__ inline StrideRange grid_stride(int64_t n) {
  return {static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x, n,
          static_cast<int64_t>(gridDim.x) * blockDim.x};
}

// Whether every pointer may be read as float4 (16-byte aligned; cudaMalloc's are, a view's may not be).
template <class... Pointers>
inline bool aligned_for_float4(const Pointers*... p) {
  return ((reinterpret_cast<uintptr_t>(p) % 16 == 0) && ...);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
