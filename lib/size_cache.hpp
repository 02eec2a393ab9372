// size_cache.hpp — SizeCache: freed buffers kept by their size, for the next request of
// that size. A training step allocates the same sizes every step (activations, gradients,
// scratch) and frees them by the next one, so a free list keyed by size serves it with no
// call to the system allocator once the first steps have run.
//
// Two users, each with its own sizes and allocator:
//   lib/tensor.cpp        host buffers of 64 KiB and more, exact sizes, at most 512 MiB kept
//   cuda/device_memory.hpp device buffers (cudaMalloc), sizes rounded up to buckets on a GPU,
//                          no cap (emptied when cudaMalloc runs out of memory)
//
//   SizeCache cache(/* max_bytes */ size_t{512} << 20);
//   void* p = cache.take(bytes);            // a kept buffer of exactly `bytes`, or null
//   if (!p) p = allocate(bytes);
//   ...
//   if (!cache.keep(p, bytes)) release(p);  // kept unless that would pass max_bytes
//   cache.drain([](void* q, size_t) { release(q); });  // hands every kept buffer back
//
// Thread-safe (one mutex). The cache owns nothing: whoever drains it frees the buffers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace moments {

class SizeCache {
 public:
  explicit SizeCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    kept_ -= bytes;
    return p;
  }

  bool keep(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > max_bytes_ - kept_) return false;  // kept_ ≤ max_bytes_ always
    free_.emplace(bytes, p);
    kept_ += bytes;
    return true;
  }

  // Calls release(pointer, bytes) for every kept buffer and forgets them.
  template <class Release>
  void drain(Release&& release) {
    std::unordered_multimap<size_t, void*> taken;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      taken.swap(free_);
      kept_ = 0;
    }
    for (const auto& [bytes, p] : taken) release(p, bytes);
  }

  size_t kept_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return kept_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_multimap<size_t, void*> free_;  // bytes -> a free buffer of that size
  size_t kept_ = 0;
  size_t max_bytes_;
};

// The GPU's buckets (cuda/device_memory.hpp): a request of `bytes` rounded up to a multiple of
// 512 bytes up to 1 MiB, above that to a multiple of a sixteenth of the power of two at or above
// it (that power is below twice the request, so at most 12.5 % is unused).
inline size_t device_bucket_bytes(size_t bytes) {
  constexpr size_t kSmallStep = 512, kLarge = size_t{1} << 20;
  if (bytes <= kLarge) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  if (bytes > (SIZE_MAX >> 2)) return bytes;  // no bucket: cudaMalloc will refuse it anyway
  size_t power = kLarge;
  while (power < bytes) power <<= 1;
  const size_t step = power / 16;
  return (bytes + step - 1) / step * step;
}

}  // namespace moments
