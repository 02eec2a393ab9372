// cuda/device_buffer.hpp — DeviceBuffer<T>: an owned, checked device allocation
// (RAII), for the scratch space of kernels (partial sums, per-matrix means).
// Tensors own their device memory through Storage (lib/tensor.cpp) instead.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t count) : count_(count > 0 ? count : 1) {
    check(cudaMalloc(reinterpret_cast<void**>(&data_), bytes()), "cudaMalloc");
  }
  ~DeviceBuffer() { cudaFree(data_); }  // a destructor cannot throw; a failure resurfaces at the next checked call
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return data_; }
  int64_t size() const { return count_; }
  size_t bytes() const { return static_cast<size_t>(count_) * sizeof(T); }

  std::vector<T> to_host() const {
    std::vector<T> host(static_cast<size_t>(count_));
    check(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
    return host;
  }

 private:
  T* data_ = nullptr;
  int64_t count_;
};

}  // namespace moments::cuda::MOMENTS_EXECUTOR
