// cuda/emulator/emulator.hpp — the part of CUDA that moments' kernels use, in plain C++,
// so the same cuda/*.cu files run on a machine without a GPU (compiled by g++).
//
// Included only through cuda/runtime.hpp, and only when nvcc is NOT compiling.
// Everything lives in namespace moments::cuda::emu, the namespace that kernel
// files open under this executor (see runtime.hpp), so the emulated cudaMalloc
// never collides with the real one when both executors link into one program.
//
// WHAT IS EMULATED, AND HOW
//   Launch      blocks run one after another; the threads of a block run as
//               cooperative fibers on one CPU thread (emulator.cpp). A block's
//               threads start in order 0, 1, 2, ...; each runs until it finishes
//               or reaches __syncthreads(), where it waits until every thread of
//               the block that has not exited is there. A kernel that never syncs
//               runs its whole block in one fiber, one thread after another, so it
//               pays a function call per thread, not a context switch.
//   Indices     threadIdx, blockIdx, blockDim, gridDim: per CPU thread, set before
//               each emulated thread runs.
//   __shared__  declared with MOMENTS_SHARED(type, name) (runtime.hpp; a plain
//               __shared__ does not compile here): one copy per block, placed by
//               static_shared_memory() when the block's first thread reaches the
//               declaration and found by the declaration's key by the others. Dynamic
//               shared memory is declared with MOMENTS_DYNAMIC_SHARED(type, name). The
//               emulator fills both with 0xFF bytes (NaN as floats, -1 as integers) at
//               every block start, so reading shared memory before writing it shows up;
//               more than 48 KiB of the two together stops the program.
//   Atomics     atomicAdd/atomicMax/atomicMin on one CPU thread: a plain
//               read-modify-write is already atomic between fibers.
//   Warps       NOT emulated: no __shfl_*, no warp-synchronous code. Write
//               reductions with shared memory and __syncthreads().
//   Memory      cudaMalloc maps each buffer on its own pages, placed so that it
//               ENDS at a page boundary followed by an inaccessible guard page.
//               Allocations are tracked: cudaFree of a pointer that is not a live
//               allocation (a double free) and cudaMemcpy/cudaMemset ranges outside one
//               return cudaErrorInvalidValue, as a GPU does, and the emulator keeps a
//               sentence saying why (last_error_detail()). Outside a launch or a copy,
//               device buffers are inaccessible (PROT_NONE): a kernel that reads past the
//               end of its buffer, or host code that dereferences a device pointer
//               (which would crash on a GPU too), stops the program with a message naming
//               the buffer and the kernel. NOT caught: reads a few bytes BEFORE a buffer's
//               start (only a whole page before is), reads of uninitialised device memory
//               (cudaMalloc'd memory starts as zeros here), data races between blocks.
//   Launch      invalid configurations fail as on a GPU: 0 threads or more than 1024
//   limits      per block, block x/y over 1024 or z over 64, grid y/z over 65535, an
//               empty grid (cudaErrorInvalidConfiguration); more than 48 KiB of dynamic
//               shared memory (cudaErrorInvalidValue).
//
// The error codes and strings are those of the CUDA runtime, so a message reads the
// same on both executors; the emulator adds its reason ("block (2048, 1, 1) has 2048
// threads; the limit is 1024") through last_error_detail().
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

// The CUDA function qualifiers mean nothing on the CPU. (These names are reserved for
// the implementation; defining them is what every CUDA-on-CPU shim does, and only
// files compiled for the emulator see these macros.)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict

namespace moments::cuda::emu {

// ---- vector types and thread indices --------------------------------------
struct uint3 {
  unsigned int x = 0, y = 0, z = 0;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Set by the emulator before each emulated thread runs (per CPU thread, so two
// CPU threads can each run their own launch).
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

// ---- block-level synchronisation ---------------------------------------------
// Waits until every thread of the block that has not exited has reached it.
void __syncthreads();

// The block's dynamic shared memory (the launch's shared_bytes).
void* dynamic_shared_memory();
// The running block's copy of the static __shared__ array of `bytes` declared at `key` (MOMENTS_SHARED).
void* static_shared_memory(const void* key, size_t bytes);

// ---- atomics (fibers never preempt each other, so these are plain updates) ----
template <class T>
inline T atomicAdd(T* address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <class T>
inline T atomicMax(T* address, T value) {
  T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <class T>
inline T atomicMin(T* address, T value) {
  T old = *address;
  *address = value < old ? value : old;
  return old;
}

// ---- float intrinsics (the CPU versions round as the C library does) --------
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }

// ---- the runtime API --------------------------------------------------------
// The codes and their numbers are those of the CUDA runtime.
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

cudaError_t cudaMalloc(void** pointer, size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* pointer, int value, size_t bytes);
cudaError_t cudaGetLastError();   // returns and clears the last error
cudaError_t cudaPeekAtLastError();
cudaError_t cudaDeviceSynchronize();  // launches are synchronous here: returns the last error
cudaError_t cudaGetDeviceCount(int* count);  // always 1: the emulated device
const char* cudaGetErrorString(cudaError_t error);

template <class T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}

// ---- emulator-only ------------------------------------------------------------
// Why the last failing call failed, in the emulator's words ("" if it gave none).
const char* last_error_detail();

// A type-erased reference to "run one emulated thread" (the launch's kernel call).
struct ThreadBody {
  void (*call)(const void* context);
  const void* context;
};

// Runs grid × block emulated threads of `body`. `kernel_name` and the device
// pointers passed to the kernel (`buffers`) are for error messages and for opening
// those buffers to the kernel. Sets the last error on an invalid configuration.
void launch_blocks(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes, ThreadBody body,
                   const void* const* buffers, size_t buffer_count);

// Live device allocations and their bytes (for tests and the memory monitor).
size_t live_allocations();
size_t live_bytes();

}  // namespace moments::cuda::emu
