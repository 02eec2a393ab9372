// cuda/device_buffer.hpp — DeviceBuffer<T>: an owned, checked device allocation
// (RAII) from the caching allocator (device_memory.hpp), for the scratch space of
// kernels (partial sums, per-matrix means).
// Tensors own their device memory through Storage (lib/tensor.cpp) instead.
#pragma once
#include <cstdint>
#include <vector>

#include "device_memory.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t count) : count_(count > 0 ? count : 1) {
    data_ = static_cast<T*>(device_allocate(bytes()));
  }
  ~DeviceBuffer() {
    try {
      device_release(data_, bytes());
    } catch (const Error&) {  // a destructor cannot throw; a failure resurfaces at the next checked call
    }
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return data_; }
  int64_t size() const { return count_; }
  size_t bytes() const { return static_cast<size_t>(count_) * sizeof(T); }

  std::vector<T> to_host() const {
    std::vector<T> host(static_cast<size_t>(count_));
    copy_device_to_host(host.data(), data_, bytes());
    return host;
  }

 private:
  T* data_ = nullptr;
  int64_t count_;
};

}  // namespace moments::cuda::MOMENTS_EXECUTOR
