// cuda/device_memory.hpp — device memory through a caching allocator, and the counts of what
// this executor has done (allocations, launches, copies, synchronizations).
//
//   void* p = device_allocate(bytes);   // a cached buffer of that bucket, else cudaMalloc
//   device_release(p, bytes);           // back to the cache (no cudaFree, no synchronization)
//   copy_device_to_host(host, p, bytes);
//
// WHY A CACHE: cudaMalloc is slow and cudaFree synchronizes the device, so a tensor that
// allocates and frees its own memory puts host and GPU in lockstep every op. A training step
// asks for the same sizes every step; after the first steps every request is served from the
// free lists of SizeCache (lib/size_cache.hpp), as PyTorch's caching allocator does.
//
// STREAM ORDER: every kernel and copy runs on the one default stream, in issue order. A buffer
// released while a kernel that uses it is still queued can be handed out at once: whatever the
// next owner launches is queued behind that kernel. (A second stream would break this.)
//
// SIZES: on a GPU a request is rounded up to its bucket (device_bucket_bytes: multiples of
// 512 bytes up to 1 MiB, of a sixteenth of the next power of two above), so that nearby sizes
// share buffers. The emulator keeps exact sizes: its guard page must follow each buffer's last
// byte to catch a read past the end.
//
// SWITCHES: MOMENTS_CUDA_CACHE=0 frees at once (every tensor its own cudaMalloc/cudaFree, for
// compute-sanitizer's use-after-free checks). When cudaMalloc runs out of memory the cache is
// emptied and the call retried once. Backend::empty_cache() hands everything kept back.
// MOMENTS_CUDA_SYNC=1 synchronizes after every launch (launch.hpp), so that a fault inside a
// kernel is reported under that kernel's name instead of at the next synchronizing call.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backend.hpp"
#include "runtime.hpp"
#include "size_cache.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

struct LiveCounters {
  std::atomic<int64_t> allocations{0}, frees{0}, launches{0}, copies_to_device{0}, copies_to_host{0},
      synchronizations{0};
};
inline LiveCounters& live_counters() {
  static LiveCounters counters;
  return counters;
}
inline Counters counters_now() {
  const LiveCounters& c = live_counters();
  return Counters{c.allocations.load(), c.frees.load(), c.launches.load(), c.copies_to_device.load(),
                  c.copies_to_host.load(), c.synchronizations.load()};
}

// Launches what an open launch batch has queued (tensor_list.hpp; defined in backend.cu). Every copy,
// every cudaFree and every other launch calls it first.
void flush_pending_launches();

namespace detail {
inline bool environment_is(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set && std::strcmp(set, value) == 0;
}
inline bool caching() {
  static const bool on = !environment_is("MOMENTS_CUDA_CACHE", "0");
  return on;
}
inline SizeCache& cache() {
  static SizeCache* kept = new SizeCache(SIZE_MAX);  // never destroyed: tensors in static storage die last
  return *kept;
}
inline size_t cached_size(size_t bytes) {
#if defined(__CUDACC__)
  return device_bucket_bytes(bytes);
#else
  return bytes;  // the emulator's guard page sits right after the last byte asked for
#endif
}
inline void free_now(void* p) {
  flush_pending_launches();
  ++live_counters().frees;
  ++live_counters().synchronizations;  // cudaFree waits for the device
  check(cudaFree(p), "cudaFree");
}
}  // namespace detail

inline bool sync_after_each_launch() {
  static const bool on = detail::environment_is("MOMENTS_CUDA_SYNC", "1");
  return on;
}

inline void empty_device_cache() {
  detail::cache().drain([](void* p, size_t) { detail::free_now(p); });
}
inline int64_t cached_device_bytes() { return static_cast<int64_t>(detail::cache().kept_bytes()); }

inline void* device_allocate(size_t bytes) {
  const size_t size = detail::cached_size(bytes);
  if (detail::caching())
    if (void* p = detail::cache().take(size)) return p;
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, size);
  if (status == cudaErrorMemoryAllocation && cached_device_bytes() > 0) {  // give the kept memory back, try again
    cudaGetLastError();
    empty_device_cache();
    status = cudaMalloc(&p, size);
  }
  check(status, "cudaMalloc");
  ++live_counters().allocations;
  return p;
}

inline void device_release(void* p, size_t bytes) {
  if (detail::caching() && detail::cache().keep(p, detail::cached_size(bytes))) return;
  detail::free_now(p);
}

inline void copy_host_to_device(void* device, const void* host, size_t bytes) {
  flush_pending_launches();
  ++live_counters().copies_to_device;  // from pageable memory: ordered after the queued kernels
  check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
}
inline void copy_device_to_host(void* host, const void* device, size_t bytes) {
  flush_pending_launches();
  ++live_counters().copies_to_host;
  ++live_counters().synchronizations;  // the host waits for the device's queue to drain
  check(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
