// cuda/device.cu — device discovery for the CUDA backend.
#include "device.hpp"

#include <cuda_runtime.h>

namespace moments::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // reset the last-error slot (no device is not a sticky error)
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
