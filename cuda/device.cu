// cuda/device.cu — device discovery for the CUDA backend.
#include "device.hpp"

#include <cuda_runtime.h>

namespace moments::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return count;
}

std::string no_device_reason() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
  }
  return count == 0 ? "cudaGetDeviceCount: no CUDA device" : "";
}

}  // namespace moments::cuda
