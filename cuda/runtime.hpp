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
#else
#include "emulator/emulator.hpp"
#define MOMENTS_EXECUTOR emu
#define MOMENTS_EXECUTOR_NAME "emulator"
#define MOMENTS_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::moments::cuda::emu::dynamic_shared_memory())
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

// Blocks of `threads_per_block` threads covering n elements, one element per thread.
inline unsigned int blocks_for(int64_t n, unsigned int threads_per_block) {
  return static_cast<unsigned int>((n + threads_per_block - 1) / threads_per_block);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
