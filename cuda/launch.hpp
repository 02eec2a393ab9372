// cuda/launch.hpp — launch(name, kernel, grid, block, shared_bytes, args...): the one
// place that knows which executor runs a kernel.
//
//   launch("adam_kernel", tensor_kernel<AdamRule>, blocks, kThreads, 0, theta, grad, m, v, v_max, n, s);
//
// is `tensor_kernel<AdamRule><<<blocks, kThreads, 0>>>(theta, ...)` under nvcc and the
// emulator's block loop under g++; either way it is followed by a check that turns a
// launch error into moments::Error naming the kernel. Under nvcc the launch is
// asynchronous (an error inside the kernel shows up at the next synchronizing call,
// e.g. a cudaMemcpy, unless MOMENTS_CUDA_SYNC=1 synchronizes after each launch); the
// emulator runs the whole grid before returning. Every launch is counted (Backend::counters).
//
// The name is the kernel's, for messages. Pass device pointers as direct arguments:
// the emulator opens exactly those buffers for the kernel (others open on first touch).
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "device_memory.hpp"  // live_counters, sync_after_each_launch
#include "runtime.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

// Threads per block of every element-wise and row kernel (a power of two: the block reductions of
// block_reduce.hpp halve it). One definition for all the kernel files, which the GPU build compiles as
// a few unity translation units.
constexpr unsigned int kThreads = 256;

#if defined(__CUDACC__)

template <class... Params, class... Args>
void launch_unqueued(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                     Args&&... args) {
  ++live_counters().launches;
  kernel<<<grid, block, shared_bytes>>>(std::forward<Args>(args)...);
  check(cudaGetLastError(), name);
  if (sync_after_each_launch()) {  // MOMENTS_CUDA_SYNC=1: a fault inside the kernel is reported here, under its name
    ++live_counters().synchronizations;
    check(cudaDeviceSynchronize(), name);
  }
}

#else

namespace detail {
template <class T>
const void* as_buffer(const T& value) {
  if constexpr (std::is_pointer_v<T>) return static_cast<const void*>(value);
  else return nullptr;
}
}  // namespace detail

template <class... Params, class... Args>
void launch_unqueued(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                     Args&&... args) {
  // The kernel's parameters, converted once as a real launch would copy them.
  struct Call {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  } call{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  ThreadBody body{[](const void* context) {
                    const Call& c = *static_cast<const Call*>(context);
                    std::apply(c.kernel, c.params);
                  },
                  &call};
  const void* buffers[sizeof...(Params) + 1] = {};
  size_t count = 0;
  std::apply([&](const auto&... param) { ((buffers[count++] = detail::as_buffer(param)), ...); }, call.params);
  ++live_counters().launches;  // the emulator runs the grid before returning: MOMENTS_CUDA_SYNC changes nothing
  launch_blocks(name, grid, block, shared_bytes, body, buffers, count);
  check(cudaGetLastError(), name);
}

#endif

// Every launch but the queued lists' own (tensor_list.hpp): what an open launch batch has queued
// runs first, so this kernel sees the device as if nothing had been queued.
template <class... Params, class... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Args&&... args) {
  flush_pending_launches();
  launch_unqueued(name, kernel, grid, block, shared_bytes, std::forward<Args>(args)...);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
